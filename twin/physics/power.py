"""Electrical power: solar array output, loads, battery with efficiencies, limits and fade.

All functions take and return ``(n_sat,)`` arrays (or broadcastable shapes) and loop over
nothing. Powers in W, energies in Wh, durations in s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.fleet.hardware import Hardware

S_PER_H = 3600.0


def array_power_w(
    hw: Hardware,
    flux_w_m2: np.ndarray,
    illumination: np.ndarray,
    cos_incidence: np.ndarray,
    age_years: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Solar array output: flux × area × cell efficiency × packing × cos θ × lit × ageing.

    ``cos_incidence`` is clipped at 0 (the Sun behind the array gives nothing); ageing is
    ``(1 − degradation_per_year)^(age)`` from the preset's age at start plus ``age_years``.
    """
    ageing = (1.0 - hw.array_degradation_per_year) ** (hw.array_age_years + age_years)
    return (
        flux_w_m2
        * hw.array_area_m2
        * hw.array_cell_efficiency
        * hw.array_packing_factor
        * np.maximum(cos_incidence, 0.0)
        * illumination
        * ageing
    )


def array_cos_incidence(hw: Hardware, r_km: np.ndarray, sun_km: np.ndarray) -> np.ndarray:
    """Cosine of the Sun's angle to the array normal: 1 when tracking, r̂·ŝ when zenith-fixed.

    ``r_km``, ``sun_km``: (3, n_sat) in one inertial frame.
    """
    r_unit = r_km / np.linalg.norm(r_km, axis=0)
    to_sun = sun_km - r_km
    s_unit = to_sun / np.linalg.norm(to_sun, axis=0)
    return np.where(hw.array_tracking, 1.0, np.sum(r_unit * s_unit, axis=0))


def load_w(
    hw: Hardware, compute_w: np.ndarray, safe_mode: np.ndarray, heater_on: np.ndarray
) -> dict[str, np.ndarray]:
    """Power demanded by each load, (n_sat,) W each; ``compute_w`` is the accelerators'
    dynamic power above idle (``twin.payload.compute``).

    Safe mode powers the accelerators and laser terminals off; bus and heaters stay on.
    """
    payload_on = ~safe_mode
    return {
        "bus_w": hw.bus_load_w,
        "heater_w": np.where(heater_on, hw.heater_w, 0.0),
        "laser_w": np.where(payload_on, hw.laser_terminals * hw.laser_terminal_w, 0.0),
        "accelerator_w": np.where(payload_on, hw.accelerator_idle_w + compute_w, 0.0),
    }


@dataclass(frozen=True)
class BatteryStep:
    """Result of one battery step; every field (n_sat,).

    Energy identity per step: ``array_w + discharge_w = load_served_w + charge_w + shunt_w``,
    where ``charge_w`` enters the battery terminals and ``discharge_w`` leaves them.
    """

    battery_wh: np.ndarray
    capacity_wh: np.ndarray
    charge_w: np.ndarray
    discharge_w: np.ndarray
    shunt_w: np.ndarray
    unserved_w: np.ndarray
    stored_wh: np.ndarray  # energy added to the cells this step (after charge efficiency)
    drawn_wh: np.ndarray  # energy taken from the cells this step (before discharge efficiency)
    fade_loss_wh: np.ndarray  # energy lost because capacity faded below the stored energy


def step_battery(
    hw: Hardware,
    battery_wh: np.ndarray,
    capacity_wh: np.ndarray,
    array_w: np.ndarray,
    demand_w: np.ndarray,
    dt_s: float,
) -> BatteryStep:
    """Advance the battery over ``dt_s`` with constant array power and load demand.

    Surplus charges the battery up to its power limit and its upper state of charge, the
    rest is shunted; a deficit discharges it down to its power limit and lower state of
    charge, the rest of the demand is unserved. Capacity fades in proportion to the energy
    drawn (equivalent full cycles × ``battery_fade_per_cycle`` × BOL capacity).
    """
    dt_h = dt_s / S_PER_H
    eta_c = hw.battery_charge_efficiency
    eta_d = hw.battery_discharge_efficiency
    net_w = array_w - demand_w
    room_wh = np.maximum(hw.battery_soc_max * capacity_wh - battery_wh, 0.0)
    avail_wh = np.maximum(battery_wh - hw.battery_soc_min * capacity_wh, 0.0)
    charge_w = np.minimum.reduce(
        [np.maximum(net_w, 0.0), hw.battery_max_charge_w, room_wh / (eta_c * dt_h)]
    )
    discharge_w = np.minimum.reduce(
        [np.maximum(-net_w, 0.0), hw.battery_max_discharge_w, avail_wh * eta_d / dt_h]
    )
    stored_wh = charge_w * eta_c * dt_h
    drawn_wh = discharge_w / eta_d * dt_h
    faded_wh = np.maximum(
        capacity_wh - hw.battery_fade_per_cycle * drawn_wh, hw.battery_soc_min * capacity_wh
    )
    new_wh = battery_wh + stored_wh - drawn_wh
    ceiling_wh = hw.battery_soc_max * faded_wh
    fade_loss_wh = np.maximum(new_wh - ceiling_wh, 0.0)
    return BatteryStep(
        battery_wh=new_wh - fade_loss_wh,
        capacity_wh=faded_wh,
        charge_w=charge_w,
        discharge_w=discharge_w,
        shunt_w=np.maximum(net_w, 0.0) - charge_w,
        unserved_w=np.maximum(-net_w, 0.0) - discharge_w,
        stored_wh=stored_wh,
        drawn_wh=drawn_wh,
        fade_loss_wh=fade_loss_wh,
    )


def next_safe_mode(hw: Hardware, safe_mode: np.ndarray, soc: np.ndarray) -> np.ndarray:
    """Safe mode with hysteresis: enter below ``safe_mode_enter_soc``, leave above exit."""
    return np.where(safe_mode, soc < hw.safe_mode_exit_soc, soc < hw.safe_mode_enter_soc)


# A Li-ion pack of 8 cells in series [E]: open circuit 3.0 V (empty) to 4.2 V (full) a cell,
# linear in state of charge; resistance 50 mΩ for a 2 kWh pack, inversely with capacity
# (a bigger pack has more cells in parallel).
CELLS_IN_SERIES = 8
CELL_EMPTY_V, CELL_FULL_V = 3.0, 4.2
PACK_RESISTANCE_OHM_KWH = 0.1  # 50 mΩ × 2 kWh


def pack_voltage_current(
    soc: np.ndarray, battery_w: np.ndarray, capacity_wh: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Terminal voltage (V) and current (A, positive charging) of the pack, (n,) each:
    V = V_oc(soc) + I·R with I = P / V, so V = (V_oc + √(V_oc² + 4·P·R)) / 2."""
    v_oc = CELLS_IN_SERIES * (CELL_EMPTY_V + (CELL_FULL_V - CELL_EMPTY_V) * soc)
    r_ohm = PACK_RESISTANCE_OHM_KWH / (capacity_wh / 1000.0)
    volts = 0.5 * (v_oc + np.sqrt(np.maximum(v_oc**2 + 4.0 * battery_w * r_ohm, 0.0)))
    return volts, battery_w / volts


def state_of_charge(volts: np.ndarray, amps: np.ndarray, capacity_wh: np.ndarray) -> np.ndarray:
    """The state of charge a pack's terminal voltage (V) and current (A, positive charging)
    imply: its open-circuit voltage V − I·R inverted, (k,)."""
    r_ohm = PACK_RESISTANCE_OHM_KWH / (capacity_wh / 1000.0)
    v_cell = (volts - amps * r_ohm) / CELLS_IN_SERIES
    return (v_cell - CELL_EMPTY_V) / (CELL_FULL_V - CELL_EMPTY_V)

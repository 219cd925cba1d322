"""Thermal: two lumped nodes per satellite (payload, radiator), implicit integration.

Payload node: internal dissipation in, conduction to the radiator out, and the heat a heat
pump lifts out. Radiator node: conduction in, the pump's lifted heat plus its own electrical
power in, absorbed solar, albedo and Earth infrared in, εσA(T⁴ − T_sink⁴) out (Gilmore,
"Spacecraft Thermal Control Handbook", vol. 1, ch. 2). Backward Euler with the
T⁴ term linearised about the current temperature (one Newton step per tick): stable for
any step, and exact at steady state, so a constant load settles on the radiative balance.
"""

from __future__ import annotations

import numpy as np

from twin.fleet.hardware import Hardware

STEFAN_BOLTZMANN_W_M2_K4 = 5.670374419e-8  # CODATA 2018
T_SINK_K = 3.0  # deep space
EARTH_IR_W_M2 = 237.0  # mean outgoing long-wave radiation at the top of the atmosphere
EARTH_ALBEDO = 0.30  # mean Bond albedo
R_EARTH_KM = 6378.137
KELVIN = 273.15


def radiator_absorbed_w(
    hw: Hardware,
    flux_w_m2: np.ndarray,
    illumination: np.ndarray,
    r_km: np.ndarray,
    sun_km: np.ndarray,
) -> np.ndarray:
    """Environmental heat absorbed by the radiator, (n_sat,) W.

    Direct sun on the fraction of the radiator that sees it; albedo scaled by the Sun's
    elevation at the sub-satellite point; Earth infrared; the Earth terms scale as (R/r)².
    ``r_km``, ``sun_km``: (3, n_sat) geocentric, one inertial frame.
    """
    solar, albedo, infrared = _absorbed_w_m2(hw, flux_w_m2, illumination, r_km, sun_km)
    return hw.radiator_area_m2 * (solar + albedo + infrared)


def radiator_absorbed_parts_w(
    hw: Hardware,
    flux_w_m2: np.ndarray,
    illumination: np.ndarray,
    r_km: np.ndarray,
    sun_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``radiator_absorbed_w`` in two parts, (n_sat,) W each: direct sun and albedo (scaled
    by the absorptivity), and Earth infrared (scaled by the emissivity)."""
    solar, albedo, infrared = _absorbed_w_m2(hw, flux_w_m2, illumination, r_km, sun_km)
    return hw.radiator_area_m2 * (solar + albedo), hw.radiator_area_m2 * infrared


def _absorbed_w_m2(hw, flux_w_m2, illumination, r_km, sun_km) -> tuple[np.ndarray, ...]:
    """Direct sun, albedo and Earth infrared absorbed per m² of radiator, (n_sat,) W/m²."""
    r = np.linalg.norm(r_km, axis=0)
    cos_sun_zenith = np.sum(r_km * sun_km, axis=0) / (r * np.linalg.norm(sun_km, axis=0))
    earth_scale = hw.radiator_earth_view_factor * (R_EARTH_KM / r) ** 2
    solar = hw.radiator_absorptivity * hw.radiator_sun_view_factor * flux_w_m2 * illumination
    albedo = (
        hw.radiator_absorptivity
        * EARTH_ALBEDO
        * flux_w_m2
        * np.maximum(cos_sun_zenith, 0.0)
        * earth_scale
    )
    infrared = hw.radiator_emissivity * EARTH_IR_W_M2 * earth_scale
    return solar, albedo, infrared


def heat_pump_w(
    hw: Hardware,
    temp_payload_k: np.ndarray,
    temp_radiator_k: np.ndarray,
    payload_heat_w: np.ndarray,
    dt_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The heat pump's demand for the next tick: (heat lifted out of the payload, electrical
    power), (n_sat,) W each.

    It lifts what holds the payload at ``heat_pump_setpoint_c`` over the tick (the payload's
    dissipation, what it conducts to the radiator subtracted, plus the heat stored above the
    set point), at most ``heat_pump_max_w``. Its coefficient of performance is a share of
    Carnot's, COP = η T_p / (T_r − T_p), at most ``heat_pump_max_cop`` (when the radiator is
    not warmer than the payload there is no lift to pay for).
    """
    setpoint_k = hw.heat_pump_setpoint_c + KELVIN
    conducted = hw.payload_radiator_conductance_w_k * (temp_payload_k - temp_radiator_k)
    stored = hw.payload_heat_capacity_j_k * (temp_payload_k - setpoint_k) / dt_s
    lifted = np.clip(payload_heat_w - conducted + stored, 0.0, hw.heat_pump_max_w)
    lift_k = temp_radiator_k - temp_payload_k
    carnot = np.where(lift_k > 0, temp_payload_k / np.where(lift_k > 0, lift_k, 1.0), np.inf)
    cop = np.minimum(hw.heat_pump_carnot_fraction * carnot, hw.heat_pump_max_cop)
    return lifted, lifted / cop


def step_thermal(
    hw: Hardware,
    temp_payload_k: np.ndarray,
    temp_radiator_k: np.ndarray,
    payload_heat_w: np.ndarray,
    radiator_absorbed: np.ndarray,
    dt_s: float,
    pumped_w: np.ndarray | float = 0.0,
    pump_electric_w: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance both nodes by ``dt_s``; returns (temp_payload_k, temp_radiator_k), (n_sat,).

    ``payload_heat_w``: dissipated in the payload; ``pumped_w``: lifted out of it by the heat
    pump, which delivers that plus its own ``pump_electric_w`` to the radiator."""
    c_p = hw.payload_heat_capacity_j_k / dt_s
    c_r = hw.radiator_heat_capacity_j_k / dt_s
    g = hw.payload_radiator_conductance_w_k
    e_sigma_a = hw.radiator_emissivity * STEFAN_BOLTZMANN_W_M2_K4 * hw.radiator_area_m2
    k = 4.0 * e_sigma_a * temp_radiator_k**3  # d(εσA T⁴)/dT at the current temperature
    emitted = e_sigma_a * (temp_radiator_k**4 - T_SINK_K**4)
    # [c_p + g, -g; -g, c_r + g + k] · [T_p1, T_r1] = [rhs_p, rhs_r]
    rhs_p = c_p * temp_payload_k + payload_heat_w - pumped_w
    rhs_r = (c_r + k) * temp_radiator_k + radiator_absorbed - emitted + pumped_w + pump_electric_w
    a11 = c_p + g
    a22 = c_r + g + k
    det = a11 * a22 - g * g
    return (a22 * rhs_p + g * rhs_r) / det, (a11 * rhs_r + g * rhs_p) / det


def steady_state_k(hw: Hardware, payload_heat_w, radiator_absorbed) -> tuple[np.ndarray, ...]:
    """Closed-form radiative balance: εσA(T_r⁴ − T_sink⁴) = Q_p + Q_r, T_p = T_r + Q_p/G."""
    e_sigma_a = hw.radiator_emissivity * STEFAN_BOLTZMANN_W_M2_K4 * hw.radiator_area_m2
    temp_radiator = ((payload_heat_w + radiator_absorbed) / e_sigma_a + T_SINK_K**4) ** 0.25
    return temp_radiator + payload_heat_w / hw.payload_radiator_conductance_w_k, temp_radiator

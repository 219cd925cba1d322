"""Fleet state: a structure of arrays, one row per satellite, and the tick step.

``environment`` computes, in one vectorised pass over satellites × times, what the world
does to the fleet (orbit, Sun, shadow, flux); ``step`` advances the state over one tick from
one time slice of it. Both are pure: the same inputs give the same outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.fleet.constellation import Fleet
from twin.fleet.hardware import Hardware
from twin.physics import power, sun, thermal
from twin.physics.orbit import OrbitState, propagate


@dataclass(frozen=True)
class FleetState:
    """Evolving state, each (n_sat,)."""

    battery_wh: np.ndarray
    battery_capacity_wh: np.ndarray
    temp_payload_k: np.ndarray
    temp_radiator_k: np.ndarray
    safe_mode: np.ndarray  # bool
    heater_on: np.ndarray  # bool
    sunlit: np.ndarray  # int8: 1 sunlit, 0 eclipsed, -1 not known yet (before the first tick)

    def take(self, rows: np.ndarray) -> FleetState:
        """The state of the satellites at fleet ``rows`` (k,), in that order."""
        return FleetState(**{f: getattr(self, f)[rows] for f in FleetState.__dataclass_fields__})


def initial_state(hw: Hardware) -> FleetState:
    """The state at the start of a run, from the presets' initial values."""
    temp_k = hw.temp_initial_c + thermal.KELVIN
    soc = hw.battery_soc_initial
    return FleetState(
        battery_wh=soc * hw.battery_capacity_wh,
        battery_capacity_wh=hw.battery_capacity_wh.copy(),
        temp_payload_k=temp_k.copy(),
        temp_radiator_k=temp_k.copy(),
        safe_mode=soc < hw.safe_mode_enter_soc,
        heater_on=np.zeros(soc.shape, dtype=bool),
        sunlit=np.full(soc.shape, -1, dtype=np.int8),
    )


@dataclass(frozen=True)
class Environment:
    """The world seen by each satellite at each time; (n_sat, n_time) unless noted."""

    orbit: OrbitState
    sun_teme_km: np.ndarray  # (3, 1, n_time)
    illumination: np.ndarray
    sunlit: np.ndarray  # bool: the Sun's centre is above the Earth's limb
    flux_w_m2: np.ndarray
    beta_deg: np.ndarray

    def at(self, k: int) -> Environment:
        """The slice for time index ``k``, keeping a time axis of length 1."""
        pick = slice(k, k + 1)
        o = self.orbit
        return Environment(
            orbit=OrbitState(*(getattr(o, f)[..., pick] for f in OrbitState.__dataclass_fields__)),
            sun_teme_km=self.sun_teme_km[..., pick],
            illumination=self.illumination[:, pick],
            sunlit=self.sunlit[:, pick],
            flux_w_m2=self.flux_w_m2[:, pick],
            beta_deg=self.beta_deg[:, pick],
        )


def environment(fleet: Fleet, t_ns: np.ndarray) -> Environment:
    """Orbit, Sun and shadow for every satellite at every time in ``t_ns`` (n_time,)."""
    orbit = propagate(fleet.satrecs, t_ns)
    sun_km = sun.sun_teme_km(t_ns)[:, None, :]  # (3, 1, n_time): broadcasts over satellites
    light = sun.sunlight(orbit.r_teme_km, sun_km)
    return Environment(
        orbit=orbit,
        sun_teme_km=sun_km,
        illumination=light.illumination,
        sunlit=light.sunlit,
        flux_w_m2=light.flux_w_m2,
        beta_deg=sun.beta_angle_deg(orbit.r_teme_km, orbit.v_teme_km_s, sun_km),
    )


@dataclass(frozen=True)
class TickOutputs:
    """What happened during one tick, each (n_sat,): powers in W, energies in Wh."""

    array_w: np.ndarray
    load_w: np.ndarray
    charge_w: np.ndarray
    discharge_w: np.ndarray
    shunt_w: np.ndarray
    unserved_w: np.ndarray
    stored_wh: np.ndarray
    drawn_wh: np.ndarray
    fade_loss_wh: np.ndarray
    served_share: np.ndarray  # share of the demanded load served (1 unless the battery is flat)


def step(
    state: FleetState,
    hw: Hardware,
    env: Environment,
    dt_s: float,
    compute_w: np.ndarray,
    age_years: float = 0.0,
) -> tuple[FleetState, TickOutputs]:
    """Advance the fleet by one tick of ``dt_s`` seconds in environment slice ``env``, the
    accelerators asking for ``compute_w`` (n_sat,) W above idle (``twin.payload.schedule.plan``).

    Order: loads from the current modes (the heat pump's from the current temperatures) →
    array power → battery → thermal → mode updates (safe mode from the new state of charge,
    heaters from the new payload temperature).
    Satellites whose orbit failed (NaN) keep their state unchanged.
    """
    ok = np.isfinite(env.illumination[:, 0])
    illumination = np.where(ok, env.illumination[:, 0], 0.0)
    flux = np.where(ok, env.flux_w_m2[:, 0], 0.0)
    r_km = env.orbit.r_teme_km[:, :, 0]
    sun_km = env.sun_teme_km[:, :, 0]

    loads = power.load_w(hw, compute_w, state.safe_mode, state.heater_on)
    dissipated_w = sum(loads.values())  # every load ends as heat in the payload node
    pumped_w, pump_w = thermal.heat_pump_w(
        hw, state.temp_payload_k, state.temp_radiator_k, dissipated_w, dt_s
    )
    demand_w = dissipated_w + pump_w
    cos_inc = np.where(ok, power.array_cos_incidence(hw, r_km, sun_km), 0.0)
    array_w = power.array_power_w(hw, flux, illumination, cos_inc, age_years)
    battery = power.step_battery(
        hw, state.battery_wh, state.battery_capacity_wh, array_w, demand_w, dt_s
    )
    served_w = demand_w - battery.unserved_w
    absorbed_w = np.where(
        ok, thermal.radiator_absorbed_w(hw, flux, illumination, r_km, sun_km), 0.0
    )
    # A flat battery serves every load, the heat pump's too, in the same share.
    served_share = np.where(demand_w > 0, served_w / np.where(demand_w > 0, demand_w, 1.0), 1.0)
    temp_p, temp_r = thermal.step_thermal(
        hw,
        state.temp_payload_k,
        state.temp_radiator_k,
        dissipated_w * served_share,
        absorbed_w,
        dt_s,
        pumped_w * served_share,
        pump_w * served_share,
    )
    soc = battery.battery_wh / battery.capacity_wh
    temp_p_c = temp_p - thermal.KELVIN
    heater_on = np.where(state.heater_on, temp_p_c < hw.heater_off_c, temp_p_c < hw.heater_on_c)
    new = FleetState(
        battery_wh=np.where(ok, battery.battery_wh, state.battery_wh),
        battery_capacity_wh=np.where(ok, battery.capacity_wh, state.battery_capacity_wh),
        temp_payload_k=np.where(ok, temp_p, state.temp_payload_k),
        temp_radiator_k=np.where(ok, temp_r, state.temp_radiator_k),
        safe_mode=np.where(ok, power.next_safe_mode(hw, state.safe_mode, soc), state.safe_mode),
        heater_on=np.where(ok, heater_on, state.heater_on),
        sunlit=np.where(ok, env.sunlit[:, 0], state.sunlit).astype(np.int8),
    )
    # Work done scales with the share of the demand actually served.
    outputs = TickOutputs(
        array_w=array_w,
        load_w=served_w,
        charge_w=battery.charge_w,
        discharge_w=battery.discharge_w,
        shunt_w=battery.shunt_w,
        unserved_w=battery.unserved_w,
        stored_wh=battery.stored_wh,
        drawn_wh=battery.drawn_wh,
        fade_loss_wh=battery.fade_loss_wh,
        served_share=served_share,
    )
    return new, outputs


def state_arrays(state: FleetState) -> dict[str, np.ndarray]:
    """The state as named arrays (for checkpoints)."""
    return {name: getattr(state, name) for name in FleetState.__dataclass_fields__}

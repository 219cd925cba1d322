"""State forecasts: orbits by physics, every sample summed once, mirrored batteries."""

from __future__ import annotations

import math

import numpy as np

from twin.core.clock import NS_PER_S, parse_start
from twin.forecast import states
from twin.forecast.whatif import Fork
from twin.payload import schedule as payload
from twin.physics import power
from twin.physics.orbit import propagate
from twin.sim import engine
from twin.sim.presets import build, load_preset

T0 = parse_start("2026-03-20T12:00:00Z")
MU_KM3_S2 = 398600.4418  # WGS84 Earth gravitational parameter
EQUATORIAL_RADIUS_KM = 6378.137


def test_orbit_periods_agree_with_keplers_third_law():
    fleet, _ = build(load_preset("threebody-12"), T0)
    times = T0 + np.arange(0, 6000, 60, dtype=np.int64) * NS_PER_S
    r_km = np.linalg.norm(propagate(fleet.satrecs, times).r_teme_km, axis=0)  # (n_sat, n_time)
    a_km = r_km.mean(axis=1)  # near-circular: the mean radius over an orbit
    kepler_s = 2 * math.pi * np.sqrt(a_km**3 / MU_KM3_S2)
    assert np.allclose(states.orbit_periods_s(fleet), kepler_s, rtol=5e-3)
    assert np.all(a_km > EQUATORIAL_RADIUS_KM + 300)


def test_every_sample_lands_in_one_orbit_and_the_minimum_in_its_orbit():
    fleet, hw = build(load_preset("threebody-12"), T0)
    ctx = payload.make_context(fleet, hw, T0)
    step_ns, horizon_ns = 20 * NS_PER_S, 4 * 3600 * NS_PER_S
    fork = Fork(T0, step_ns, 0, engine.initial_twin(ctx))
    found = states.forecast_states(fleet, ctx, fork, horizon_ns)
    assert np.allclose(found.seen_s.sum(axis=1), horizon_ns / NS_PER_S)
    k = np.arange(found.n_orbit)
    starts = T0 + k[None, :] * found.period_s[:, None] * NS_PER_S
    flown = found.min_soc_ns >= 0
    assert flown[:, 0].all()
    assert np.all((found.min_soc_ns >= starts - 1)[flown])
    assert np.all((found.min_soc_ns < starts + found.period_s[:, None] * NS_PER_S + 1)[flown])
    assert np.all(found.tera_ops <= found.available_tera_ops + 1e-6)


def test_a_mirrored_battery_keeps_its_state_of_charge():
    fleet, hw = build(load_preset("threebody-12"), T0)
    state = engine.initial_twin(payload.make_context(fleet, hw, T0))
    m = np.full(fleet.n_sat, np.nan)
    m[3] = 0.85
    after = states.mirrored_battery(state, m)
    before_p, after_p = state.physical, after.physical
    assert after_p.battery_capacity_wh[3] == before_p.battery_capacity_wh[3] * 0.85
    assert np.allclose(
        after_p.battery_wh / after_p.battery_capacity_wh,
        before_p.battery_wh / before_p.battery_capacity_wh,
    )
    others = np.arange(fleet.n_sat) != 3
    assert np.array_equal(after_p.battery_wh[others], before_p.battery_wh[others])


def test_an_observed_pack_gives_back_its_state_of_charge_and_temperatures():
    fleet, hw = build(load_preset("threebody-12"), T0)
    initial = engine.initial_twin(payload.make_context(fleet, hw, T0))
    capacity = initial.physical.battery_capacity_wh
    soc = np.linspace(0.2, 0.95, fleet.n_sat)
    battery_w = np.linspace(-300.0, 200.0, fleet.n_sat)  # discharging and charging
    volts, amps = power.pack_voltage_current(soc, battery_w, capacity)
    seen = states.Observed(
        time_ns=np.full(fleet.n_sat, T0),
        battery_v=np.where(np.arange(fleet.n_sat) == 4, np.nan, volts),  # one not sampled
        battery_a=amps,
        temp_payload_c=np.full(fleet.n_sat, 41.5),
        temp_radiator_c=np.full(fleet.n_sat, np.nan),
        safe_mode=np.where(np.arange(fleet.n_sat) == 2, 1.0, 0.0),
    )
    state = states.observed_state(initial, seen).physical
    got = state.battery_wh / state.battery_capacity_wh
    others = np.arange(fleet.n_sat) != 4
    assert np.allclose(got[others], soc[others], atol=1e-12)
    assert state.battery_wh[4] == initial.physical.battery_wh[4]
    assert np.allclose(state.temp_payload_k, 41.5 + 273.15)
    assert np.array_equal(state.temp_radiator_k, initial.physical.temp_radiator_k)
    assert state.safe_mode.tolist() == [k == 2 for k in range(fleet.n_sat)]

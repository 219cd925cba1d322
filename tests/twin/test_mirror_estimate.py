"""The mirror's estimates against the emulator's hidden truth (never against itself): after
six hours of a 12-satellite fleet sensed with the stated noise, array efficiency within
0.2 %, battery capacity within 1 % and radiator emissivity within 0.5 % of each satellite's
truth, with samples lost in gaps;
a satellite with too few samples, or whose battery was seen over too little of its charge,
gets no estimate rather than a wrong one."""

import numpy as np

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.hardware import Hardware
from twin.mirror import estimate
from twin.sim import reality
from twin.sim.engine import Collected, RunPlan, run
from twin.sim.presets import build, load_preset

T0 = parse_start("2026-03-20T12:00:00Z")


def _observed(fleet, truth, n_ticks: int, seed: int) -> estimate.Samples:
    collected = Collected()
    run(fleet, truth, RunPlan(T0, 10 * NS_PER_S, n_ticks), collected, seed=seed)
    sensed = reality.sensed_run(collected.frames, fleet.sat_id, T0, 10 * NS_PER_S, seed)
    return estimate.Samples(*sensed)


def test_estimates_converge_to_each_satellites_hidden_truth_through_gaps():
    fleet, hw = build(load_preset("threebody-12"), T0)
    hidden = reality.hidden_parameters(fleet.sat_id, 4, "never-seen")
    truth = reality.truth_hardware(hw, hidden)
    samples = _observed(fleet, truth, 6 * 360, seed=4)
    # Lose a tenth of the samples in 5-minute gaps, and all but 10 of satellite 12's.
    rng = np.random.default_rng(0)
    lost = np.zeros(samples.row.shape[0], dtype=bool)
    for start in rng.choice(samples.row.shape[0], 70, replace=False):
        lost[start : start + 30] = True
    lost |= (samples.row == 11) & (np.cumsum(samples.row == 11) > 10)
    # Satellite 11 seen for five minutes only: its battery barely moves.
    lost |= (samples.row == 10) & (np.cumsum(samples.row == 10) > 30)
    kept = estimate.Samples(
        samples.row[~lost], samples.t_ns[~lost], {n: v[~lost] for n, v in samples.channels.items()}
    )
    array = estimate.array_efficiency(fleet, hw, kept)
    battery = estimate.battery_capacity(hw, kept)
    radiator = estimate.radiator_emissivity(fleet, hw, kept)
    for est, name, tolerance in (
        (array, "array_cell_efficiency", 0.002),
        (battery, "battery_capacity_wh", 0.01),
        (radiator, "radiator_emissivity", 0.005),
    ):
        error = est.multiplier[:10] / hidden[name][:10] - 1.0
        assert np.abs(error).max() < tolerance, (name, error)
        # The spread is real: the preset itself would be far off for most satellites.
        assert (np.abs(hidden[name][:10] - 1.0) > tolerance).sum() >= 5
        # The stated error is honest: the truth within 5 standard errors.
        assert (np.abs(est.multiplier[:10] - hidden[name][:10]) < 5 * est.stderr[:10]).all()
        assert np.isnan(est.multiplier[11]) and est.samples[11] <= 10
    assert np.isnan(battery.multiplier[10])  # too little of its charge seen: withheld


def test_samples_lost_every_minute_withhold_the_capacity_rather_than_bias_it():
    # Runs of five samples: the state of charge moves less than its noise within each, and
    # a slope fitted there would be pulled towards zero (regression dilution).
    fleet, hw = build(load_preset("threebody-12"), T0)
    hidden = reality.hidden_parameters(fleet.sat_id, 5, "never-seen")
    samples = _observed(fleet, reality.truth_hardware(hw, hidden), 3 * 360, seed=5)
    kept = (samples.t_ns - T0) // (10 * NS_PER_S) % 6 != 5
    holed = estimate.Samples(
        samples.row[kept], samples.t_ns[kept], {n: v[kept] for n, v in samples.channels.items()}
    )
    assert np.isnan(estimate.battery_capacity(hw, holed).multiplier).all()
    assert np.isnan(estimate.radiator_emissivity(fleet, hw, holed).multiplier).all()
    array = estimate.array_efficiency(fleet, hw, holed)  # the array needs no runs
    assert np.abs(array.multiplier / hidden["array_cell_efficiency"] - 1.0).max() < 0.002


def test_a_satellite_with_a_heat_pump_gets_no_emissivity():
    # The heat a pump delivers to the radiator is not observed: no balance to fit.
    fleet, hw = build(load_preset("threebody-12"), T0)
    hidden = reality.hidden_parameters(fleet.sat_id, 6, "never-seen")
    samples = _observed(fleet, reality.truth_hardware(hw, hidden), 2 * 360, seed=6)
    pumped = np.zeros(fleet.n_sat)
    pumped[3] = 500.0
    with_pump = Hardware({**hw.arrays, "heat_pump_max_w": pumped})
    radiator = estimate.radiator_emissivity(fleet, with_pump, samples)
    assert np.isnan(radiator.multiplier[3])
    others = np.delete(radiator.multiplier / hidden["radiator_emissivity"] - 1.0, 3)
    assert np.abs(others).max() < 0.005

"""Accelerators: sharing capacity, throttle states, eclipse budget, energy and radiation."""

import numpy as np
import pytest

from twin.core.clock import parse_start
from twin.core.dice import Dice
from twin.payload import compute
from twin.sim.presets import build, load_preset

START_NS = parse_start("2026-03-20T12:00:00Z")


@pytest.fixture(scope="module")
def hw():
    return build(load_preset("threebody-12"), START_NS)[1]


def test_allocation_serves_items_in_order_until_each_group_runs_out():
    group = np.array([0, 0, 0, 1, 1, 2])
    demand = np.array([3.0, 4.0, 5.0, 1.0, 1.0, 7.0])
    given = compute.allocate_in_order(group, demand, np.array([8.0, 10.0, 0.0]))
    np.testing.assert_array_equal(given, [3.0, 4.0, 1.0, 1.0, 1.0, 0.0])
    assert compute.allocate_in_order(np.zeros(0, int), np.zeros(0), np.ones(3)).shape == (0,)


def test_allocation_of_one_group_does_not_depend_on_the_others():
    rng = np.random.default_rng(3)
    demand = rng.uniform(1e3, 1e6, 5000)
    group = np.sort(rng.integers(0, 1000, 5000))
    capacity = rng.uniform(0, 3e6, 1000)
    whole = compute.allocate_in_order(group, demand, capacity)
    mine = group == 500
    alone = compute.allocate_in_order(np.zeros(mine.sum(), int), demand[mine], capacity[[500]])
    np.testing.assert_allclose(whole[mine], alone, rtol=1e-13)


def test_throttle_steps_down_when_hot_and_back_up_when_cool_with_hysteresis(hw):
    level = np.zeros(12, np.int8)
    hot = np.full(12, 80.0)
    for expected in (1, 2, 3, 3):  # four states: 0..3
        level = compute.next_throttle(hw, level, hot)
        assert (level == expected).all()
    between = np.full(12, 65.0)  # between throttle_below_c 60 and throttle_above_c 70
    assert (compute.next_throttle(hw, level, between) == 3).all()
    assert (compute.next_throttle(hw, level, np.full(12, 50.0)) == 2).all()


def test_energy_per_tera_op_matches_power_at_full_load_in_every_state(hw):
    for state in range(4):
        level = np.full(12, state, np.int8)
        full = compute.capacity_tops(hw, level, np.ones(12, bool), np.ones(12, bool))
        np.testing.assert_allclose(full, 420.0 * hw.throttle_clock_fractions[0, state])
        dynamic = compute.dynamic_power_w(hw, level, full)
        np.testing.assert_allclose(dynamic, 340.0 * hw.throttle_power_fractions[0, state])
    # Slower states do more work per joule (DVFS).
    per_op = [compute.joules_per_tera_op(hw, np.full(12, s, np.int8))[0] for s in range(4)]
    assert per_op == sorted(per_op, reverse=True)


def test_eclipse_budget_caps_dynamic_power_and_unavailable_means_zero(hw):
    level = np.zeros(12, np.int8)
    tops = compute.capacity_tops(hw, level, np.zeros(12, bool), np.ones(12, bool))
    np.testing.assert_allclose(compute.dynamic_power_w(hw, level, tops), hw.eclipse_compute_w)
    off = compute.capacity_tops(hw, level, np.ones(12, bool), np.zeros(12, bool))
    assert (off == 0).all()


def test_south_atlantic_anomaly_raises_the_upset_rate_where_it_should(hw):
    assert compute.saa_weight(np.array(-26.0), np.array(-50.0)) == pytest.approx(1.0)
    far = compute.saa_weight(np.array([40.0, 30.0, np.nan]), np.array([100.0, -50.0, 0.0]))
    assert far[0] < 1e-6 and far[1] < 1e-3 and far[2] == 0.0
    # Monte Carlo over many satellite-ticks: upsets at the centre vs far away, each within
    # five standard deviations of the Poisson expectation.
    n = 400_000
    lat, lon = np.full(n, -26.0), np.full(n, -50.0)
    many = build(load_preset("threebody-12"), START_NS)[1].subset(np.zeros(n, int))
    dice = Dice(1, 7, np.arange(1, n + 1, dtype=np.int32))
    for la, lo, factor in ((lat, lon, 50.0), (lat + 70.0, lon + 150.0, 1.0)):
        upset, reset = compute.draw_upsets(many, la, lo, 60.0, dice)
        expected = n * -np.expm1(-0.2 / 86_400 * factor * 60.0)
        assert abs(upset.sum() - expected) < 5 * np.sqrt(expected) + 1
        assert reset.sum() <= upset.sum() and (reset <= upset).all()

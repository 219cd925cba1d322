"""The channel dictionary's limits: well formed, resolved per satellite, and a nominal run
stays out of the red."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.limits import GREEN, HARDWARE_FIELDS, RED, YELLOW, colour, resolve
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import available, build, load_preset
from twin.wire.telemetry import CHANNELS, FromHardware

T0 = parse_start("2026-03-20T12:00:00Z")


def test_every_channel_has_a_unit_field_and_hardware_limits_name_real_fields():
    for name, channel in CHANNELS.items():
        assert isinstance(channel.unit, str), name
        for _, limit in channel.limits.items():
            if isinstance(limit, FromHardware):
                assert limit.field in HARDWARE_FIELDS, (name, limit)


@pytest.mark.parametrize("preset", available())
def test_resolved_limits_are_ordered_and_inside_each_channels_range(preset):
    _, hw = build(load_preset(preset), T0)
    limits = resolve(hw)
    assert {"soc", "temp_payload_c", "battery_w", "alt_km"} <= set(limits)
    for name, values in limits.items():
        channel = CHANNELS[name]
        assert values.shape == (hw.arrays["battery_capacity_wh"].shape[0], 4)
        filled = np.where(np.isnan(values), np.nan, values)
        for lower, upper in [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3), (0, 3)]:
            both = ~np.isnan(filled[:, lower]) & ~np.isnan(filled[:, upper])
            assert (filled[both, lower] <= filled[both, upper]).all(), (name, lower, upper)
        if channel.low is not None:
            given_limits = values[~np.isnan(values)]
            assert (given_limits >= channel.low - 1).all() and (given_limits <= channel.high).all()


def test_limits_follow_each_satellites_hardware():
    preset = load_preset("threebody-12")
    _, hw = build(preset, T0)
    soc = resolve(hw)["soc"]
    np.testing.assert_array_equal(soc[:, 0], hw.arrays["safe_mode_enter_soc"])
    np.testing.assert_array_equal(soc[:, 1], hw.arrays["compute_soc_floor"])
    temp = resolve(hw)["temp_payload_c"]
    np.testing.assert_array_equal(temp[:, 2], hw.arrays["throttle_above_c"])
    np.testing.assert_array_equal(temp[:, 3], hw.arrays["throttle_above_c"] + 8.0)


_limit = st.one_of(st.just(np.nan), st.floats(-1e3, 1e3))


@given(st.floats(-2e3, 2e3) | st.just(np.nan), st.lists(_limit, min_size=4, max_size=4))
@settings(max_examples=300)
def test_a_value_is_red_outside_red_then_yellow_outside_yellow_else_green(value, four):
    limits = np.array([four], dtype=np.float64)
    got = colour(np.array([value]), limits)[0]
    red_low, yellow_low, yellow_high, red_high = four
    if np.isnan(value):
        assert got == GREEN
    elif value < red_low or value > red_high:
        assert got == RED
    elif value < yellow_low or value > yellow_high:
        assert got == YELLOW
    else:
        assert got == GREEN


def test_a_nominal_orbit_of_threebody_12_is_never_red_where_the_satellites_are_healthy():
    fleet, hw = build(load_preset("threebody-12"), T0)
    frames = []
    run(fleet, hw, RunPlan(T0, 10 * NS_PER_S, 600), FramesTo(frames.append))  # 100 minutes
    limits = resolve(hw)
    rows = {int(s): i for i, s in enumerate(fleet.sat_id)}
    worst = {}
    for name in ("alt_km", "sgp4_error", "soc", "temp_payload_c", "battery_w", "safe_mode"):
        colours = [
            colour(f.channels[name].astype(float), limits[name][[rows[s] for s in f.sat_id]])
            for f in frames
            if name in f.channels
        ]
        worst[name] = int(np.concatenate(colours).max())
    # Throttling (yellow payload temperature) is part of nominal operation; nothing is red.
    assert max(worst.values()) < RED, worst
    assert all(w == GREEN for n, w in worst.items() if n != "temp_payload_c"), worst

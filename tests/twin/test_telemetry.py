import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.wire import telemetry
from twin.wire.telemetry import CHANNELS, Frame, FrameError, decode, encode


def _values(channel, n, rng):
    if channel.dtype == "bool":
        return rng.random(n) > 0.5
    if channel.dtype == "int16":
        return np.zeros(n, dtype=np.int16)
    return rng.uniform(max(channel.low, -1e4), min(channel.high, 1e4), n)


def _frame(n=4, time_ns=1_700_000_000_123_456_000):
    rng = np.random.default_rng(7)
    return Frame(
        time_unix_ns=time_ns,
        group="planes-0002-0002",
        sat_id=np.arange(10, 10 + n, dtype=np.int32),
        channels={name: _values(c, n, rng) for name, c in CHANNELS.items()},
    )


def test_round_trip_is_exact():
    frame = _frame()
    back = decode(encode(frame))
    assert back.time_unix_ns == frame.time_unix_ns
    assert back.group == frame.group
    np.testing.assert_array_equal(back.sat_id, frame.sat_id)
    for name, channel in CHANNELS.items():
        np.testing.assert_array_equal(back.channels[name], frame.channels[name])  # bit-exact
        assert back.channels[name].dtype == np.dtype(channel.dtype)


def test_nan_travels_as_null():
    frame = _frame()
    frame.channels["lat_deg"][1] = np.nan
    payload = encode(frame)
    assert json.loads(payload)["lat_deg"][1] is None
    assert np.isnan(decode(payload).channels["lat_deg"][1])


def _mutated(**changes):
    body = json.loads(encode(_frame()))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty message"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_mutated(version=99), "unsupported schema"),
        (_mutated(time_unix_ns="soon"), "time_unix_ns"),
        (_mutated(sat_id=[1, 2, 3]), "3 satellites"),
        (_mutated(sat_id=[1, -2, 3, 4]), "sat_id"),
        (_mutated(alt_km=["500", 1, 2, 3]), "alt_km: values must all be numbers"),
        (_mutated(lon_deg=[True, 1, 2, 3]), "lon_deg"),
        (_mutated(sunlit=[1, 0, 1, 1]), "sunlit: values must all be true or false"),
        (_mutated(sgp4_error=[0, 0, 1.5, 0]), "sgp4_error: values must all be integers"),
        (_mutated(soc=[0.5, 1.5, 0.5, 0.5]), r"soc: 1.5 outside the physical range 0.0..1.0"),
        (_mutated(lat_deg=[0, 0, -91, 0]), "lat_deg: -91.0 outside"),
        (_mutated(extra=[1, 2, 3, 4]), "unknown fields: extra"),
    ],
)
def test_bad_frames_give_reasons(payload, reason):
    with pytest.raises(FrameError, match=reason):
        decode(payload)


def test_missing_field_is_named():
    body = json.loads(encode(_frame()))
    del body["time_unix_ns"]
    with pytest.raises(FrameError, match="missing fields: time_unix_ns"):
        decode(json.dumps(body).encode())


def test_incomplete_channel_group_is_named():
    body = json.loads(encode(_frame()))
    del body["alt_km"]
    with pytest.raises(FrameError, match="channel group 'orbit' incomplete: missing alt_km"):
        decode(json.dumps(body).encode())


def test_frame_may_carry_only_some_groups():
    frame = _frame()
    power_only = Frame(
        frame.time_unix_ns,
        frame.group,
        frame.sat_id,
        {n: v for n, v in frame.channels.items() if CHANNELS[n].group == "power"},
    )
    back = decode(encode(power_only))
    assert set(back.channels) == {n for n, c in CHANNELS.items() if c.group == "power"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"schema": "twin.telemetry", "version": 1, "lat_deg": NaN}', "not JSON"),
        (
            _mutated(alt_km=[12345.5, 1, 2, 3]).replace(b"12345.5", b"1e400"),
            "not JSON: number is infinity",
        ),
        (_mutated(sat_id=[5, 5, 6, 7]), "appears twice"),
        (_mutated(sat_id=[]), "0 satellites"),
        (_mutated(time_unix_ns=-5), "time_unix_ns"),
        (_mutated(group=7), "group: 7 is not a frame group"),
        (_mutated(group="plane-0002"), "is not a frame group"),
    ],
)
def test_more_bad_frames(payload, reason):
    with pytest.raises(FrameError, match=reason):
        decode(payload)


FLOAT_CHANNELS = [n for n, c in CHANNELS.items() if c.dtype == "float64"]


def test_every_float_channel_states_a_resolution_and_every_other_none():
    for name, channel in CHANNELS.items():
        assert (channel.resolution is not None) == (channel.dtype == "float64"), name
        if channel.resolution is not None:
            step = channel.stored_step
            assert channel.resolution / 2 < step <= channel.resolution, name
            assert math.frexp(step)[0] == 0.5, name  # a power of two


@given(
    st.sampled_from(FLOAT_CHANNELS),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50),
)
@settings(max_examples=400, deadline=None)
def test_stored_values_are_within_half_the_resolution_and_multiples_of_the_step(name, values):
    channel = CHANNELS[name]
    sent = np.clip(np.array(values, dtype=np.float64), channel.low, channel.high)
    stored = telemetry.to_stored_resolution(name, sent)
    assert np.all(np.abs(stored - sent) <= channel.resolution / 2)
    assert np.all(np.mod(stored, channel.stored_step) == 0.0)
    # Storing again changes nothing: a replayed or re-ingested value keeps its bits.
    np.testing.assert_array_equal(telemetry.to_stored_resolution(name, stored), stored)


def test_missing_values_and_exact_channels_are_kept_as_they_are():
    values = np.array([np.nan, 1.23456789, np.nan])
    stored = telemetry.to_stored_resolution("soc", values)
    assert np.isnan(stored[[0, 2]]).all() and abs(stored[1] - 1.23456789) <= 5e-6
    counts = np.array([0.0, 3.0, 32_767.0])
    assert telemetry.to_stored_resolution("queue_depth", counts) is counts

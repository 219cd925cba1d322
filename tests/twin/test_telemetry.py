import json

import numpy as np
import pytest

from twin.telemetry import CHANNELS, Frame, FrameError, decode, encode


def _frame(n=4, time_ns=1_700_000_000_123_456_000):
    rng = np.random.default_rng(7)
    return Frame(
        time_unix_ns=time_ns,
        group="plane-0002",
        sat_id=np.arange(10, 10 + n, dtype=np.int32),
        channels={c: rng.normal(size=n) * 100 for c in CHANNELS},
    )


def test_round_trip_is_exact():
    frame = _frame()
    back = decode(encode(frame))
    assert back.time_unix_ns == frame.time_unix_ns
    assert back.group == frame.group
    np.testing.assert_array_equal(back.sat_id, frame.sat_id)
    for c in CHANNELS:
        np.testing.assert_array_equal(back.channels[c], frame.channels[c])  # bit-exact


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
    ],
)
def test_bad_frames_give_reasons(payload, reason):
    with pytest.raises(FrameError, match=reason):
        decode(payload)


def test_missing_field_is_named():
    body = json.loads(encode(_frame()))
    del body["alt_km"]
    with pytest.raises(FrameError, match="missing fields: alt_km"):
        decode(json.dumps(body).encode())

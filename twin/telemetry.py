"""Telemetry frames: one message per (tick, orbital plane), columnar, JSON-encoded.

A frame carries the tick's time, the satellite ids of its group and one array per
channel. A consumer turns it into rows by zipping ``sat_id`` with each channel array
(row ``i`` is satellite ``sat_id[i]`` at ``time_unix_ns``). Values that could not be
computed (SGP4 failure) travel as ``null``.

Serialisation is kept apart from transport (the bus sends bytes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

TELEMETRY_TOPIC = "twin.telemetry"
SCHEMA_ID = "twin.telemetry"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Channel:
    """A telemetry channel: numpy dtype, PostgreSQL type and the accepted physical range."""

    dtype: str  # "float64", "bool" or "int16"
    pg_type: str
    low: float | None = None
    high: float | None = None
    description: str = ""


def _f(low: float, high: float, description: str) -> Channel:
    return Channel("float64", "float8", low, high, description)


# Names carry units; message fields and database columns use the same names.
CHANNELS: dict[str, Channel] = {
    "lat_deg": _f(-90.0, 90.0, "geodetic latitude (WGS84)"),
    "lon_deg": _f(-180.0, 180.0, "longitude, east positive (WGS84)"),
    "alt_km": _f(-100.0, 100_000.0, "height above the WGS84 ellipsoid"),
    "beta_deg": _f(-90.0, 90.0, "Sun angle above the orbit plane"),
    "illumination": _f(0.0, 1.0, "visible fraction of the solar disc (0 umbra, 1 sunlit)"),
    "sunlit": Channel("bool", "bool", description="the Sun's centre is above the Earth's limb"),
    "array_w": _f(0.0, 1e7, "solar array output"),
    "load_w": _f(0.0, 1e7, "electrical load served"),
    "battery_w": _f(-1e7, 1e7, "battery terminal power, positive when charging"),
    "battery_wh": _f(0.0, 1e8, "energy stored in the battery"),
    "soc": _f(0.0, 1.0, "battery state of charge, fraction of present capacity"),
    "temp_payload_c": _f(-273.15, 1000.0, "payload node temperature"),
    "temp_radiator_c": _f(-273.15, 1000.0, "radiator node temperature"),
    "safe_mode": Channel("bool", "bool", description="payload powered off to save the battery"),
    "utilisation": _f(0.0, 1.0, "accelerator utilisation"),
    "throughput_tops": _f(0.0, 1e9, "compute delivered, tera-operations per second"),
    "sgp4_error": Channel("int16", "int2", 0, 6, "SGP4 error code, 0 = ok (values are null)"),
}


class FrameError(ValueError):
    """A frame that cannot be decoded or fails validation; ``reason`` names the problem."""


@dataclass(frozen=True)
class Frame:
    """One group's telemetry at one instant.

    Attributes
    ----------
    time_unix_ns : int, tick time in ns since the Unix epoch (UTC).
    group : str, the frame's group (``plane-<n>``); also the Kafka key.
    sat_id : (n,) int32 satellite ids.
    channels : name -> (n,) array, units in the names.
    """

    time_unix_ns: int
    group: str
    sat_id: np.ndarray
    channels: dict[str, np.ndarray]


def group_name(plane: int) -> str:
    return f"plane-{int(plane):04d}"


def encode(frame: Frame) -> bytes:
    """Serialise a frame to compact JSON (NaN becomes null)."""
    body = {
        "schema": SCHEMA_ID,
        "version": SCHEMA_VERSION,
        "time_unix_ns": int(frame.time_unix_ns),
        "group": frame.group,
        "sat_id": frame.sat_id.tolist(),
    }
    for name, values in frame.channels.items():
        listed = values.tolist()
        if values.dtype.kind == "f" and np.isnan(values).any():
            listed = [None if v != v else v for v in listed]
        body[name] = listed
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def decode(payload: bytes) -> Frame:
    """Parse and validate a frame; raise ``FrameError`` with the reason when it is bad."""
    if not payload:
        raise FrameError("empty message")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise FrameError("frame is not a JSON object")
    if body.get("schema") != SCHEMA_ID or body.get("version") != SCHEMA_VERSION:
        raise FrameError(
            f"unsupported schema {body.get('schema')!r} version {body.get('version')!r}; "
            f"expected {SCHEMA_ID!r} version {SCHEMA_VERSION}"
        )
    missing = [k for k in ("time_unix_ns", "group", "sat_id", *CHANNELS) if k not in body]
    if missing:
        raise FrameError(f"missing fields: {', '.join(missing)}")
    time_ns = body["time_unix_ns"]
    if not isinstance(time_ns, int) or isinstance(time_ns, bool):
        raise FrameError(f"time_unix_ns: {time_ns!r} is not an integer")
    sat_id = _array(body, "sat_id", "int64")
    if sat_id.ndim != 1 or (sat_id <= 0).any() or (sat_id > 2**31 - 1).any():
        raise FrameError("sat_id: must be a list of positive 32-bit integers")
    unknown = sorted(
        set(body) - {"schema", "version", "time_unix_ns", "group", "sat_id", *CHANNELS}
    )
    if unknown:
        raise FrameError(f"unknown fields: {', '.join(unknown)}")
    channels = {}
    for name, channel in CHANNELS.items():
        values = _array(body, name, channel.dtype)
        if values.shape != sat_id.shape:
            raise FrameError(
                f"{name}: {values.shape[0] if values.ndim else 0} values "
                f"for {sat_id.shape[0]} satellites"
            )
        _check_range(name, channel, values)
        channels[name] = values
    return Frame(time_ns, str(body["group"]), sat_id.astype(np.int32), channels)


_KINDS = {
    "float64": ((int, float, type(None)), "numbers or null"),
    "int16": ((int,), "integers"),
    "int64": ((int,), "integers"),
    "bool": ((bool,), "true or false"),
}


def _array(body: dict, name: str, dtype: str) -> np.ndarray:
    values = body[name]
    if not isinstance(values, list):
        raise FrameError(f"{name}: expected a list, got {type(values).__name__}")
    allowed, kind = _KINDS[dtype]
    if not all(isinstance(v, allowed) and (dtype == "bool") == isinstance(v, bool) for v in values):
        raise FrameError(f"{name}: values must all be {kind}")
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in values], dtype=dtype)
    try:
        return np.array(values, dtype=dtype)
    except OverflowError:
        raise FrameError(f"{name}: values out of {dtype} range") from None


def _check_range(name: str, channel: Channel, values: np.ndarray) -> None:
    if channel.low is None:
        return
    finite = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    bad = (finite < channel.low) | (finite > channel.high)
    if bad.any():
        raise FrameError(
            f"{name}: {finite[bad][0].item()!r} outside the physical range "
            f"{channel.low}..{channel.high}"
        )

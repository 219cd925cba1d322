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

# Channel name -> numpy dtype. Names carry units; database columns use the same names.
CHANNELS: dict[str, str] = {
    "lat_deg": "float64",
    "lon_deg": "float64",
    "alt_km": "float64",
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
        if np.isnan(values).any():
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
    channels = {}
    for name, dtype in CHANNELS.items():
        values = _array(body, name, dtype)
        if values.shape != sat_id.shape:
            raise FrameError(
                f"{name}: {values.shape[0] if values.ndim else 0} values "
                f"for {sat_id.shape[0]} satellites"
            )
        channels[name] = values
    return Frame(time_ns, str(body["group"]), sat_id.astype(np.int32), channels)


def _array(body: dict, name: str, dtype: str) -> np.ndarray:
    values = body[name]
    if not isinstance(values, list):
        raise FrameError(f"{name}: expected a list, got {type(values).__name__}")
    numeric = (int, float) if dtype.startswith("float") else (int,)
    allowed = (*numeric, type(None)) if dtype.startswith("float") else numeric
    if not all(isinstance(v, allowed) and not isinstance(v, bool) for v in values):
        kind = "numbers or null" if dtype.startswith("float") else "integers"
        raise FrameError(f"{name}: values must all be {kind}")
    if dtype.startswith("float"):
        return np.array([np.nan if v is None else v for v in values], dtype=dtype)
    return np.array(values, dtype=dtype)

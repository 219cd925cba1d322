"""``twin.observed``: housekeeping telemetry of the real fleet as a ground segment delivers it
after decoding, keyed by satellite.

A packet is a run of one satellite's samples (a recorder dump at an acquisition, or a live
stretch), with its sequence count and the time the ground received it: samples arrive minutes
to hours after they were taken, in bursts, out of order across satellites, with gaps and
repeats. Channels are the engineering values a real bus reports (``OBSERVED_CHANNELS``);
state of charge is not among them: it is what the mirror estimates. A value ``null`` was not
sampled; a value outside its channel's physical range rejects that sample, not the packet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from twin.core.errors import ContractError, shown
from twin.wire.messages import open_envelope
from twin.wire.telemetry import Channel

OBSERVED_TOPIC = "twin.observed"
SCHEMA_ID = "twin.observed"
SCHEMA_VERSION = 1
MAX_SAMPLES_PER_PACKET = 3_600
PACKET_FIELDS = ("sat_id", "seq", "received_unix_ns", "time_unix_ns")


def _f(low: float, high: float, resolution: float, unit: str, description: str) -> Channel:
    return Channel("observed", "float64", "float8", low, high, description, resolution, unit)


# The channels a bus reports, in engineering units (names carry them).
OBSERVED_CHANNELS: dict[str, Channel] = {
    "battery_v": _f(0.0, 2_000.0, 1e-3, "V", "battery terminal voltage"),
    "battery_a": _f(-1e5, 1e5, 1e-3, "A", "battery current, positive when charging"),
    "array_w": _f(0.0, 1e7, 0.01, "W", "solar array output"),
    "temp_payload_c": _f(-273.15, 1000.0, 0.01, "Cel", "payload temperature"),
    "temp_radiator_c": _f(-273.15, 1000.0, 0.01, "Cel", "radiator temperature"),
    "safe_mode": Channel("observed", "bool", "bool", None, None, "payload off to save power"),
    "utilisation": _f(0.0, 1.0, 1e-4, "1", "accelerator utilisation"),
    "throughput_tops": _f(0.0, 1e9, 0.01, "T{op}/s", "compute delivered"),
    "upsets": Channel(
        "observed", "int16", "int2", 0, 32_767, "accelerator upsets since the last sample",
        unit="1",
    ),
}  # fmt: skip


class ObservedError(ContractError):
    """A packet that breaks the ``twin.observed`` contract; the message says how."""


@dataclass(frozen=True)
class ObservedPacket:
    """One satellite's samples as received.

    Attributes
    ----------
    sat_id : the satellite (its catalogue number for a mirrored fleet).
    seq : the packet's sequence count on the satellite's link.
    received_unix_ns : when the ground received it, ns since the Unix epoch (UTC).
    time_unix_ns : (n,) int64 sample times, strictly increasing.
    channels : name -> (n,) float64 (a flag as 0/1), NaN where not sampled.
    rejected : why samples were left out ("" when none); ``n_rejected`` how many.
    """

    sat_id: int
    seq: int
    received_unix_ns: int
    time_unix_ns: np.ndarray
    channels: dict[str, np.ndarray]
    rejected: str = ""
    n_rejected: int = 0

    @property
    def n(self) -> int:
        return int(self.time_unix_ns.shape[0])


def encode(packet: ObservedPacket) -> bytes:
    """The ``twin.observed`` message of ``packet`` (NaN as null)."""
    body: dict = {
        "schema": SCHEMA_ID,
        "version": SCHEMA_VERSION,
        "sat_id": packet.sat_id,
        "seq": packet.seq,
        "received_unix_ns": packet.received_unix_ns,
        "time_unix_ns": packet.time_unix_ns.tolist(),
    }
    for name, values in packet.channels.items():
        body[name] = as_values(name, values)
    return orjson.dumps(body)


def as_values(name: str, values: np.ndarray) -> list:
    """A channel's (n,) float64 values as Python values of its type, NaN as None."""
    dtype = OBSERVED_CHANNELS[name].dtype
    column = values.astype(object)
    if dtype == "bool":
        column = (values == 1.0).astype(object)
    elif dtype == "int16":
        column = np.where(np.isnan(values), 0, values).astype(np.int64).astype(object)
    column[np.isnan(values)] = None
    return column.tolist()


def _integer(body: dict, key: str, low: int, high: int) -> int:
    value = body.get(key)
    if type(value) is not int or not low <= value <= high:
        raise ObservedError(f"{key}: {shown(value)} is not an integer in {low}..{high}")
    return value


def decode(payload: bytes | None, per_sample: bool = False) -> ObservedPacket:
    """Check a ``twin.observed`` packet; raises ``ObservedError`` with the reason.

    With ``per_sample``, a sample with a value outside its channel's range is left out
    (``rejected`` says which and why), not the packet; a packet left with none raises.
    """
    body = open_envelope(
        payload,
        SCHEMA_ID,
        SCHEMA_VERSION,
        "packet",
        {"schema", "version", *PACKET_FIELDS, *OBSERVED_CHANNELS},
        ObservedError,
    )
    missing = [k for k in PACKET_FIELDS if k not in body]
    if missing:
        raise ObservedError(f"missing fields: {', '.join(missing)}")
    sat_id = _integer(body, "sat_id", 1, 2**31 - 1)
    seq = _integer(body, "seq", 0, 2**63 - 1)
    received = _integer(body, "received_unix_ns", 0, 2**63 - 1)
    times = body["time_unix_ns"]
    if not isinstance(times, list) or not 1 <= len(times) <= MAX_SAMPLES_PER_PACKET:
        raise ObservedError(
            f"time_unix_ns: {shown(times)} is not a list of 1 to {MAX_SAMPLES_PER_PACKET} times"
        )
    if not all(type(t) is int and 0 <= t < 2**63 for t in times):
        raise ObservedError("time_unix_ns: every time must be a non-negative 64-bit integer")
    t_ns = np.array(times, dtype=np.int64)
    if (np.diff(t_ns) <= 0).any():
        raise ObservedError("time_unix_ns: times must be strictly increasing within a packet")
    present = [name for name in OBSERVED_CHANNELS if name in body]
    if not present:
        raise ObservedError("no channel in the packet")
    channels: dict[str, np.ndarray] = {}
    bad = np.zeros(t_ns.shape[0], dtype=bool)
    reasons = []
    for name in present:
        values, outside, reason = _column(name, body[name], t_ns.shape[0])
        if reason and not per_sample:
            raise ObservedError(reason)
        channels[name] = values
        bad |= outside
        reasons += [reason] if reason else []
    if bad.all():
        raise ObservedError(reasons[0])
    packet = ObservedPacket(sat_id, seq, received, t_ns, channels)
    if not bad.any():
        return packet
    return reject_samples(packet, bad, f"{int(bad.sum())} samples rejected: " + "; ".join(reasons))


def reject_samples(packet: ObservedPacket, bad: np.ndarray, reason: str) -> ObservedPacket:
    """``packet`` without the samples ``bad`` (n,) bool, noting ``reason`` and their count
    (with any left out before)."""
    keep = ~bad
    return ObservedPacket(
        packet.sat_id,
        packet.seq,
        packet.received_unix_ns,
        packet.time_unix_ns[keep],
        {name: values[keep] for name, values in packet.channels.items()},
        "; ".join(r for r in (packet.rejected, reason) if r),
        packet.n_rejected + int(bad.sum()),
    )


def _column(name: str, values: object, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(values (n,) float64 with NaN for null, samples outside the range, the reason)."""
    channel = OBSERVED_CHANNELS[name]
    if not isinstance(values, list) or len(values) != n:
        raise ObservedError(f"{name}: {shown(values)} is not a list of {n} values")
    if channel.dtype == "bool":
        accepted = all(v is None or type(v) is bool for v in values)
        kind = "true, false or null"
    elif channel.dtype == "int16":
        accepted = all(v is None or type(v) is int for v in values)
        kind = "integers or null"
    else:
        accepted = all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
        )
        kind = "numbers or null"
    if not accepted:
        raise ObservedError(f"{name}: values must be {kind}")
    column = np.array(
        [np.nan if v is None else float(v) for v in values], dtype=np.float64
    )  # ints beyond float range cannot occur: orjson refuses integers past 64 bits
    if channel.low is None:
        return column, np.zeros(n, dtype=bool), ""
    with np.errstate(invalid="ignore"):
        outside = (column < channel.low) | (column > channel.high)
    if not outside.any():
        return column, outside, ""
    first = int(np.flatnonzero(outside)[0])
    return (
        column,
        outside,
        f"{name}: {shown(values[first])} (sample {first}) is outside "
        f"{channel.low:g}..{channel.high:g} {channel.unit}",
    )

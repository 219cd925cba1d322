"""Discrete per-satellite events found by comparing one tick's state with the previous one.

Vectorised: the changes are found with array comparisons; only the (rare) events themselves
are turned into messages, one per event, keyed by satellite id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from twin.core.errors import ContractError, shown
from twin.wire.messages import open_envelope

EVENTS_TOPIC = "twin.events"
SCHEMA_ID = "twin.events"
SCHEMA_VERSION = 1
KINDS = (
    "eclipse_entry",
    "eclipse_exit",
    "safe_mode_entry",
    "safe_mode_exit",
    "contact_aos",
    "contact_los",
)
NO_STATION = 0  # station_id of events that concern no ground station


@dataclass(frozen=True)
class Events:
    """Events of one tick, each (k,): ``sat_id`` int32, ``kind`` indices into ``KINDS`` and
    ``station_id`` int32 (``NO_STATION`` unless the event is a contact's start or end)."""

    time_unix_ns: int
    sat_id: np.ndarray
    kind: np.ndarray
    station_id: np.ndarray


def _events(time_unix_ns: int, sat_id: np.ndarray, changes: dict[str, np.ndarray]) -> Events:
    rows = {kind: np.nonzero(mask)[0] for kind, mask in changes.items()}
    picked = np.concatenate([sat_id[r] for r in rows.values()]).astype(np.int32)
    return Events(
        time_unix_ns=int(time_unix_ns),
        sat_id=picked,
        kind=np.concatenate(
            [np.full(r.shape[0], KINDS.index(k), np.int8) for k, r in rows.items()]
        ),
        station_id=np.full(picked.shape[0], NO_STATION, np.int32),
    )


def contact_events(
    time_unix_ns: int,
    sat_id: np.ndarray,
    station_id: np.ndarray,
    aos: tuple[np.ndarray, np.ndarray],
    los: tuple[np.ndarray, np.ndarray],
) -> Events:
    """Acquisitions and losses of signal seen at this tick; ``aos`` and ``los`` are
    ``(satellite rows, station rows)`` index pairs (``twin.payload.ground.pass_changes``)."""
    rows = np.concatenate([aos[0], los[0]])
    return Events(
        time_unix_ns=int(time_unix_ns),
        sat_id=sat_id[rows].astype(np.int32),
        kind=np.r_[
            np.full(aos[0].shape[0], KINDS.index("contact_aos"), np.int8),
            np.full(los[0].shape[0], KINDS.index("contact_los"), np.int8),
        ],
        station_id=station_id[np.concatenate([aos[1], los[1]])].astype(np.int32),
    )


def eclipse_events(
    time_unix_ns: int, sat_id: np.ndarray, sunlit_before: np.ndarray, sunlit_now: np.ndarray
) -> Events:
    """Eclipse entries and exits between the previous tick and this one, (n_sat,) arrays.

    ``sunlit_before`` is int8 with -1 for "not known yet" (no event on the first tick).
    """
    known = sunlit_before >= 0
    return _events(
        time_unix_ns,
        sat_id,
        {
            "eclipse_entry": known & (sunlit_before == 1) & ~sunlit_now,
            "eclipse_exit": known & (sunlit_before == 0) & sunlit_now,
        },
    )


def mode_events(
    time_unix_ns: int, sat_id: np.ndarray, safe_before: np.ndarray, safe_now: np.ndarray
) -> Events:
    """Safe-mode entries and exits taking effect at ``time_unix_ns``, (n_sat,) arrays."""
    return _events(
        time_unix_ns,
        sat_id,
        {
            "safe_mode_entry": ~safe_before & safe_now,
            "safe_mode_exit": safe_before & ~safe_now,
        },
    )


def encode(events: Events) -> list[tuple[bytes, bytes]]:
    """(key, value) messages, one per event; the key is the satellite id."""
    messages = []
    for sat, kind, station in zip(
        events.sat_id.tolist(), events.kind.tolist(), events.station_id.tolist(), strict=True
    ):
        body = {
            "schema": SCHEMA_ID,
            "version": SCHEMA_VERSION,
            "time_unix_ns": events.time_unix_ns,
            "sat_id": sat,
            "kind": KINDS[kind],
        }
        if station != NO_STATION:
            body["station_id"] = station
        messages.append((str(sat).encode(), orjson.dumps(body)))
    return messages


class EventError(ContractError):
    """An event message that cannot be decoded; the message names the problem."""


def decode(payload: bytes | None) -> tuple[int, int, str, int]:
    """(time_unix_ns, sat_id, kind, station_id) of a ``twin.events`` message, validated;
    ``station_id`` is ``NO_STATION`` for events that concern no station."""
    body = open_envelope(
        payload,
        SCHEMA_ID,
        SCHEMA_VERSION,
        "event",
        {"schema", "version", "time_unix_ns", "sat_id", "kind", "station_id"},
        EventError,
    )
    time_ns, sat, kind = body.get("time_unix_ns"), body.get("sat_id"), body.get("kind")
    if type(time_ns) is not int or not 0 <= time_ns < 2**63:
        raise EventError(f"time_unix_ns: {shown(time_ns)} is not a non-negative 64-bit integer")
    if type(sat) is not int or not 1 <= sat < 2**31:
        raise EventError(f"sat_id: {shown(sat)} is not a positive 32-bit integer")
    if kind not in KINDS:
        raise EventError(f"kind: {shown(kind)} is not one of {', '.join(KINDS)}")
    contact = kind.startswith("contact_")
    station = body.get("station_id", NO_STATION)
    if contact and (type(station) is not int or not 1 <= station < 2**15):
        raise EventError(f"station_id: {shown(station)} is not a station id (1..32767) for {kind}")
    if not contact and (type(station) is not int or station != NO_STATION):
        raise EventError(f"station_id: {shown(station)} given for {kind}, which has no station")
    return time_ns, sat, kind, station

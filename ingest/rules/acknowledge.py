"""Operators acknowledge and shelve anomalies, as Yamcs operators do with alarms: an
acknowledged anomaly has been seen (it stays open until its rule clears it); a shelved one
pages nobody until its time is up. Every action is kept with who took it and why
(``anomaly_acknowledgements``); ``anomaly_status`` gives each anomaly's latest."""

from __future__ import annotations

from datetime import datetime

import psycopg

from twin.core.errors import InputError

ACTIONS = ("acknowledged", "shelved", "unshelved")
MAX_TEXT = 1000  # characters of a name or a reason

INSERT_ACTION = (
    "INSERT INTO anomaly_acknowledgements (anomaly_id, action, at, by_whom, reason, "
    "shelved_until) VALUES (%s, %s, clock_timestamp(), %s, %s, %s) RETURNING at"
)


def record(
    conn: psycopg.Connection,
    anomaly_id: str,
    action: str,
    by_whom: str,
    reason: str,
    shelved_until: datetime | None = None,
) -> datetime:
    """Store one action on an open anomaly; returns when it was taken. Raises
    ``InputError`` for an anomaly that does not exist or is closed, an unknown action, an
    empty or oversized name or reason, or a shelving without an end (or an end with
    another action)."""
    if action not in ACTIONS:
        raise InputError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    for field, text in (("--by", by_whom), ("--reason", reason)):
        if not text.strip() or len(text) > MAX_TEXT or "\x00" in text:
            raise InputError(f"{field}: 1 to {MAX_TEXT} characters of text, without NUL")
    if (action == "shelved") != (shelved_until is not None):
        raise InputError("--for: a shelving needs an end, and only a shelving has one")
    found = conn.execute(
        "SELECT closed_at FROM audit_anomaly_history WHERE anomaly_id = %s", (anomaly_id,)
    ).fetchall()
    if not found:
        raise InputError(f"anomaly {anomaly_id!r}: no such anomaly (twin anomalies list)")
    if found[0][0] is not None:
        raise InputError(f"anomaly {anomaly_id!r}: closed at {found[0][0]:%Y-%m-%dT%H:%M:%SZ}")
    at = conn.execute(
        INSERT_ACTION, (anomaly_id, action, by_whom, reason, shelved_until)
    ).fetchone()[0]
    conn.commit()
    return at


def open_anomalies(conn: psycopg.Connection) -> list[tuple]:
    """Open anomalies with their status: (anomaly_id, sat_id, rule, severity, opened_at,
    last action, by whom, reason, shelved until, acknowledged, shelved), newest first."""
    return conn.execute(
        "SELECT anomaly_id, sat_id, rule, severity, opened_at, last_action, by_whom, reason, "
        "shelved_until, acknowledged, shelved FROM anomaly_status WHERE closed_at IS NULL "
        "ORDER BY opened_at DESC"
    ).fetchall()

"""Anomaly steps and rule state as stored: the statements both the per-satellite rules (inside
ingest's transaction) and the fleet rules (their own transaction) write with."""

from __future__ import annotations

import psycopg

from ingest.rules.detect import AnomalyRow

INSERT_ANOMALIES = (
    "INSERT INTO anomalies (time, anomaly_id, sat_id, rule, severity, state, value, message) "
    "SELECT timestamptz 'epoch' + t * interval '1 microsecond', a, s, r, v, st, x, m "
    "FROM unnest(%s::int8[], %s::text[], %s::int4[], %s::text[], %s::text[], %s::text[], "
    "%s::float8[], %s::text[]) AS u(t, a, s, r, v, st, x, m) ON CONFLICT DO NOTHING"
)
UPSERT_RULE_STATE = (
    "INSERT INTO rule_state (consumer_group, topic, partition, state, updated_at) "
    "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (consumer_group, topic, partition) "
    "DO UPDATE SET state = EXCLUDED.state, updated_at = now()"
)


def insert_anomalies(cur: psycopg.Cursor, rows: list[AnomalyRow]) -> None:
    """Anomaly steps; a step already stored (same id, state and time) is kept as it was."""
    cur.execute(
        INSERT_ANOMALIES,
        (
            [r.time_us for r in rows],
            [r.anomaly_id for r in rows],
            [r.sat_id for r in rows],
            [r.rule for r in rows],
            [r.severity for r in rows],
            [r.state for r in rows],
            [r.value for r in rows],
            [r.message for r in rows],
        ),
    )

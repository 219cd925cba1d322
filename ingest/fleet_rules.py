"""Fleet rules: SQL over the ``fleet_1m`` rollup, through the same state machine as the
per-satellite rules, into the same ``anomalies`` table (``twin rules check``).

Each check reads the complete minutes since the last one (the newest minute may still be
filling and waits for the next check) and keeps its state in ``rule_state`` under the
consumer group ``fleet-rules``, in the transaction that stores its anomalies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psycopg import sql

from ingest.db import connect
from ingest.detect import FLEET, NONE, AnomalyRow, Detector, Satellites
from ingest.rules import FLEET_MEASURES, RuleSet
from ingest.writer import UPSERT_RULE_STATE, insert_anomalies

STATE_KEY = ("fleet-rules", "fleet_1m", 0)  # (consumer_group, topic, partition) in rule_state
US_PER_MINUTE = 60_000_000


@dataclass(frozen=True)
class FleetCheck:
    minutes: int  # complete minutes evaluated
    first_us: int | None
    last_us: int | None
    anomalies: list[AnomalyRow]


def _fleet() -> Satellites:
    one = np.ones(1)
    return Satellites(np.array([FLEET], np.int32), np.zeros(1, np.int32), one, one, one)


def check_fleet(database_url: str, rules: RuleSet, until_us: int | None = None) -> FleetCheck:
    """Evaluate the fleet rules on the minutes of ``fleet_1m`` not evaluated yet (up to
    ``until_us``, exclusive, and never the newest minute, which may be incomplete)."""
    detector = Detector(rules.fleet, _fleet())
    measures = sql.SQL(", ").join(
        sql.SQL(FLEET_MEASURES[r.measure])
        for r in rules.fleet  # fixed expressions only
    )
    with connect(database_url) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT state FROM rule_state WHERE consumer_group = %s AND topic = %s "
            "AND partition = %s FOR UPDATE",
            STATE_KEY,
        )
        stored = cur.fetchone()
        if stored is not None:
            detector.state.restore(detector.sats.sat_id, stored[0])
        last = int(detector.state.arrays["last_us"][0, 0])
        since_us = None if last == NONE else last + US_PER_MINUTE
        cur.execute(
            sql.SQL(
                "SELECT (extract(epoch FROM bucket) * 1000000)::int8, {} FROM fleet_1m "
                "WHERE (%(since)s::int8 IS NULL OR bucket >= timestamptz 'epoch' + "
                "%(since)s::int8 * interval '1 microsecond') "
                "AND bucket < (SELECT max(bucket) FROM fleet_1m) "
                "AND (%(until)s::int8 IS NULL OR bucket < timestamptz 'epoch' + "
                "%(until)s::int8 * interval '1 microsecond') ORDER BY bucket"
            ).format(measures),
            {"since": since_us, "until": until_us},
        )
        minutes = cur.fetchall()
        if not minutes or not rules.fleet:
            return FleetCheck(len(minutes), None, None, [])
        table = np.array(minutes, dtype=np.float64).reshape(len(minutes), -1)
        t_us = np.array([m[0] for m in minutes], dtype=np.int64)
        rows, state = detector.evaluate_series(t_us, table[:, 1:].T.copy())
        if rows:
            insert_anomalies(cur, rows)
        cur.execute(UPSERT_RULE_STATE, (*STATE_KEY, state.blob(detector.sats.sat_id, None)))
    return FleetCheck(len(minutes), int(t_us[0]), int(t_us[-1]), rows)

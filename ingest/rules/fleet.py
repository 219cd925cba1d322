"""Fleet rules: SQL over the ``fleet_1m`` rollup, through the same state machine as the
per-satellite rules, into the same ``anomalies`` table (``twin rules check``).

Each check reads the complete minutes since the last one and keeps its state in
``rule_state`` under its own name (``fleet-rules`` by default; a scored run uses its own),
in the transaction that stores its anomalies. A minute counts as complete once the rollup
holds data ``LAG_MINUTES`` later (ingest consumers and shards run a little apart), or when
it ends before ``until``; a gap of more than a minute lets no pending anomaly carry over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psycopg import sql

from ingest.rules.definitions import FLEET_MEASURES, RuleSet
from ingest.rules.detect import FLEET, NONE, US_PER_MINUTE, AnomalyRow, Detector, Satellites
from ingest.rules.record import UPSERT_RULE_STATE, insert_anomalies
from ingest.store.db import connect
from ingest.store.roles import INGEST_ROLE

STATE_NAME = "fleet-rules"  # rule_state's consumer_group for the fleet rules
LAG_MINUTES = 2


@dataclass(frozen=True)
class FleetCheck:
    minutes: int  # complete minutes evaluated
    first_us: int | None
    last_us: int | None
    anomalies: list[AnomalyRow]


def _fleet() -> Satellites:
    one = np.ones(1)
    return Satellites(np.array([FLEET], np.int32), np.zeros(1, np.int32), one, one, one)


def check_fleet(
    database_url: str,
    rules: RuleSet,
    until_us: int | None = None,
    since_us: int | None = None,
    name: str = STATE_NAME,
) -> FleetCheck:
    """Evaluate the fleet rules on the minutes of ``fleet_1m`` not evaluated yet under
    ``name``, from ``since_us`` on when given: the complete ones, or all before ``until_us``
    (exclusive) when given, for a store whose ingest has finished up to there. The rules
    act as ``twin_ingest``, as ingest does (``ingest.store.db.connect``)."""
    if not rules.fleet:
        return FleetCheck(0, None, None, [])
    detector = Detector(rules.fleet, _fleet())
    key = (name, "fleet_1m", 0)  # (consumer_group, topic, partition) in rule_state
    measures = sql.SQL(", ").join(
        sql.SQL(FLEET_MEASURES[r.measure])
        for r in rules.fleet  # fixed expressions only
    )
    with (
        connect(database_url, application_name="twin-fleet-rules", role=INGEST_ROLE) as conn,
        conn.transaction(),
        conn.cursor() as cur,
    ):
        cur.execute(
            "SELECT state FROM rule_state WHERE consumer_group = %s AND topic = %s "
            "AND partition = %s FOR UPDATE",
            key,
        )
        stored = cur.fetchone()
        if stored is not None:
            detector.state.restore(detector.sats.sat_id, stored[0])
        last = int(detector.state.arrays["last_us"][0, 0])
        if last != NONE:
            since_us = max(since_us or 0, last + US_PER_MINUTE)
        cur.execute(
            sql.SQL(
                "SELECT (extract(epoch FROM bucket) * 1000000)::int8, {} FROM fleet_1m "
                "WHERE (%(since)s::int8 IS NULL OR bucket >= timestamptz 'epoch' + "
                "%(since)s::int8 * interval '1 microsecond') "
                "AND (CASE WHEN %(until)s::int8 IS NULL THEN bucket < (SELECT max(bucket) "
                "FROM fleet_1m) - %(lag)s * interval '1 minute' ELSE bucket + interval "
                "'1 minute' <= timestamptz 'epoch' + %(until)s::int8 * interval "
                "'1 microsecond' END) ORDER BY bucket"
            ).format(measures),
            {"since": since_us, "until": until_us, "lag": LAG_MINUTES},
        )
        minutes = cur.fetchall()
        if not minutes:
            return FleetCheck(0, None, None, [])
        table = np.array(minutes, dtype=np.float64).reshape(len(minutes), -1)
        t_us = np.array([m[0] for m in minutes], dtype=np.int64)
        rows, state = detector.evaluate_series(t_us, table[:, 1:].T.copy())
        if rows:
            insert_anomalies(cur, rows)
        cur.execute(UPSERT_RULE_STATE, (*key, state.blob(detector.sats.sat_id, None)))
    return FleetCheck(len(minutes), int(t_us[0]), int(t_us[-1]), rows)

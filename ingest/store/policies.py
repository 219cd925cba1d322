"""The store's policies on an existing store: retention, compression, refresh, chunk sizes.

Migration 1 sets them from ``StoreSettings``; ``change_policies`` changes the ones a user
names later (``twin db migrate --retain-telemetry 30d``) on TimescaleDB, where the server's
own scheduler then runs them. Plain PostgreSQL has no scheduler: ``drop_old_partitions``
(``twin db retain``) drops the daily telemetry partitions wholly older than a cutoff, and is
run on a schedule (cron, a systemd timer; see docs/runbook.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from psycopg import sql

from ingest.store import db
from ingest.store.migrate import StoreSettings
from twin.core.errors import ConfigError

log = logging.getLogger(__name__)

EVENT_TABLES = ("events", "anomalies", "job_events")
REFRESHED = ("telemetry_1m", "fleet_1m")  # fleet_1h keeps its 7-day lookback
_COMPACT = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_TEXT = re.compile(r"^\d+ (second|minute|hour|day|week|month|year)s?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PARTITION = re.compile(r"^telemetry_p(\d{8})$")


def interval(field: str, value: str) -> str:
    """A PostgreSQL interval from ``'30 days'`` or the compact ``30d`` (s, m, h, d, w)."""
    value = value.strip()
    compact = _COMPACT.match(value)
    if compact:
        return f"{compact[1]} {_UNITS[compact[2]]}"
    if _TEXT.match(value):
        return value
    raise ConfigError(field, value, "an interval like 30d, 12h, '1 hour' or '30 days'")


def change_policies(database_url: str, settings: StoreSettings, names: Iterable[str]) -> list[str]:
    """Set the TimescaleDB policies of ``settings`` that ``names`` lists (field names of
    ``StoreSettings``) on an existing store, replacing the old ones, in one transaction;
    returns what was done."""
    done = []
    with db.connect(database_url, application_name="twin-migrate") as conn:
        for name in names:
            value = getattr(settings, name)
            _CHANGES[name](conn, value)
            done.append(f"{name} = {value}")
        conn.commit()
    for line in done:
        log.info("policy changed: %s", line)
    return done


def _retention(tables: tuple[str, ...]):
    def change(conn, keep: str) -> None:
        for table in tables:
            conn.execute(
                "SELECT remove_retention_policy(%s::regclass, if_exists => true)", (table,)
            )
            conn.execute("SELECT add_retention_policy(%s::regclass, %s::interval)", (table, keep))

    return change


def _compression(conn, after: str) -> None:
    conn.execute("SELECT remove_compression_policy('telemetry', if_exists => true)")
    conn.execute("SELECT add_compression_policy('telemetry', %s::interval)", (after,))


def _chunks(tables: tuple[str, ...]):
    def change(conn, chunk: str) -> None:
        for table in tables:
            conn.execute(
                "SELECT set_chunk_time_interval(%s::regclass, %s::interval)", (table, chunk)
            )

    return change


def _refresh(field: str):
    """Replace the refresh policies of ``REFRESHED`` with ``field`` (``every`` or
    ``lookback``) changed and the other as each policy has it."""

    def change(conn, value: str) -> None:
        for view in REFRESHED:
            start, every = conn.execute(
                "SELECT (config->>'start_offset')::interval, schedule_interval "
                "FROM timescaledb_information.jobs WHERE hypertable_name = %s "
                "AND proc_name = 'policy_refresh_continuous_aggregate'",
                (view,),
            ).fetchone()
            if field == "every":
                every = value
            else:
                start = value
            conn.execute(
                "SELECT remove_continuous_aggregate_policy(%s::regclass, if_exists => true)",
                (view,),
            )
            conn.execute(
                "SELECT add_continuous_aggregate_policy(%s::regclass, "
                "start_offset => %s::interval, end_offset => INTERVAL '1 minute', "
                "schedule_interval => %s::interval)",
                (view, start, every),
            )

    return change


_CHANGES = {
    "retain_telemetry": _retention(("telemetry",)),
    "retain_events": _retention(EVENT_TABLES),
    "compress_after": _compression,
    "telemetry_chunk": _chunks(("telemetry",)),
    "events_chunk": _chunks(EVENT_TABLES),
    "cagg_refresh_every": _refresh("every"),
    "cagg_lookback": _refresh("lookback"),
}


def drop_old_partitions(
    database_url: str, older_than: str, now: datetime | None = None
) -> list[str]:
    """Drop the daily ``telemetry`` partitions of plain PostgreSQL that end at or before
    ``now - older_than`` (a partition holding anything newer is kept whole); returns their
    names. ``older_than`` is a PostgreSQL interval of days or weeks."""
    days = {"days": 1, "weeks": 7}
    count, unit = older_than.split()
    if unit.rstrip("s") + "s" not in days:
        raise ConfigError("--older-than", older_than, "whole days or weeks, e.g. 90d or 12w")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=int(count) * days[unit.rstrip("s") + "s"])
    dropped = []
    with db.connect(database_url, autocommit=True, application_name="twin-retain") as conn:
        names = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'telemetry'::regclass ORDER BY 1"
        ).fetchall()
        for (name,) in names:
            match = _PARTITION.match(name)
            if not match:
                continue
            day = datetime.strptime(match[1], "%Y%m%d").replace(tzinfo=UTC)
            if day + timedelta(days=1) <= cutoff:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                dropped.append(name)
    log.info("dropped %d telemetry partitions ending by %s", len(dropped), cutoff.isoformat())
    return dropped

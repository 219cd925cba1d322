"""Versioned schema migrations; idempotent; TimescaleDB detected, plain PostgreSQL otherwise.

Each version is SQL in ``ingest/store/migrations/`` (one file for both paths, or one per
path), frozen once released: a change to the schema is a new version, never an edit
(``tests/ingest/test_migrate.py`` holds each file's checksum, and fails when the tables
drift from ``ingest.store.schema``). ``twin db migrate --sql`` prints what would run.

Both paths give the same table and view names, so dashboards and audit SQL run unchanged:

- TimescaleDB: hypertables, compression segmented by satellite, compression and retention
  policies, continuous aggregates ``telemetry_1m`` → ``fleet_1m`` → ``fleet_1h`` (hierarchical,
  real-time aggregation) with refresh policies.
- PostgreSQL: ``telemetry`` range-partitioned by day (partitions made on demand by a
  ``SECURITY DEFINER`` function that ingest may call), BRIN indexes on time; the per-minute
  rollup a table ingest keeps (``ingest.store.minute_rollup``), the coarser ones views with
  ``date_bin``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from importlib import resources

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ingest.store import db, schema
from ingest.store.roles import allow_login, configured_logins
from twin.core.settings import ENV_STORE, STORES, ConfigError, InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreSettings:
    """Intervals of the store, as PostgreSQL interval text.

    ``telemetry_chunk``: 2,800 satellites at 1 Hz write ~10 M rows (about 2 GB before
    compression) an hour, so one-hour chunks keep the chunk being written, its indexes and
    the few chunks dashboards read in memory; other tables are far sparser.
    """

    telemetry_chunk: str = "1 hour"
    events_chunk: str = "1 day"
    compress_after: str = "1 day"
    retain_telemetry: str = "90 days"
    retain_events: str = "365 days"
    cagg_refresh_every: str = "1 minute"
    cagg_lookback: str = "1 day"


@dataclass(frozen=True)
class Migration:
    """One version of the schema: SQL files in ``ingest/store/migrations/``, frozen once
    released. ``NNNN-name.sql`` serves both paths; ``NNNN-name.timescaledb.sql`` and
    ``NNNN-name.postgresql.sql`` one path each (a path without a file has nothing to do in
    that version, which is still recorded as applied)."""

    version: int
    description: str
    name: str

    def sql(self, timescale: bool, settings: StoreSettings) -> str:
        """The script of this version for one path, with the store's settings in place of
        its ``{{setting}}`` marks (as SQL string literals)."""
        folder = resources.files("ingest.store") / "migrations"
        path = "timescaledb" if timescale else "postgresql"
        stem = f"{self.version:04d}-{self.name}"
        both, one = folder / f"{stem}.sql", folder / f"{stem}.{path}.sql"
        if not (both.is_file() or one.is_file()):
            return ""
        script = (both if both.is_file() else one).read_text(encoding="utf-8")
        values = {f.name: getattr(settings, f.name) for f in fields(settings)}
        return _MARK.sub(lambda m: _literal(values[m.group(1)]), script)


_MARK = re.compile(r"\{\{(\w+)\}\}")


def _literal(value: str) -> str:
    """A setting as an SQL string literal (StoreSettings holds interval text)."""
    return "'" + value.replace("'", "''") + "'"


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "telemetry, events, anomalies, jobs, lineage, dimensions, roles, audit views", "initial"
    ),
    Migration(
        2,
        "compute, contact and link channels and rollups; contact station on events; "
        "job step details",
        "payload",
    ),
    Migration(3, "rule state, fault truth and detection scores", "rules"),
    Migration(
        4, "ingest acts as twin_ingest: owner membership, rollups for fleet rules", "ingest-login"
    ),
    Migration(
        5,
        "the reader reads neither fault truth, scores nor rule state; reader statement timeout",
        "reader-fenced",
    ),
    Migration(
        6,
        "plain PostgreSQL: the per-minute rollup is a table ingest keeps in the rows' transaction",
        "minute-rollup",
    ),
    Migration(
        7,
        "each satellite's yellow and red limits per channel, and its latest values against them",
        "channel-limits",
    ),
    Migration(
        8,
        "completeness counts only the part of an hour from a satellite's first sample to the "
        "fleet's latest",
        "completeness",
    ),
    Migration(
        9,
        "operators acknowledge and shelve anomalies (who, why, until when); the status of each",
        "anomaly-acknowledgements",
    ),
    Migration(
        10,
        "the element sets of the real fleet as received, and each satellite's newest with its age",
        "element-sets",
    ),
    Migration(
        11,
        "housekeeping telemetry of the real fleet as received, one row per satellite and time",
        "observed",
    ),
    Migration(
        12,
        "the reality emulator's hidden truth, readable by the owner alone",
        "truth-parameters",
    ),
    Migration(
        13,
        "the mirror's estimates of each satellite's parameters, every one kept",
        "mirror-estimates",
    ),
    Migration(
        14,
        "the reality emulator's truth orbits, readable by the owner alone",
        "truth-elements",
    ),
    Migration(
        15,
        "forecasts of eclipse and contact windows, every forecast kept",
        "forecast-windows",
    ),
    Migration(
        16,
        "what-if forks, every one kept",
        "whatif",
    ),
    Migration(
        17,
        "state forecasts per satellite and orbit, every one kept",
        "forecast-states",
    ),
)


class StoreUnavailable(InputError):
    """The store asked for (or found) cannot be used on this server; the message says why."""


def choose_store(conn: Connection, store: str = "auto") -> bool:
    """Which path this database takes: True for TimescaleDB, False for plain PostgreSQL.

    A database migrated before keeps its path. Otherwise ``store`` decides: ``timescaledb``
    needs the extension preloaded (``CREATE EXTENSION`` as the owner: it is a trusted
    extension); ``postgresql`` takes the plain path; ``auto`` takes TimescaleDB where the
    server preloads it and plain PostgreSQL where the server does not have it, and refuses to
    guess where it is installed but not preloaded (the user says which).
    """
    if store not in STORES:
        raise ConfigError(f"--store / {ENV_STORE}", store, ", ".join(STORES))
    if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first():
        return True
    done_before = conn.execute(
        text("SELECT timescaledb FROM schema_migrations ORDER BY version LIMIT 1")
    ).first()
    if done_before is not None:
        return bool(done_before[0])
    if store == "postgresql":
        return False
    available = conn.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).first()
    if available and _create_timescaledb(conn):
        return True
    if available:
        raise StoreUnavailable(
            "TimescaleDB is installed on this server but not preloaded: add "
            "shared_preload_libraries = 'timescaledb' to postgresql.conf and restart it, "
            f"or choose plain PostgreSQL with --store postgresql ({ENV_STORE}=postgresql)"
        )
    if store == "timescaledb":
        raise StoreUnavailable(
            "--store timescaledb: this server has no TimescaleDB extension; install it "
            "(and preload it), or choose --store postgresql or auto"
        )
    return False


def _create_timescaledb(conn: Connection) -> bool:
    """``CREATE EXTENSION timescaledb``; False where the server has it but does not preload
    it (which only a superuser could read from ``shared_preload_libraries``)."""
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    except DBAPIError as exc:
        if "must be preloaded" in str(exc.orig):
            return False
        raise
    return True


def status(database_url: str) -> list[tuple[int, str, str | None]]:
    """Every migration with when it was applied to this database (None: pending), in
    order, as ``(version, description, applied_at ISO or None)``; reads only."""
    with db.connect(database_url) as conn:
        found = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0]
        applied = (
            dict(conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall())
            if found
            else {}
        )
    return [
        (
            m.version,
            m.description,
            applied[m.version].isoformat() if m.version in applied else None,
        )
        for m in MIGRATIONS
    ]


def pending_sql(
    database_url: str, settings: StoreSettings | None = None, store: str = "auto"
) -> str:
    """The SQL ``migrate`` would run on this database now (the pending versions on the path it
    would take), changing nothing: the path is chosen inside a transaction that is rolled
    back (choosing may create the extension)."""
    settings = settings or StoreSettings()
    engine = db.engine(database_url)
    try:
        with engine.connect() as conn, conn.begin() as transaction:
            found = conn.execute(text("SELECT to_regclass('schema_migrations')")).scalar()
            applied = (
                {v for (v,) in conn.execute(text("SELECT version FROM schema_migrations"))}
                if found
                else set()
            )
            if not found:
                schema.metadata.create_all(conn, tables=[schema.schema_migrations])
            timescale = choose_store(conn, store)
            transaction.rollback()
    finally:
        engine.dispose()
    path = "TimescaleDB" if timescale else "plain PostgreSQL"
    return "".join(
        f"-- ===== version {m.version} ({path}) =====\n"
        f"{m.sql(timescale, settings) or '-- nothing to do on this path'}\n"
        for m in MIGRATIONS
        if m.version not in applied
    )


def store_name(database_url: str) -> str:
    """ "TimescaleDB" or "PostgreSQL": the path a migrated database took."""
    with db.connect(database_url) as conn:
        row = conn.execute(
            "SELECT timescaledb FROM schema_migrations ORDER BY version LIMIT 1"
        ).fetchone()
    return "TimescaleDB" if row and row[0] else "PostgreSQL"


def migrate(
    database_url: str,
    settings: StoreSettings | None = None,
    logins: dict[str, tuple[str, str]] | None = None,
    store: str = "auto",
) -> list[int]:
    """Apply pending migrations in order, each in its own transaction; return those applied.
    ``store`` picks the path of a new store (``choose_store``). Then let each role of
    ``logins`` (``role -> (password, where from)``; default: those the environment
    configures, ``ingest.store.roles.configured_logins``) log in with its password."""
    settings = settings or StoreSettings()
    logins = configured_logins() if logins is None else logins
    engine = db.engine(database_url)
    applied_now = []
    try:
        with engine.begin() as conn:
            schema.metadata.create_all(conn, tables=[schema.schema_migrations])
            timescale = choose_store(conn, store)
        for migration in MIGRATIONS:
            with engine.begin() as conn:
                conn.execute(text("LOCK TABLE schema_migrations IN EXCLUSIVE MODE"))
                done = conn.execute(
                    text("SELECT 1 FROM schema_migrations WHERE version = :v"),
                    {"v": migration.version},
                ).first()
                if done:
                    continue
                script = migration.sql(timescale, settings)
                if script:
                    conn.exec_driver_sql(script)
                conn.execute(
                    schema.schema_migrations.insert().values(
                        version=migration.version,
                        description=migration.description,
                        timescaledb=timescale,
                    )
                )
                applied_now.append(migration.version)
                log.info(
                    "applied migration %d: %s (timescaledb=%s)",
                    migration.version,
                    migration.description,
                    timescale,
                )
    finally:
        engine.dispose()
    for role, (password, where) in logins.items():
        allow_login(database_url, role, password)
        log.info("%s may log in (password from %s)", role, where)
    return applied_now

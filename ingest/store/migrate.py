"""Versioned schema migrations; idempotent; TimescaleDB detected, plain PostgreSQL otherwise.

Both paths give the same table and view names, so dashboards and audit SQL run unchanged:

- TimescaleDB: hypertables, compression segmented by satellite, compression and retention
  policies, continuous aggregates ``telemetry_1m`` → ``fleet_1m`` → ``fleet_1h`` (hierarchical,
  real-time aggregation) with refresh policies.
- PostgreSQL: ``telemetry`` range-partitioned by day (partitions made on demand by a
  ``SECURITY DEFINER`` function that ingest may call), BRIN indexes on time, and plain views
  with ``date_bin`` in place of the continuous aggregates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql as pgsql
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateTable

from ingest.store import audit, db, schema
from ingest.store.roles import INGEST_ROLE, READER_ROLE, allow_login, configured_logins
from twin.core.settings import ENV_STORE, STORES, ConfigError, InputError
from twin.wire.telemetry import CHANNELS

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
    version: int
    description: str
    apply: Callable[[Connection, bool, StoreSettings], None]  # (conn, timescaledb, settings)


def _ddl(conn: Connection, statement: pgsql.Composable) -> None:
    """Run a statement composed with ``psycopg.sql`` (identifiers quoted by psycopg, never
    formatted into the text), rendered on this connection."""
    conn.exec_driver_sql(statement.as_string(conn.connection.driver_connection))


def _grant(conn: Connection, privileges: str, objects: str, role: str) -> None:
    """``GRANT privileges ON objects TO role``: fixed privilege and object lists, the role
    as an identifier."""
    _ddl(
        conn,
        pgsql.SQL("GRANT {} ON {} TO {}").format(
            pgsql.SQL(privileges), pgsql.SQL(objects), pgsql.Identifier(role)
        ),
    )


def _v1_initial(conn: Connection, timescale: bool, settings: StoreSettings) -> None:
    schema.metadata.create_all(conn, tables=[*schema.DIMENSIONS, *schema.BOOKKEEPING])
    if timescale:
        schema.metadata.create_all(conn, tables=list(schema.TIME_SERIES))
        _timescale_objects(conn, settings)
    else:
        _plain_objects(conn)
    for sql in audit.BUCKET_FUNCTION[timescale]:
        conn.execute(text(sql))
    _rollups(conn, timescale, settings)
    _roles(conn, timescale)


def _rollups(conn: Connection, timescale: bool, s: StoreSettings) -> None:
    """The rollups (continuous aggregates with refresh policies, or plain views) and the
    audit views over them."""
    if timescale:
        for name, statement in audit.CONTINUOUS_AGGREGATES:
            _ddl(conn, statement)
            conn.execute(
                text(
                    "SELECT add_continuous_aggregate_policy(CAST(:view AS regclass), "
                    "start_offset => CAST(:lookback AS interval), "
                    "end_offset => INTERVAL '1 minute', "
                    "schedule_interval => CAST(:every AS interval))"
                ),
                {
                    "view": name,
                    "lookback": s.cagg_lookback if name != "fleet_1h" else "7 days",
                    "every": s.cagg_refresh_every,
                },
            )
    else:
        for statement in audit.PLAIN_ROLLUPS:
            _ddl(conn, statement)
    for sql in audit.AUDIT_VIEWS:
        conn.execute(text(sql))


def _timescale_objects(conn: Connection, s: StoreSettings) -> None:
    chunks = {
        "telemetry": s.telemetry_chunk,
        "events": s.events_chunk,
        "anomalies": s.events_chunk,
        "job_events": s.events_chunk,
    }
    for table, chunk in chunks.items():
        conn.execute(
            text(
                "SELECT create_hypertable(CAST(:table AS regclass), "
                "by_range('time', CAST(:chunk AS interval)))"
            ),
            {"table": table, "chunk": chunk},
        )
    conn.execute(
        text(
            "ALTER TABLE telemetry SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'sat_id', timescaledb.compress_orderby = 'time DESC')"
        )
    )
    conn.execute(
        text("SELECT add_compression_policy('telemetry', CAST(:after AS interval))"),
        {"after": s.compress_after},
    )
    conn.execute(
        text("SELECT add_retention_policy('telemetry', CAST(:keep AS interval))"),
        {"keep": s.retain_telemetry},
    )
    for table in ("events", "anomalies", "job_events"):
        conn.execute(
            text("SELECT add_retention_policy(CAST(:table AS regclass), CAST(:keep AS interval))"),
            {"table": table, "keep": s.retain_events},
        )


def _plain_objects(conn: Connection) -> None:
    partitioned = MetaData()
    telemetry = schema.telemetry.to_metadata(partitioned)
    telemetry.dialect_options["postgresql"]["partition_by"] = "RANGE (time)"
    conn.execute(CreateTable(telemetry))
    schema.metadata.create_all(
        conn, tables=[t for t in schema.TIME_SERIES if t is not schema.telemetry]
    )
    for table in ("telemetry", "events", "anomalies", "job_events"):
        _ddl(
            conn,
            pgsql.SQL("CREATE INDEX {} ON {} USING brin (time)").format(
                pgsql.Identifier(f"{table}_time_brin"), pgsql.Identifier(table)
            ),
        )
    conn.execute(text(audit.ENSURE_PARTITIONS_FUNCTION))


def _roles(conn: Connection, timescale: bool) -> None:
    """``twin_ingest`` writes new rows and its offsets; ``twin_reader`` reads. Both NOLOGIN:
    a deployment gives them a login and password (never committed)."""
    for role in (INGEST_ROLE, READER_ROLE):
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if exists.first() is None:
            _ddl(conn, pgsql.SQL("CREATE ROLE {} NOLOGIN").format(pgsql.Identifier(role)))
    history = [t.name for t in (*schema.TIME_SERIES, schema.ingest_batches, schema.dead_letters)]
    for role in (INGEST_ROLE, READER_ROLE):
        _grant(conn, "USAGE", "SCHEMA public", role)
    _ddl(
        conn,
        pgsql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(
            pgsql.SQL(", ").join(pgsql.Identifier(t) for t in history),
            pgsql.Identifier(INGEST_ROLE),
        ),
    )
    _grant(conn, "SELECT, INSERT, UPDATE", "ingest_offsets", INGEST_ROLE)
    _grant(conn, "SELECT", "satellites, ground_stations, schema_migrations", INGEST_ROLE)
    _grant(conn, "USAGE", "ALL SEQUENCES IN SCHEMA public", INGEST_ROLE)
    if not timescale:
        conn.execute(text("REVOKE ALL ON FUNCTION twin_ensure_partitions(bigint[]) FROM PUBLIC"))
        _grant(conn, "EXECUTE", "FUNCTION twin_ensure_partitions(bigint[])", INGEST_ROLE)
    _grant(conn, "SELECT", "ALL TABLES IN SCHEMA public", READER_ROLE)


# Telemetry channels that version 1 created; later channels are added by later versions.
V1_CHANNELS = frozenset(
    {
        *("lat_deg", "lon_deg", "alt_km", "beta_deg", "illumination", "sunlit", "sgp4_error"),
        *("array_w", "load_w", "battery_w", "battery_wh", "soc", "safe_mode"),
        *("temp_payload_c", "temp_radiator_c", "utilisation", "throughput_tops"),
    }
)


def _v2_payload(conn: Connection, timescale: bool, settings: StoreSettings) -> None:
    """Compute, contact and link channels (and in the rollups); contact events' station;
    ground stations keyed by integer; job lifecycle details.

    Version 1 now creates these too (tables come from the current metadata), so every step
    is conditional: on a database made by an earlier version 1 it adds what is missing, on
    a new one it changes nothing.
    """

    # Columns are looked up first rather than added with IF NOT EXISTS: TimescaleDB before
    # 2.6.1 refuses ADD COLUMN IF NOT EXISTS on a compressed hypertable when the column
    # exists (timescale/timescaledb#4087).
    def has(table: str) -> set[str]:
        rows = conn.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
            {"t": table},
        )
        return {r[0] for r in rows}

    present = has("telemetry")
    for name, channel in CHANNELS.items():
        if name not in V1_CHANNELS and name not in present:
            _add_column(conn, "telemetry", name, _PG_TYPES[channel.pg_type])
    if "station_id" not in has("events"):
        conn.execute(text("ALTER TABLE events ADD COLUMN station_id integer NOT NULL DEFAULT 0"))
    has_station_key = conn.execute(
        text(
            "SELECT 1 FROM information_schema.key_column_usage WHERE table_name = 'events' "
            "AND constraint_name = 'events_pkey' AND column_name = 'station_id'"
        )
    ).first()
    if not has_station_key:
        conn.execute(text("ALTER TABLE events DROP CONSTRAINT events_pkey"))
        conn.execute(
            text(
                "ALTER TABLE events ADD CONSTRAINT events_pkey "
                "PRIMARY KEY (sat_id, time, kind, station_id)"
            )
        )
    # Version 1 keyed stations by text and wrote none; ids are the integers telemetry carries.
    conn.execute(
        text(
            "ALTER TABLE ground_stations ALTER COLUMN station_id TYPE integer "
            "USING station_id::integer"
        )
    )
    present = has("ground_stations")
    for column, sql_type in (("downlink_mbps", "float8"), ("antennas", "integer")):
        if column not in present:
            _add_column(conn, "ground_stations", column, sql_type)
    present = has("job_events")
    for column, sql_type in (("kind", "text"), ("latency_s", "float8"), ("energy_j", "float8")):
        if column not in present:
            _add_column(conn, "job_events", column, sql_type)
    _refresh_rollups(conn, timescale, settings)
    for column in ("batch_id", "kafka_offset"):
        if column not in present:
            _add_column(conn, "job_events", column, "bigint NOT NULL DEFAULT 0")
            _ddl(
                conn,
                pgsql.SQL("ALTER TABLE job_events ALTER COLUMN {} DROP DEFAULT").format(
                    pgsql.Identifier(column)
                ),
            )


def _refresh_rollups(conn: Connection, timescale: bool, settings: StoreSettings) -> None:
    """Rebuild rollups made by an older version (they lack the payload columns).

    Continuous aggregates are made again WITH NO DATA; being real-time, they answer from
    the raw telemetry until their policy has materialised the recent past. Older history
    is materialised with ``CALL refresh_continuous_aggregate('telemetry_1m', NULL, NULL)``
    (then ``fleet_1m``, ``fleet_1h``), which cannot run inside this migration's transaction.
    """
    table, column = audit.ROLLUP_MARKER
    current = conn.execute(
        text("SELECT 1 FROM information_schema.columns WHERE table_name = :t AND column_name = :c"),
        {"t": table, "c": column},
    ).first()
    if current:
        return
    kind = "MATERIALIZED VIEW" if timescale else "VIEW"
    for name in ("fleet_1h", "fleet_1m", "telemetry_1m"):  # TimescaleDB drops one at a time
        _ddl(
            conn,
            pgsql.SQL("DROP {} IF EXISTS {} CASCADE").format(
                pgsql.SQL(kind), pgsql.Identifier(name)
            ),
        )
    _rollups(conn, timescale, settings)
    _grant(conn, "SELECT", "ALL TABLES IN SCHEMA public", READER_ROLE)
    _grant_rollups(conn)


def _grant_rollups(conn: Connection) -> None:
    """The fleet rules, which run as ``twin_ingest``, read the rollups."""
    _grant(conn, "SELECT", "telemetry_1m, fleet_1m, fleet_1h", INGEST_ROLE)


def _v3_rules(conn: Connection, timescale: bool, settings: StoreSettings) -> None:
    """Streaming rule state, injected-fault truth and detection scores. Ingest keeps its rule
    state and writes anomalies; it cannot read the fault truth."""
    schema.metadata.create_all(conn, tables=list(schema.RULES_AND_SCORES), checkfirst=True)
    for statement in audit.AUDIT_VIEWS:  # the anomaly history reads updated steps
        conn.execute(text(statement))
    _grant(conn, "SELECT, INSERT, UPDATE", "rule_state", INGEST_ROLE)
    _grant(conn, "SELECT", "ALL TABLES IN SCHEMA public", READER_ROLE)


def _v4_ingest_login(conn: Connection, timescale: bool, settings: StoreSettings) -> None:
    """Ingest acts as ``twin_ingest`` whatever it logs in as: the migrating role (the schema
    owner) becomes a member so that its logins may ``SET ROLE twin_ingest`` (the fallback
    when ingest has no login of its own), and the fleet rules, which run as ``twin_ingest``,
    read the rollups."""
    _ddl(conn, pgsql.SQL("GRANT {} TO CURRENT_USER").format(pgsql.Identifier(INGEST_ROLE)))
    _grant_rollups(conn)


READER_STATEMENT_TIMEOUT = "30s"  # a panel or audit query past this is cut off


def _v5_reader_fenced(conn: Connection, timescale: bool, settings: StoreSettings) -> None:
    """The read-only role (Grafana's datasource, auditors) reads what dashboards and audits
    read, not the injected-fault truth, the detection scores or the rules' internal state,
    and no statement of its runs longer than ``READER_STATEMENT_TIMEOUT``."""
    _ddl(
        conn,
        pgsql.SQL("REVOKE ALL ON fault_truth, score_runs, rule_state FROM {}").format(
            pgsql.Identifier(READER_ROLE)
        ),
    )
    _ddl(
        conn,
        pgsql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
            pgsql.Identifier(READER_ROLE), pgsql.Literal(READER_STATEMENT_TIMEOUT)
        ),
    )


_PG_TYPES = {"float8": "double precision", "bool": "boolean", "int2": "smallint"}


def _add_column(conn: Connection, table: str, column: str, definition: str) -> None:
    """``ALTER TABLE table ADD COLUMN column definition``; ``definition`` is a fixed type."""
    _ddl(
        conn,
        pgsql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
            pgsql.Identifier(table), pgsql.Identifier(column), pgsql.SQL(definition)
        ),
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "telemetry, events, anomalies, jobs, lineage, dimensions, roles, audit views",
        _v1_initial,
    ),
    Migration(
        2,
        "compute, contact and link channels and rollups; contact station on events; "
        "job step details",
        _v2_payload,
    ),
    Migration(3, "rule state, fault truth and detection scores", _v3_rules),
    Migration(
        4, "ingest acts as twin_ingest: owner membership, rollups for fleet rules", _v4_ingest_login
    ),
    Migration(
        5,
        "the reader reads neither fault truth, scores nor rule state; reader statement timeout",
        _v5_reader_fenced,
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
                migration.apply(conn, timescale, settings)
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

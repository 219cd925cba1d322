import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.store import audit, schema
from ingest.store.db import connect
from ingest.store.migrate import MIGRATIONS, StoreUnavailable, migrate, pending_sql
from twin.wire.telemetry import CHANNELS

pytestmark = pytest.mark.integration

# Telemetry channels the first version 1 made (before version 2 existed): history, kept here to
# rebuild such a store.
V1_CHANNELS = frozenset(
    {
        *("lat_deg", "lon_deg", "alt_km", "beta_deg", "illumination", "sunlit", "sgp4_error"),
        *("array_w", "load_w", "battery_w", "battery_wh", "soc", "safe_mode"),
        *("temp_payload_c", "temp_radiator_c", "utilisation", "throughput_tops"),
    }
)
# Released migrations are frozen: a new version adds its file (and its line here); editing a
# released one fails this list.
FROZEN_SHA256 = {  # the first 16 hex digits of each file's SHA-256
    "0001-initial.postgresql.sql": "2badb3edde8f60d2",
    "0001-initial.timescaledb.sql": "54659b331cc1c5f6",
    "0002-payload.postgresql.sql": "c66cd1f095edbb67",
    "0002-payload.timescaledb.sql": "5d3635971ac0ecdf",
    "0003-rules.sql": "a7291f248be9d3b5",
    "0004-ingest-login.sql": "1bce0c835b718773",
    "0006-minute-rollup.postgresql.sql": "7afe725a6754546a",
    "0005-reader-fenced.sql": "f5f52a4b721d8120",
    "0008-completeness.sql": "b5e7cad4843b5c48",
    "0009-anomaly-acknowledgements.sql": "f66e07ae9bb0ac2b",
    "0007-channel-limits.sql": "b36306181ea6d9ea",
    "0010-element-sets.sql": "98ed9bd73207ae5f",
    "0015-forecast-windows.sql": "956a962cc09484e4",
    "0016-whatif.sql": "c85ae3e638416727",
    "0017-forecast-states.sql": "51b28ef159620ca6",
    "0014-truth-elements.sql": "1ca562fdc772420a",
    "0013-mirror-estimates.sql": "16bf42cb3bf65978",
    "0012-truth-parameters.sql": "fddf82617424011c",
    "0011-observed.timescaledb.sql": "3eaae35311e9fb84",
    "0011-observed.postgresql.sql": "a03734c660594489",
}
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "ingest" / "store" / "migrations"

VIEWS = {"telemetry_1m", "fleet_1m", "fleet_1h"} | {
    sql.split(" VIEW ")[1].split()[0] for sql in audit.AUDIT_VIEWS
}


def _relations(url: str) -> set[str]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def _has_tables(url: str) -> bool:
    return bool({t.name for t in schema.metadata.sorted_tables} & _relations(url))


def test_timescaledb_installed_but_not_preloaded_is_named_and_plain_only_when_asked(database):
    # The stack's plain cluster has the extension installed (the same PostgreSQL as the
    # TimescaleDB cluster) but does not preload it: what a plain package install gives.
    with pytest.raises(StoreUnavailable, match="shared_preload_libraries = 'timescaledb'"):
        migrate(database)
    with pytest.raises(StoreUnavailable, match="not preloaded"):
        migrate(database, store="timescaledb")
    assert not _has_tables(database)  # nothing half made
    env = {**os.environ, "TWIN_DATABASE_URL": database}
    env.pop("TWIN_STORE")
    done = subprocess.run(
        [sys.executable, "-m", "twin", "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "shared_preload_libraries" in done.stderr and "--store postgresql" in done.stderr
    asked = subprocess.run(
        [sys.executable, "-m", "twin", "db", "migrate", "--store", "postgresql"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert asked.returncode == 0, asked.stderr
    assert _has_tables(database)


def test_auto_takes_timescaledb_where_the_server_preloads_it(timescale_db):
    migrate(timescale_db)
    with connect(timescale_db) as conn:
        assert conn.execute("SELECT timescaledb FROM schema_migrations").fetchall() == [
            (True,)
        ] * len(MIGRATIONS)


def test_migrate_is_idempotent_on_plain_postgresql(database):
    assert migrate(database, store="postgresql") == [m.version for m in MIGRATIONS]
    assert migrate(database) == []  # a migrated store keeps its path
    assert {t.name for t in schema.metadata.sorted_tables} | VIEWS <= _relations(database)
    with connect(database) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            is None
        )
        strategy = conn.execute(
            "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'telemetry'::regclass"
        ).fetchone()
        brin = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%USING brin%'"
        ).fetchone()[0]
    assert strategy == ("r",) and brin == 4


def test_migrate_makes_the_timescaledb_objects(timescale_db):
    assert migrate(timescale_db) == [m.version for m in MIGRATIONS]
    assert migrate(timescale_db) == []
    assert {t.name for t in schema.metadata.sorted_tables} <= _relations(timescale_db)
    with connect(timescale_db) as conn:
        hypertables = {
            r[0]
            for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
        interval = conn.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'telemetry'"
        ).fetchone()[0]
        compression = dict(
            conn.execute(
                "SELECT attname, coalesce(segmentby_column_index, -orderby_column_index) "
                "FROM timescaledb_information.compression_settings "
                "WHERE hypertable_name = 'telemetry'"
            ).fetchall()
        )
        caggs = {
            r[0]: r[1]
            for r in conn.execute(
                "SELECT view_name, materialized_only "
                "FROM timescaledb_information.continuous_aggregates"
            )
        }
        jobs = {
            (r[0], r[1])
            for r in conn.execute(
                "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs "
                "WHERE proc_name LIKE 'policy_%'"
            )
        }
    assert hypertables == {"telemetry", "events", "anomalies", "job_events", "observed"}
    assert interval.total_seconds() == 3600
    assert compression["sat_id"] == 1 and compression["time"] < 0  # segment by, order by
    assert caggs == {"telemetry_1m": False, "fleet_1m": False, "fleet_1h": False}
    assert ("policy_compression", "telemetry") in jobs
    assert ("policy_retention", "telemetry") in jobs
    # Observed samples arrive late: compressed only past the feed's retention.
    assert {("policy_compression", "observed"), ("policy_retention", "observed")} <= jobs
    assert {p for p, _ in jobs} >= {"policy_refresh_continuous_aggregate"}
    assert sum(p == "policy_refresh_continuous_aggregate" for p, _ in jobs) == 3


def test_intervals_are_configurable(timescale_db):
    from ingest.store.migrate import StoreSettings

    migrate(timescale_db, StoreSettings(telemetry_chunk="2 hours", retain_telemetry="10 days"))
    with connect(timescale_db) as conn:
        interval = conn.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'telemetry'"
        ).fetchone()[0]
        retention = conn.execute(
            "SELECT config->>'drop_after' FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_retention' AND hypertable_name = 'telemetry'"
        ).fetchone()
    assert interval.total_seconds() == 7200 and retention == ("10 days",)


def _columns(conn, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
        (table,),
    ).fetchall()
    return dict(rows)


@pytest.mark.parametrize("store", ["database", "timescale_db"])
def test_version_2_brings_a_version_1_store_up_to_date(store, request):
    url = request.getfixturevalue(store)
    migrate(url, store="timescaledb" if store == "timescale_db" else "postgresql")
    with connect(url, autocommit=True) as conn:
        expected = {t: _columns(conn, t) for t in ("telemetry", "events", "job_events")}
        expected["ground_stations"] = _columns(conn, "ground_stations")
        # Turn the store back into what version 1 made before version 2 existed: rollups
        # without the payload columns, then the tables.
        timescale = store == "timescale_db"
        kind = "MATERIALIZED VIEW" if timescale else "VIEW"
        conn.execute(f"DROP {kind} fleet_1h, fleet_1m, telemetry_1m CASCADE")
        old = (
            "SELECT twin_bucket('1 minute', time) AS bucket, sat_id, count(*) AS samples "
            "FROM telemetry GROUP BY 1, sat_id"
        )
        if timescale:
            conn.execute(
                "CREATE MATERIALIZED VIEW telemetry_1m WITH (timescaledb.continuous) AS "
                + old.replace("twin_bucket", "time_bucket")
                + " WITH NO DATA"
            )
        else:
            conn.execute("CREATE VIEW telemetry_1m AS " + old)
        for name in CHANNELS:
            if name not in V1_CHANNELS:
                conn.execute(f"ALTER TABLE telemetry DROP COLUMN {name}")
        conn.execute("ALTER TABLE events DROP CONSTRAINT events_pkey")
        conn.execute("ALTER TABLE events DROP COLUMN station_id")
        conn.execute(
            "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (sat_id, time, kind)"
        )
        for column in ("kind", "latency_s", "energy_j", "batch_id", "kafka_offset"):
            conn.execute(f"ALTER TABLE job_events DROP COLUMN {column}")
        conn.execute("ALTER TABLE ground_stations DROP COLUMN downlink_mbps")
        conn.execute("ALTER TABLE ground_stations DROP COLUMN antennas")
        conn.execute("ALTER TABLE ground_stations ALTER COLUMN station_id TYPE text")
        conn.execute("DELETE FROM schema_migrations WHERE version = 2")
        assert "station_id" not in _columns(conn, "events")
    assert migrate(url) == [2]
    assert _relations(url) >= VIEWS
    with connect(url) as conn:
        assert "in_contact_share" in _columns(conn, "telemetry_1m")
        for table, columns in expected.items():
            assert _columns(conn, table) == columns, table
        key = conn.execute(
            "SELECT array_agg(column_name::text ORDER BY column_name) "
            "FROM information_schema.key_column_usage WHERE constraint_name = 'events_pkey'"
        ).fetchone()[0]
    assert key == ["kind", "sat_id", "station_id", "time"]


def test_status_lists_pending_then_applied_migrations_and_changes_nothing(database):
    env = {**os.environ, "TWIN_DATABASE_URL": database}

    def status() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "twin", "db", "migrate", "--status"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    before = status()
    assert before.returncode == 1, before.stderr
    assert f"0 applied, {len(MIGRATIONS)} pending" in before.stdout
    assert not _has_tables(database)  # --status changed nothing
    migrate(database, store="postgresql")
    after = status()
    assert after.returncode == 0 and f"{len(MIGRATIONS)} applied, 0 pending" in after.stdout
    assert "pending " not in after.stdout.split("twin db migrate --status")[0]


@pytest.mark.parametrize("store", ["database", "timescale_db"])
def test_the_migrated_tables_match_the_metadata_column_for_column(store, request):
    """Migrations are written once per version; the table definitions (SQLAlchemy metadata)
    describe today's schema. This fails when the two drift apart."""
    from sqlalchemy.dialects import postgresql

    url = request.getfixturevalue(store)
    migrate(url, store="timescaledb" if store == "timescale_db" else "postgresql")
    dialect = postgresql.dialect()
    with connect(url) as conn:
        for table in schema.metadata.sorted_tables:
            found = {
                name: (kind, nullable == "YES")
                for name, kind, nullable in conn.execute(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = %s",
                    (table.name,),
                )
            }
            expected = {
                c.name: (c.type.compile(dialect=dialect).lower(), bool(c.nullable))
                for c in table.columns
            }
            assert found == expected, table.name


def test_released_migrations_are_frozen():
    files = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in MIGRATIONS_DIR.glob("*")
    }
    assert files == FROZEN_SHA256
    versions = sorted({int(name[:4]) for name in files})
    assert versions == [m.version for m in MIGRATIONS]


@pytest.mark.parametrize("store", ["database", "timescale_db"])
def test_sql_dry_run_prints_the_pending_scripts_and_changes_nothing(store, request):
    url = request.getfixturevalue(store)
    timescale = store == "timescale_db"
    path = "timescaledb" if timescale else "postgresql"
    env = {**os.environ, "TWIN_DATABASE_URL": url, "TWIN_STORE": path}
    done = subprocess.run(
        [sys.executable, "-m", "twin", "db", "migrate", "--sql", "--retain-telemetry", "45d"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("-- ===== version ") == len(MIGRATIONS)
    assert ("create_hypertable" in done.stdout) == timescale
    assert ("add_retention_policy('telemetry', CAST('45 days'" in done.stdout) == timescale
    assert "{{" not in done.stdout
    assert not _has_tables(url)  # nothing ran
    with connect(url) as conn:
        extension = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        assert extension.fetchone() is None  # not even the extension the path needs
    migrate(url, store=path)
    assert pending_sql(url) == ""

import pytest

from ingest.db import connect
from ingest.migrate import MIGRATIONS, migrate

pytestmark = pytest.mark.integration


def _tables(url: str) -> set[str]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrate_is_idempotent_on_plain_postgresql(database):
    assert migrate(database) == [m.version for m in MIGRATIONS]
    assert migrate(database) == []
    assert {"telemetry", "ingest_offsets", "dead_letters", "schema_migrations"} <= _tables(database)
    with connect(database) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            is None
        )


def test_migrate_makes_a_hypertable_on_timescaledb(timescale_db):
    assert migrate(timescale_db) == [m.version for m in MIGRATIONS]
    assert migrate(timescale_db) == []
    with connect(timescale_db) as conn:
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
        interval = conn.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'telemetry'"
        ).fetchone()[0]
    assert ("telemetry",) in hypertables
    assert interval.total_seconds() == 3600

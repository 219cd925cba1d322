"""Versioned schema migrations; idempotent; TimescaleDB detected, plain PostgreSQL otherwise."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from ingest import db, schema

log = logging.getLogger(__name__)

TELEMETRY_CHUNK_INTERVAL = "1 hour"  # 2,800 sats at 1 Hz: ~10M rows per chunk


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection, bool], None]  # (connection, timescaledb available)


def _v1_initial(conn: Connection, timescale: bool) -> None:
    schema.metadata.create_all(
        conn,
        tables=[
            schema.telemetry,
            schema.ingest_offsets,
            schema.dead_letters,
        ],
    )
    if timescale:
        conn.execute(
            text(
                "SELECT create_hypertable('telemetry', by_range('time', CAST(:chunk AS interval)), "
                "migrate_data => true)"
            ),
            {"chunk": TELEMETRY_CHUNK_INTERVAL},
        )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "telemetry, ingest offsets and dead letters", _v1_initial),
)


def timescaledb_available(conn: Connection) -> bool:
    """True when the TimescaleDB extension is installed, or installable here."""
    installed = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).first()
    if installed:
        return True
    available = conn.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).first()
    if available:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
        return True
    return False


def migrate(database_url: str) -> list[int]:
    """Apply pending migrations in order, each in its own transaction; return those applied."""
    engine = db.engine(database_url)
    applied_now = []
    try:
        with engine.begin() as conn:
            schema.metadata.create_all(conn, tables=[schema.schema_migrations])
            timescale = timescaledb_available(conn)
        for migration in MIGRATIONS:
            with engine.begin() as conn:
                conn.execute(text("LOCK TABLE schema_migrations IN EXCLUSIVE MODE"))
                done = conn.execute(
                    text("SELECT 1 FROM schema_migrations WHERE version = :v"),
                    {"v": migration.version},
                ).first()
                if done:
                    continue
                migration.apply(conn, timescale)
                conn.execute(
                    schema.schema_migrations.insert().values(
                        version=migration.version, description=migration.description
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
    return applied_now

"""Database connections, made in one place.

Server-side prepared statements are off: the PGlite TimescaleDB server runs every client in
one backend session, where a second connection's automatically prepared ``_pg3_0`` collides
with the first one's. Our statements are few and batch-sized, so nothing is lost elsewhere.

PGlite also serves one connection at a time and frees its slot a moment after a client has
gone, so a connection refused at once is retried for a short while before the error stands.
"""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from twin.settings import libpq_url, mask_url

CONNECT_TIMEOUT_S = 10
CONNECT_RETRY_S = 3.0


def connect(
    url: str, autocommit: bool = False, application_name: str = "twin"
) -> psycopg.Connection:
    """A psycopg connection to ``url`` with the project's session settings."""
    deadline = time.monotonic() + CONNECT_RETRY_S
    while True:
        try:
            return psycopg.connect(
                libpq_url(url),
                autocommit=autocommit,
                prepare_threshold=None,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name=application_name,
            )
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise psycopg.OperationalError(f"cannot connect to {mask_url(url)}: {exc}") from exc
            time.sleep(0.1)


def engine(url: str) -> Engine:
    """A SQLAlchemy engine for schema work; no pool (one connection at a time on PGlite)."""
    return create_engine(
        "postgresql+psycopg://",
        poolclass=NullPool,
        creator=lambda: connect(url, application_name="twin-migrate"),
    )

"""The writer: one transaction per consumed batch holding rows, dead letters and offsets.

Native PostgreSQL gets a binary COPY into a temporary staging table; servers without COPY
(the PGlite TimescaleDB build) get ``INSERT ... SELECT FROM unnest(arrays)``. Both end in
``INSERT ... ON CONFLICT (sat_id, time) DO NOTHING``, so a replayed batch changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg

from ingest.db import connect
from ingest.pgcopy import binary_copy_payload
from twin.settings import InputError
from twin.telemetry import CHANNELS, Frame

NS_PER_US = 1000

_STAGE_COLUMNS = ("time_unix_us", "sat_id", *CHANNELS)
_STAGE_TYPES = ("int8", "int4", *(c.pg_type for c in CHANNELS.values()))

_FROM_STAGE = (
    "INSERT INTO telemetry (time, sat_id, {cols}) "
    "SELECT timestamptz 'epoch' + time_unix_us * interval '1 microsecond', sat_id, {vals} "
    "FROM {source} ON CONFLICT (sat_id, time) DO NOTHING"
)
_COLS = ", ".join(CHANNELS)
# NaN marks a value that could not be computed; the table stores it as NULL.
_VALS = ", ".join(
    f"NULLIF({name}, 'NaN'::float8)" if c.pg_type == "float8" else name
    for name, c in CHANNELS.items()
)
INSERT_FROM_STAGE = _FROM_STAGE.format(cols=_COLS, vals=_VALS, source="telemetry_stage")
INSERT_FROM_UNNEST = _FROM_STAGE.format(
    cols=_COLS,
    vals=_VALS,
    source="unnest("
    + ", ".join(f"%s::{t}[]" for t in _STAGE_TYPES)
    + ") AS s("
    + ", ".join(_STAGE_COLUMNS)
    + ")",
)
CREATE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS telemetry_stage ("
    + ", ".join(f"{c} {t} NOT NULL" for c, t in zip(_STAGE_COLUMNS, _STAGE_TYPES, strict=True))
    + ") ON COMMIT DELETE ROWS"
)
UPSERT_OFFSET = (
    "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset, updated_at) "
    "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (consumer_group, topic, partition) "
    "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"
)
INSERT_DEAD_LETTER = (
    "INSERT INTO dead_letters (topic, partition, kafka_offset, reason, payload) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be stored, with where it came from and why."""

    topic: str
    partition: int
    offset: int
    reason: str
    payload: bytes


@dataclass(frozen=True)
class Columns:
    """Telemetry rows as columns: ``time_unix_us`` (n,) int64, ``sat_id`` (n,) int32,
    and one (n,) array per channel in the channel's dtype."""

    time_unix_us: np.ndarray
    sat_id: np.ndarray
    channels: dict[str, np.ndarray]

    @property
    def n_rows(self) -> int:
        return int(self.sat_id.shape[0])


def frames_to_columns(frames: list[Frame]) -> Columns:
    """Concatenate frames into row columns (row i of a frame is satellite sat_id[i])."""
    if not frames:
        empty = np.empty(0)
        return Columns(
            empty.astype(np.int64),
            empty.astype(np.int32),
            {name: empty.astype(c.dtype) for name, c in CHANNELS.items()},
        )
    counts = np.array([f.sat_id.shape[0] for f in frames])
    times_us = np.array([f.time_unix_ns // NS_PER_US for f in frames], dtype=np.int64)
    return Columns(
        time_unix_us=np.repeat(times_us, counts),
        sat_id=np.concatenate([f.sat_id for f in frames]).astype(np.int32),
        channels={
            name: np.concatenate([f.channels[name] for f in frames]).astype(c.dtype)
            for name, c in CHANNELS.items()
        },
    )


def server_supports_copy(conn: psycopg.Connection) -> bool:
    """COPY FROM STDIN breaks the connection on the PGlite (WASM) server; use it elsewhere."""
    version = conn.execute("SELECT version()").fetchone()[0]
    return "emscripten" not in version.lower() and "emcc" not in version.lower()


class Writer:
    """Writes decoded batches; opens its connection on first use."""

    def __init__(self, database_url: str, consumer_group: str) -> None:
        self._url = database_url
        self._group = consumer_group
        self._conn: psycopg.Connection | None = None
        self._use_copy = True

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url, application_name="twin-ingest")
            self._use_copy = server_supports_copy(self._conn)
            self._conn.commit()
        return self._conn

    def check(self) -> None:
        """Connect now; raise ``InputError`` naming the database if it cannot be reached."""
        try:
            self._connection()
        except psycopg.OperationalError as exc:
            raise InputError(f"--database: {exc}".splitlines()[0]) from None

    def stored_offsets(self, topic: str) -> dict[int, int]:
        """The next offset to consume per partition, as last committed with the data."""
        conn = self._connection()
        rows = conn.execute(
            "SELECT partition, next_offset FROM ingest_offsets "
            "WHERE consumer_group = %s AND topic = %s",
            (self._group, topic),
        ).fetchall()
        conn.commit()
        return dict(rows)

    def write(
        self, columns: Columns, dead: list[DeadLetter], offsets: dict[tuple[str, int], int]
    ) -> int:
        """Store rows, dead letters and next offsets in one transaction; return rows inserted
        (rows already present are not counted)."""
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cur:
            inserted = self._insert_rows(cur, columns) if columns.n_rows else 0
            if dead:
                cur.executemany(
                    INSERT_DEAD_LETTER,
                    [(d.topic, d.partition, d.offset, d.reason, d.payload) for d in dead],
                )
            cur.executemany(
                UPSERT_OFFSET,
                [
                    (self._group, topic, partition, offset)
                    for (topic, partition), offset in sorted(offsets.items())
                ],
            )
        return inserted

    def _insert_rows(self, cur: psycopg.Cursor, columns: Columns) -> int:
        arrays = [columns.time_unix_us, columns.sat_id, *(columns.channels[c] for c in CHANNELS)]
        if self._use_copy:
            cur.execute(CREATE_STAGE)
            with cur.copy("COPY telemetry_stage FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(binary_copy_payload(list(zip(arrays, _STAGE_TYPES, strict=True))))
            cur.execute(INSERT_FROM_STAGE)
        else:
            cur.execute(INSERT_FROM_UNNEST, [a.tolist() for a in arrays])
        return cur.rowcount

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

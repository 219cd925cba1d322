"""``twin export``: any table or view of the store to CSV or Parquet, for auditors and tools
that do not speak SQL.

The relation is looked up in the store's catalogue (a name that is not one of its tables or
views is refused, and names reach SQL only as identifiers); a time range applies to its time
column (``time``, else ``bucket``, ``hour``, ``day`` or ``opened_at``), satellites to its
``sat_id``. CSV is PostgreSQL's own (``COPY ... TO STDOUT``, streamed); Parquet is written in
row groups of ``BATCH_ROWS`` from a server-side cursor, each column typed from the relation's
PostgreSQL type (timestamps in UTC microseconds), so memory stays bounded on any store size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from twin.core.errors import InputError

FORMATS = ("csv", "parquet")
TIME_COLUMNS = ("time", "bucket", "hour", "day", "opened_at")
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: int
    columns: tuple[str, ...]


def _columns(conn: psycopg.Connection, relation: str) -> list[tuple[str, str]]:
    """(name, PostgreSQL type name) of the relation's columns, in order; InputError when the
    store has no such table or view."""
    found = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (relation,),
    ).fetchall()
    if not found:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') "
                "AND c.relname NOT LIKE 'telemetry\\_p%%' AND c.relname NOT LIKE '\\_%%' "
                "ORDER BY 1"
            ).fetchall()
        ]
        raise InputError(f"--table: {relation!r} is not a table or view of the store; one of: "
                         f"{', '.join(names)}")  # fmt: skip
    return found


def _query(
    relation: str,
    columns: list[tuple[str, str]],
    since: datetime | None,
    until: datetime | None,
    satellites: list[int] | None,
) -> sql.Composed:
    """The SELECT of the rows asked for, values as literals (COPY takes no parameters)."""
    names = [name for name, _ in columns]
    where = []
    if since is not None or until is not None:
        time_column = next((c for c in TIME_COLUMNS if c in names), None)
        if time_column is None:
            raise InputError(f"--since / --until: {relation!r} has no time column")
        if since is not None:
            where.append(
                sql.SQL("{} >= {}").format(sql.Identifier(time_column), sql.Literal(since))
            )
        if until is not None:
            where.append(sql.SQL("{} < {}").format(sql.Identifier(time_column), sql.Literal(until)))
    if satellites is not None:
        if "sat_id" not in names:
            raise InputError(f"--satellites: {relation!r} has no sat_id column")
        where.append(sql.SQL("sat_id = ANY({}::int4[])").format(sql.Literal(satellites)))
    order = [c for c in ("sat_id", *TIME_COLUMNS) if c in names][:2]
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in names), sql.Identifier(relation)
    )
    if where:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
    if order:
        query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(sql.Identifier(c) for c in order)
    return query


def export(
    url: str,
    relation: str,
    out: Path,
    fmt: str = "csv",
    since: datetime | None = None,
    until: datetime | None = None,
    satellites: list[int] | None = None,
) -> Exported:
    """Write ``relation`` (rows in the time range, of the satellites) to ``out``."""
    if fmt not in FORMATS:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    from ingest.store.db import connect

    with connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        columns = _columns(conn, relation)
        query = _query(relation, columns, since, until, satellites)
        try:
            handle = out.open("wb")
        except OSError as exc:
            raise InputError(f"--out: {exc.strerror}: {out}") from None
        with handle:
            if fmt == "csv":
                rows = _csv(conn, query, handle)
            else:
                rows = _parquet(conn, query, columns, handle)
    return Exported(out, rows, tuple(name for name, _ in columns))


def _csv(conn: psycopg.Connection, query: sql.Composed, handle) -> int:
    """Stream the rows as PostgreSQL's CSV with a header; returns the rows written."""
    copy_query = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(query)
    with conn.cursor() as cur:
        with cur.copy(copy_query) as copy:
            for chunk in copy:
                handle.write(chunk)
        return cur.rowcount


def _arrow_type(pg_type: str):
    import pyarrow as pa

    return {
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "real": pa.float32(),
        "double precision": pa.float64(),
        "numeric": pa.float64(),
        "boolean": pa.bool_(),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
        "timestamp without time zone": pa.timestamp("us"),
        "bytea": pa.binary(),
    }.get(pg_type, pa.string())


def _parquet(conn: psycopg.Connection, query: sql.Composed, columns, handle) -> int:
    """Write the rows as Parquet row groups of ``BATCH_ROWS``; returns the rows written."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "--format parquet: needs pyarrow (pip install 'orbital-twin[parquet]')"
        ) from None

    schema = pa.schema([(name, _arrow_type(pg_type)) for name, pg_type in columns])
    rows = 0
    with conn.cursor(name="twin_export") as cur, pq.ParquetWriter(handle, schema) as writer:
        cur.itersize = BATCH_ROWS
        cur.execute(query)
        while batch := cur.fetchmany(BATCH_ROWS):
            arrays = []
            for i, field in enumerate(schema):
                values = [r[i] for r in batch]
                if pa.types.is_string(field.type):
                    values = [_text(v) for v in values]
                elif pa.types.is_floating(field.type):
                    values = [None if v is None else float(v) for v in values]
                arrays.append(pa.array(values, type=field.type))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(batch)
    return rows


def _text(value) -> str | None:
    """A value of a column with no Arrow type of its own, as text (JSON for documents)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)

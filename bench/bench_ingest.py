"""Ingest throughput into PostgreSQL: Kafka → database, against a ceiling and a naive consumer.

For ``threebody-2800`` frames, in one run against ``$TWIN_KAFKA_BOOTSTRAP`` and
``$TWIN_DATABASE_URL`` (a role that may create databases), each in a fresh database:
- ceiling: the same rows loaded by one binary COPY straight into ``telemetry``, no Kafka;
- ours: ``twin ingest``'s loop (poll, decode, validate, COPY, lineage, offsets) reading the
  frames from the broker, rows per second;
- naive: one INSERT per row, one transaction per frame (timed on a sample of frames);
- end to end: ``twin run`` and ``twin ingest`` as two processes at once on this machine.

With ``--timescale`` the ceiling and ``twin ingest`` run against ``$TWIN_TIMESCALE_URL``
(hypertables) instead, and the storage figures are printed: bytes per sample in the
hypertable, after compressing every chunk (and per column), and as JSON on the broker (raw and
zstd); then the same rows loaded by COPY under other compression settings, and at full
precision instead of each channel's stored resolution, for comparison.

Run: ``eval "$(scripts/stack up)"; python bench/bench_ingest.py [--timescale]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from psycopg import sql

from ingest.service.batch import frames_to_columns
from ingest.service.consumer import run_ingest
from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import StoreSettings, migrate
from ingest.store.pgcopy import BINARY_DTYPES, PG_EPOCH_UNIX_US, binary_copy_payload
from twin.core.clock import NS_PER_S, parse_start
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.stream.broker import Producer, ensure_topics, load_topics
from twin.wire import telemetry

START = "2026-03-20T12:00:00Z"
T0 = parse_start(START)


def fresh_database(admin_url: str, register: bool = True, store: str = "postgresql") -> str:
    """A new database migrated on the path ``store`` names (``ingest.store.migrate.choose_store``);
    with ``register``, threebody-2800 registered at 1 s."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    # Fixed past dates: keep them from the TimescaleDB policies running in the background.
    keep = StoreSettings(
        retain_telemetry="36500 days", retain_events="36500 days", compress_after="36500 days"
    )
    migrate(url, keep, store=store)
    if register:
        fleet, hw = build(load_preset("threebody-2800"), T0)
        register_fleet(url, fleet, hw, "threebody-2800", ["a", "b", "c"], 1.0)
    return url


def drop_database(admin_url: str, url: str) -> None:
    """Drop a benchmark database; an autovacuum worker in it may delay that a little."""
    statement = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
        sql.Identifier(urlsplit(url).path.lstrip("/"))
    )
    for attempt in range(20):
        try:
            with connect(admin_url, autocommit=True) as conn:
                conn.execute(statement)
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == 19:
                raise
            time.sleep(0.5)


def ceiling(url: str, frames: list, partitioned: bool = True, full_precision=False) -> float:
    """One binary COPY of every row straight into ``telemetry`` (made daily partitions first
    when ``partitioned``; values as sent rather than at their stored resolution when
    ``full_precision``); returns rows/s."""
    columns = frames_to_columns([(0, i, f) for i, f in enumerate(frames)])
    if full_precision:
        for name in columns.channels:
            columns.channels[name] = np.concatenate(
                [f.channels.get(name, np.full(f.sat_id.shape[0], np.nan)) for f in frames]
            ).astype(np.float64)
    types = {name: c.pg_type for name, c in telemetry.CHANNELS.items()}
    arrays = [
        (columns.time_unix_us - PG_EPOCH_UNIX_US, "timestamptz"),
        (columns.sat_id, "int4"),
        (columns.batch_id, "int8"),
        (columns.kafka_offset, "int8"),
        *(
            (columns.channels[n].astype(np.dtype(BINARY_DTYPES[t]).newbyteorder("=")), t)
            for n, t in types.items()
        ),
    ]
    payload = binary_copy_payload(arrays)
    names = ", ".join(["time", "sat_id", "batch_id", "kafka_offset", *types])
    with connect(url) as conn:
        if partitioned:
            conn.execute("SELECT twin_ensure_partitions(%s::int8[])", (_days(frames),))
            conn.commit()
        t0 = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY telemetry ({names}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(payload)
        conn.commit()
        elapsed = time.perf_counter() - t0
    return columns.n_rows / elapsed


def _days(frames: list) -> list[int]:
    """Days since 1970-01-01 the frames cover (for the daily partitions)."""
    return sorted({f.time_unix_ns // (86_400 * NS_PER_S) for f in frames})


def _ts(t_ns: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t_ns / 1e9, UTC)


def naive(url: str, frames: list) -> float:
    """One INSERT per row, a transaction per frame; returns rows/s."""
    names = ["time", "sat_id", "batch_id", "kafka_offset", *telemetry.CHANNELS]
    statement = (
        f"INSERT INTO telemetry ({', '.join(names)}) VALUES "
        f"({', '.join(['%s'] * len(names))}) ON CONFLICT DO NOTHING"
    )
    rows = 0
    with connect(url) as conn:
        conn.execute("SELECT twin_ensure_partitions(%s::int8[])", (_days(frames),))
        conn.commit()
        t0 = time.perf_counter()
        for offset, frame in enumerate(frames):
            time_value = _ts(frame.time_unix_ns)
            for i, sat in enumerate(frame.sat_id.tolist()):
                values = [frame.channels[n][i].item() for n in telemetry.CHANNELS]
                conn.execute(statement, [time_value, sat, 0, offset, *values])
                rows += 1
            conn.commit()
        elapsed = time.perf_counter() - t0
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=120)
    parser.add_argument("--timescale", action="store_true", help="into $TWIN_TIMESCALE_URL")
    args = parser.parse_args()
    bootstrap = os.environ["TWIN_KAFKA_BOOTSTRAP"]
    if args.timescale:
        timescale(bootstrap, os.environ["TWIN_TIMESCALE_URL"], args.ticks)
        return
    admin_url = os.environ["TWIN_DATABASE_URL"]
    frames = _frames(args.ticks)
    rows = sum(f.sat_id.shape[0] for f in frames)

    url = fresh_database(admin_url)
    try:
        ceiling_rows_s = ceiling(url, frames)
    finally:
        drop_database(admin_url, url)

    prefix = _send(bootstrap, frames)
    url = fresh_database(admin_url)
    try:
        t0 = time.monotonic()
        stats = run_ingest(bootstrap, url, prefix, group="bench", stop_when_caught_up=True)
        whole_rows_s = stats.rows_inserted / (time.monotonic() - t0)
        ours_rows_s = stats.rows_inserted / (stats.last_write_s - stats.first_record_s)
        assert stats.rows_inserted == rows, stats
    finally:
        drop_database(admin_url, url)

    url = fresh_database(admin_url)
    try:
        naive_rows_s = naive(url, frames[:100])
    finally:
        drop_database(admin_url, url)

    n_sat = rows // args.ticks
    print(f"rows: {rows} ({args.ticks} ticks of {n_sat} satellites, {len(frames)} frames)")
    print(f"ceiling, one binary COPY, no Kafka: {ceiling_rows_s:>10,.0f} rows/s")
    print(
        f"twin ingest from Kafka:              {ours_rows_s:>10,.0f} rows/s "
        f"({ours_rows_s / ceiling_rows_s:.0%} of the ceiling; {whole_rows_s:,.0f} rows/s "
        "counting the consumer group join)"
    )
    print(
        f"naive, one INSERT per row:           {naive_rows_s:>10,.0f} rows/s "
        f"(twin ingest is {ours_rows_s / naive_rows_s:.0f}x faster)"
    )
    end_to_end(bootstrap, admin_url, args.ticks)


def _frames(ticks: int) -> list:
    fleet, hw = build(load_preset("threebody-2800"), T0)
    frames: list[telemetry.Frame] = []
    run(fleet, hw, RunPlan(T0, NS_PER_S, ticks), FramesTo(frames.append))
    return frames


def _send(bootstrap: str, frames: list) -> str:
    """Send ``frames`` to fresh topics; returns their prefix."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    ensure_topics(bootstrap, list(load_topics(prefix=prefix).values()))
    producer = Producer(bootstrap, client_id="bench")
    for frame in frames:
        producer.send(prefix + "twin.telemetry", frame.group.encode(), telemetry.encode(frame))
    producer.flush()
    producer.close()
    return prefix


def _ingest(bootstrap: str, url: str, frames: list) -> float:
    """``twin ingest``'s loop over ``frames`` sent to fresh topics; rows/s from the first
    record to the last commit."""
    prefix = _send(bootstrap, frames)
    stats = run_ingest(bootstrap, url, prefix, group="bench", stop_when_caught_up=True)
    assert stats.rows_inserted == sum(f.sat_id.shape[0] for f in frames), stats
    return stats.rows_inserted / (stats.last_write_s - stats.first_record_s)


def timescale(bootstrap: str, admin_url: str, ticks: int) -> None:
    """Hypertable ingest against the COPY ceiling on the same server, and storage per sample."""
    import zstandard

    frames = _frames(ticks)
    rows = sum(f.sat_id.shape[0] for f in frames)
    url = fresh_database(admin_url, store="timescaledb")
    try:
        ceiling_rows_s = ceiling(url, frames, partitioned=False)
    finally:
        drop_database(admin_url, url)
    url = fresh_database(admin_url, store="timescaledb")
    try:
        ours_rows_s = _ingest(bootstrap, url, frames)
        with connect(url, autocommit=True) as conn:
            raw, packed, per_column = _compress(conn)
    finally:
        drop_database(admin_url, url)
    encoded = [telemetry.encode(f) for f in frames]
    json_bytes = sum(len(e) for e in encoded)
    zstd_bytes = len(zstandard.ZstdCompressor(level=3).compress(b"".join(encoded)))
    print(f"rows: {rows} ({ticks} ticks of threebody-2800, {len(frames)} frames), TimescaleDB")
    print(f"ceiling, one binary COPY into the hypertable: {ceiling_rows_s:>10,.0f} rows/s")
    print(
        f"twin ingest from Kafka into the hypertable:   {ours_rows_s:>10,.0f} rows/s "
        f"({ours_rows_s / ceiling_rows_s:.0%} of the ceiling)"
    )
    print(
        f"bytes per sample: hypertable {raw / rows:.0f}, compressed {packed / rows:.1f} "
        f"({raw / packed:.1f}x); broker JSON {json_bytes / rows:.0f}, zstd {zstd_bytes / rows:.0f}"
    )
    top = sorted(per_column.items(), key=lambda kv: -kv[1])[:8]
    print(
        "compressed bytes per sample by column: " + ", ".join(f"{c} {b / rows:.2f}" for c, b in top)
    )
    print("compression settings and resolution, each loaded by COPY and compressed:")
    for label, settings, full_precision in STORAGE_VARIANTS:
        url = fresh_database(admin_url, store="timescaledb")
        try:
            with connect(url, autocommit=True) as conn:
                if settings:
                    conn.execute(sql.SQL(settings))
            ceiling(url, frames, partitioned=False, full_precision=full_precision)
            with connect(url, autocommit=True) as conn:
                raw, packed, _ = _compress(conn)
        finally:
            drop_database(admin_url, url)
        print(f"  {label:<58} {packed / rows:6.1f} B/sample ({raw / packed:4.1f}x)")


# (label, ALTER TABLE statement or "", values at full precision): the store's own settings
# first, then each alternative changing one thing.
STORAGE_VARIANTS = [
    ("segment by sat_id, order by time DESC (the store's)", "", False),
    (
        "segment by sat_id, order by time ASC",
        "ALTER TABLE telemetry SET (timescaledb.compress_orderby = 'time ASC')",
        False,
    ),
    (
        "no segment, order by sat_id, time DESC",
        "ALTER TABLE telemetry SET (timescaledb.compress_segmentby = '', "
        "timescaledb.compress_orderby = 'sat_id, time DESC')",
        False,
    ),
    ("the store's settings, values at full precision", "", True),
]


def _compress(conn) -> tuple[int, int, dict[str, int]]:
    """Compress every chunk of ``telemetry``; returns its bytes before and after, and the bytes
    of each column in the compressed chunks."""
    raw = conn.execute("SELECT hypertable_size('telemetry')").fetchone()[0]
    conn.execute("SELECT compress_chunk(c) FROM show_chunks('telemetry') c")
    packed = conn.execute("SELECT hypertable_size('telemetry')").fetchone()[0]
    tables = conn.execute(
        "SELECT cc.schema_name, cc.table_name FROM _timescaledb_catalog.chunk c"
        " JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id"
    ).fetchall()
    per_column: dict[str, int] = {}
    for schema, table in tables:
        for column in ["time", "sat_id", "batch_id", "kafka_offset", *telemetry.CHANNELS]:
            query = sql.SQL("SELECT coalesce(sum(pg_column_size({})), 0) FROM {}").format(
                sql.Identifier(column), sql.Identifier(schema, table)
            )
            per_column[column] = per_column.get(column, 0) + conn.execute(query).fetchone()[0]
    return raw, packed, per_column


def end_to_end(bootstrap: str, admin_url: str, ticks: int) -> None:
    """twin run and twin ingest as two processes at once; rows stored per second."""
    url = fresh_database(admin_url)
    env = {
        **os.environ,
        "TWIN_KAFKA_BOOTSTRAP": bootstrap,
        "TWIN_DATABASE_URL": url,
        "TWIN_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
    }
    twin = [sys.executable, "-m", "twin"]
    try:
        subprocess.run([*twin, "topics", "ensure"], env=env, check=True, capture_output=True)
        t0 = time.perf_counter()
        producer = subprocess.Popen(
            [
                *twin,
                "run",
                "--preset",
                "threebody-2800",
                "--start",
                START,
                "--duration",
                f"{ticks}s",
                "--speed",
                "max",
                "--checkpoint-every",
                "off",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        consumer = subprocess.Popen(
            [*twin, "ingest"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        producer.wait()
        expected = ticks * 2800
        while True:
            with connect(url) as conn:
                stored = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
            if stored >= expected:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0
        consumer.terminate()
        consumer.wait()
        print(
            f"end to end, twin run + twin ingest at once: {expected / elapsed:>10,.0f} rows/s "
            f"({elapsed:.1f} s for {expected} rows)"
        )
    finally:
        drop_database(admin_url, url)


if __name__ == "__main__":
    main()

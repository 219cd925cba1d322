"""Latency of every fleet panel over a day of ``threebody-2800``, against the same panel on
raw telemetry.

Loads ``--hours`` (default 24) simulated hours of ``threebody-2800`` at ``--step`` (default
60 s) ticks into a fresh PostgreSQL database (``$TWIN_DATABASE_URL``, a role that may create
databases) and, with ``--timescale``, into a fresh database on the TimescaleDB server
(``$TWIN_TIMESCALE_URL``). Then, for every dashboard panel that reads the
per-minute rollup ``telemetry_1m``, runs the query Grafana would send for the whole range
(every variable at "All", 1-minute interval) ``--repeats`` times and prints p50 and p95,
next to the same query with ``telemetry_1m`` computed from raw telemetry on the fly (a
``WITH telemetry_1m AS (...)`` over ``telemetry``): the panel written against raw tables.

On TimescaleDB the rollup is a continuous aggregate (materialised here by
``refresh_continuous_aggregate``); on plain PostgreSQL it is a table ingest keeps as it stores
the rows (``ingest.store.minute_rollup``), so the panel reads minutes on both paths.

Run: ``eval "$(scripts/stack up)"; python bench/bench_grafana.py [--timescale]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from bench_ingest import drop_database, fresh_database  # bench/ is on the path

from ingest.service.batch import PartitionBatch
from ingest.service.writer import Writer
from ingest.store.audit import _TELEMETRY_1M_COLUMNS
from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from twin.core.clock import NS_PER_S, parse_start
from twin.grafana.dashboards import BOARDS, VARIABLES
from twin.grafana.sql import interpolate
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset

T0 = parse_start("2026-03-20T12:00:00Z")
RAW_ROLLUP = (
    "telemetry_1m AS (SELECT twin_bucket('1 minute', time) AS bucket, "
    f"{_TELEMETRY_1M_COLUMNS} FROM telemetry GROUP BY 1, sat_id)"
)


def on_raw(query: str) -> str:
    """``query`` with ``telemetry_1m`` computed from raw telemetry in a common table."""
    if query.startswith("WITH "):
        return f"WITH {RAW_ROLLUP}, {query.removeprefix('WITH ')}"
    return f"WITH {RAW_ROLLUP} {query}"


def load(url: str, hours: float, step_s: int) -> int:
    """Simulate and store; return the rows stored."""
    fleet, hw = build(load_preset("threebody-2800"), T0)
    register_fleet(url, fleet, hw, "threebody-2800", ["a", "b", "c"], float(step_s))
    writer = Writer(url, "bench-grafana")
    frames: list = []
    stored = [0]

    def flush() -> None:
        part = PartitionBatch("bench", 0, stored[0], stored[0] + len(frames) - 1, len(frames))
        part.frames = [(stored[0] + i, f) for i, f in enumerate(frames)]
        stored[0] += len(frames)
        writer.write([part])
        frames.clear()

    def sink(frame) -> None:
        frames.append(frame)
        if len(frames) >= 14 * 30:  # 30 ticks of 14 frame groups per transaction
            flush()

    n_ticks = int(hours * 3600 / step_s)
    try:
        run(fleet, hw, RunPlan(T0, step_s * NS_PER_S, n_ticks), FramesTo(sink))
        if frames:
            flush()
    finally:
        writer.close()
    return n_ticks * fleet.n_sat


def panels() -> list[tuple[str, str]]:
    """(dashboard / panel, SQL) of every panel reading the rollup."""
    return [
        (f"{board.uid} / {panel.title}", panel.sql)
        for board in BOARDS
        for panel in board.panels
        if "telemetry_1m" in panel.sql
    ]


def timings(url: str, sql: str, repeats: int) -> tuple[float, float]:
    with connect(url) as conn:
        conn.execute(sql).fetchall()  # warm the cache as a dashboard in use would be
        seconds = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            conn.execute(sql).fetchall()
            seconds.append(time.perf_counter() - t0)
    p50, p95 = np.percentile(seconds, [50, 95])
    return p50 * 1000, p95 * 1000


def bench(
    url: str, timescale: bool, hours: float, step_s: int, repeats: int, raw_repeats: int
) -> None:
    t0 = time.perf_counter()
    rows = load(url, hours, step_s)
    if timescale:
        with connect(url, autocommit=True) as conn:
            for view in ("telemetry_1m", "fleet_1m", "fleet_1h"):
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
    print(
        f"{'TimescaleDB' if timescale else 'PostgreSQL'}: {rows:,} rows "
        f"({hours:g} h of threebody-2800 at {step_s} s) loaded in {time.perf_counter() - t0:.0f} s"
    )
    start = datetime.fromtimestamp(T0 / 1e9, UTC)
    end = start + timedelta(hours=hours)
    picked: dict[str, list[str]] = {}
    with connect(url) as conn:
        for variable in VARIABLES:
            found = conn.execute(interpolate(variable.sql, picked, start, end, "1m", timescale))
            values = [str(r[0]) for r in found.fetchall()]
            picked[variable.name] = values if variable.multi else values[:1]
    print(f"{'panel':60s} {'rollup p50/p95 ms':>20s} {'raw p50/p95 ms':>18s} {'raw/rollup':>10s}")
    worst = (0.0, "")
    for name, sql in panels():
        query = interpolate(sql, picked, start, end, "1m", timescale)
        fast = timings(url, query, repeats)
        worst = max(worst, (fast[1], name))
        if not raw_repeats:
            print(f"{name[:60]:60s} {fast[0]:9.1f} / {fast[1]:7.1f}")
            continue
        slow = timings(url, on_raw(query), raw_repeats)
        print(
            f"{name[:60]:60s} {fast[0]:9.1f} / {fast[1]:7.1f} {slow[0]:8.1f} / {slow[1]:7.1f}"
            f" {slow[0] / fast[0]:9.1f}x"
        )
    print(f"worst panel p95 over {repeats} warm runs: {worst[0]:.0f} ms ({worst[1]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--step", type=int, default=60, help="tick, seconds")
    parser.add_argument("--repeats", type=int, default=5, help="warm runs of each panel")
    parser.add_argument(
        "--raw-repeats",
        type=int,
        help="warm runs on raw telemetry (default: --repeats; 0: no raw comparison, which on a"
        " store of 60 M rows takes about a minute a query)",
    )
    parser.add_argument("--timescale", action="store_true", help="also on $TWIN_TIMESCALE_URL")
    args = parser.parse_args()
    raw_repeats = args.repeats if args.raw_repeats is None else args.raw_repeats
    admin = os.environ["TWIN_DATABASE_URL"]
    url = fresh_database(admin, register=False)
    try:
        bench(url, False, args.hours, args.step, args.repeats, raw_repeats)
    finally:
        drop_database(admin, url)
    if args.timescale:
        admin = os.environ["TWIN_TIMESCALE_URL"]
        url = fresh_database(admin, register=False, store="timescaledb")
        try:
            bench(url, True, args.hours, args.step, args.repeats, raw_repeats)
        finally:
            drop_database(admin, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

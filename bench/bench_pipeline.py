"""The whole pipeline at a size that matters: a Walker fleet through Kafka into the store,
against the twin alone (the reference, measured in the same run).

In one run against ``$TWIN_KAFKA_BOOTSTRAP`` and ``$TWIN_TIMESCALE_URL`` (``--store
postgresql``: ``$TWIN_DATABASE_URL``), a role that may create databases:
- the twin alone: ``twin.sim.engine.run`` of the fleet into a sink that drops the frames,
  samples per second;
- the pipeline: ``twin run`` (to Kafka) and ``twin ingest`` (into a fresh database where the
  fleet is registered) as two processes at once, ``--speed max`` or a paced ``--speed``;
  samples stored per second from the run's start until the last is stored, and how long
  after the run's end that was (at ``--speed 1``: how far the store trails real time).
Prints both and the pipeline's share of the twin alone.

Run: ``eval "$(scripts/stack up)"; python bench/bench_pipeline.py [--walker 30000/100/1]
[--minutes 3] [--speed max]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from ingest.store.db import connect
from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.constellation import walker_delta
from twin.fleet.hardware import hardware_arrays
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import load_preset

START = "2026-03-20T12:00:00Z"
T0 = parse_start(START)
STORE_TIMEOUT_S = 900.0


def twin_alone(total: int, planes: int, phasing: int, ticks: int) -> float:
    """Samples per second of the twin's loop alone for the Walker fleet."""
    preset = load_preset("threebody-12")
    fleet = walker_delta(total, planes, phasing, 500.0, 97.4, epoch_ns=T0)
    hw = hardware_arrays([preset.hardware[preset.shells[0].hardware]], [fleet.n_sat])
    t0 = time.perf_counter()
    run(fleet, hw, RunPlan(T0, NS_PER_S, ticks), FramesTo(lambda frame: None))
    return fleet.n_sat * ticks / (time.perf_counter() - t0)


def drop(admin: str, name: str) -> None:
    """Drop the bench's database; a background worker inside it (which FORCE may not end
    for a non-superuser) delays that by a moment."""
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    for _ in range(60):
        try:
            with connect(admin, autocommit=True) as conn:
                conn.execute(statement)
            return
        except psycopg.errors.InsufficientPrivilege:
            time.sleep(0.5)
    print(f"database {name} left behind: a background worker kept it busy", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walker", default="30000/100/1", help="TOTAL/PLANES/PHASING")
    parser.add_argument("--minutes", type=float, default=3.0, help="simulated minutes")
    parser.add_argument("--speed", default="max", help="'max' or simulated s per wall s")
    parser.add_argument("--store", choices=("timescaledb", "postgresql"), default="timescaledb")
    args = parser.parse_args()
    total, planes, phasing = (int(x) for x in args.walker.split("/"))
    ticks = round(args.minutes * 60)
    admin = os.environ["TWIN_TIMESCALE_URL" if args.store == "timescaledb" else "TWIN_DATABASE_URL"]
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    env = {
        **os.environ,
        "TWIN_DATABASE_URL": url,
        "TWIN_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
    }
    twin = [sys.executable, "-m", "twin"]
    fleet_args = ["--walker", args.walker, "--start", START]
    try:
        for command in (
            ["db", "migrate", "--store", args.store],
            ["db", "fleet", *fleet_args],
            ["topics", "ensure"],
        ):
            subprocess.run([*twin, *command], env=env, check=True, capture_output=True)
        ingest = subprocess.Popen(
            [*twin, "ingest", "--group", f"bench-{name}", "--no-rules"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(
            [*twin, "run", *fleet_args, "--duration", f"{ticks}s", "--speed", args.speed,
             "--checkpoint-every", "off", "--quiet"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        run_s = time.perf_counter() - t0
        expected, stored = total * ticks, 0
        with connect(url, autocommit=True) as conn:
            while stored < expected and time.perf_counter() - t0 < run_s + STORE_TIMEOUT_S:
                time.sleep(0.2)
                stored = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
        all_s = time.perf_counter() - t0
        ingest.terminate()
        ingest.wait(timeout=60)
    finally:
        drop(admin, name)
    alone = twin_alone(total, planes, phasing, min(ticks, 60))
    pipeline = stored / all_s
    print(
        f"walker {args.walker}: {ticks} ticks at 1 s, speed {args.speed}, {args.store} | "
        f"stored {stored:,} of {expected:,} samples, the last {all_s - run_s:.1f} s after "
        f"the run's end ({run_s:.1f} s) | pipeline {pipeline:,.0f} samples/s | twin alone "
        f"{alone:,.0f} samples/s | pipeline/twin {pipeline / alone:.2f}"
    )


if __name__ == "__main__":
    main()

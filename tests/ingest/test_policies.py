"""TimescaleDB's policies run on the native server: compression, retention and the
continuous aggregates' refresh, run by the server's own scheduler; policies changed on an
existing store; plain PostgreSQL's ``twin db retain``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ingest.service.batch import PartitionBatch
from ingest.service.writer import Writer
from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import StoreSettings, migrate
from twin.core.clock import NS_PER_S
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset

pytestmark = pytest.mark.integration

SCHEDULER_WAIT_S = 180.0  # generous: the scheduler runs jobs soon after next_start


def _ticks_at(url: str, starts: list[datetime], n_ticks: int, offset: int) -> int:
    """Store ``n_ticks`` 60-s ticks of threebody-12 from each of ``starts``, as ingest does;
    returns the next free offset."""
    writer = Writer(url, "g-policies")
    try:
        for start in starts:
            t0 = int(start.timestamp()) * NS_PER_S
            fleet, hw = build(load_preset("threebody-12"), t0)
            frames = []
            run(fleet, hw, RunPlan(t0, 60 * NS_PER_S, n_ticks), FramesTo(frames.append))
            part = PartitionBatch("t", 0, offset, offset + len(frames) - 1, len(frames))
            part.frames = [(offset + i, f) for i, f in enumerate(frames)]
            writer.write([part])
            offset += len(frames)
    finally:
        writer.close()
    return offset


def _jobs(conn) -> dict[str, int]:
    """The twin's policy jobs: "proc:hypertable or continuous aggregate" -> job id."""
    rows = conn.execute(
        "SELECT job_id, proc_name, hypertable_name FROM timescaledb_information.jobs "
        "WHERE job_id >= 1000"
    ).fetchall()
    return {f"{proc}:{table}": job for job, proc, table in rows}


def test_the_servers_scheduler_compresses_drops_and_refreshes(timescale_db):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    migrate(timescale_db, StoreSettings(compress_after="1 hour", retain_telemetry="30 days"))
    fleet, hw = build(load_preset("threebody-12"), 0)
    register_fleet(timescale_db, fleet, hw, "threebody-12", ["batch-1"], 60.0)
    old, recent, fresh = (
        now - timedelta(days=40),
        now - timedelta(hours=5),
        now - timedelta(minutes=30),
    )
    _ticks_at(timescale_db, [old, recent, fresh], 10, 0)
    with connect(timescale_db, autocommit=True) as conn:
        jobs = _jobs(conn)
        wanted = {
            jobs["policy_compression:telemetry"],
            jobs["policy_retention:telemetry"],
            jobs["policy_refresh_continuous_aggregate:telemetry_1m"],
        }
        asked = conn.execute("SELECT now()").fetchone()[0]
        # One at a time: the server's own jobs on one hypertable can deadlock each other
        # when they run at once (the scheduler then retries); each is waited for in turn.
        for job in sorted(wanted):
            conn.execute("SELECT alter_job(%s, next_start => now())", (job,))
            deadline = time.monotonic() + SCHEDULER_WAIT_S
            while not conn.execute(
                "SELECT 1 FROM timescaledb_information.job_stats WHERE job_id = %s "
                "AND last_run_started_at > %s AND job_status <> 'Running' "
                "AND last_run_status IS NOT NULL",
                (job, asked),
            ).fetchone():
                assert time.monotonic() < deadline, f"job {job} not run by the scheduler"
                time.sleep(1.0)
        # TimescaleDB 2.28.3 on PostgreSQL 15.18 commits each job's work, then fails dropping
        # the portal it made (PortalDrop of this minor release refuses a portal still "being
        # set up"), so the jobs count as failed and are retried, and a retry may deadlock
        # with another job (the server retries again). No other error; the effects are what
        # matters here, checked below.
        errors = conn.execute(
            "SELECT DISTINCT err_message FROM timescaledb_information.job_errors "
            "WHERE job_id = ANY(%s) AND start_time > %s",
            (list(wanted), asked),
        ).fetchall()
        for (error,) in errors:
            assert error == 'cannot drop portal "" while it is being set up' or error.startswith(
                "deadlock detected"
            ), error
        # Retention: the 40-day-old chunk is gone; the rest stays.
        assert conn.execute(
            "SELECT count(*) FROM telemetry WHERE time < now() - interval '30 days'"
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM telemetry").fetchone() == (2 * 10 * 12,)
        # Compression: the chunk of 5 hours ago is compressed, the current one is not.
        chunks = conn.execute(
            "SELECT range_end <= now() - interval '1 hour', is_compressed "
            "FROM timescaledb_information.chunks WHERE hypertable_name = 'telemetry'"
        ).fetchall()
        assert chunks and all(compressed == old_enough for old_enough, compressed in chunks)
        assert any(compressed for _, compressed in chunks)
        # Refresh: the materialised minutes hold the recent samples (not only real-time).
        schema, table = conn.execute(
            "SELECT materialization_hypertable_schema, materialization_hypertable_name "
            "FROM timescaledb_information.continuous_aggregates WHERE view_name = 'telemetry_1m'"
        ).fetchone()
        materialised = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
        assert materialised >= 2 * 10 * 12 - 12  # every minute but the open last one


def _policies(conn) -> dict[str, object]:
    rows = conn.execute(
        "SELECT proc_name, hypertable_name, config, schedule_interval "
        "FROM timescaledb_information.jobs WHERE job_id >= 1000"
    ).fetchall()
    return {f"{p}:{t}": (config, every) for p, t, config, every in rows}


def _migrate(url: str, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TWIN_DATABASE_URL": url, "TWIN_STORE": "auto"}
    return subprocess.run(
        [sys.executable, "-m", "twin", "db", "migrate", *options],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_migrate_changes_the_policies_of_an_existing_store_and_only_those_named(timescale_db):
    assert _migrate(timescale_db).returncode == 0
    done = _migrate(
        timescale_db, "--retain-telemetry", "30d", "--compress-after", "2h",
        "--cagg-refresh-every", "5m",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "policy changed: retain_telemetry = 30 days" in done.stdout
    again = _migrate(timescale_db)  # no option: nothing goes back to the defaults
    assert again.returncode == 0 and "policy changed" not in again.stdout
    with connect(timescale_db) as conn:
        policies = _policies(conn)
    assert policies["policy_retention:telemetry"][0]["drop_after"] == "30 days"
    assert policies["policy_retention:events"][0]["drop_after"] == "365 days"
    assert policies["policy_compression:telemetry"][0]["compress_after"] == "02:00:00"
    refresh = policies["policy_refresh_continuous_aggregate:telemetry_1m"]
    assert refresh[1] == timedelta(minutes=5) and refresh[0]["start_offset"] == "1 day"
    bad = _migrate(timescale_db, "--retain-telemetry", "soon")
    assert bad.returncode == 2 and "--retain-telemetry: 'soon'" in bad.stderr


def test_retain_drops_whole_old_partitions_on_plain_postgresql(database):
    migrate(database, store="postgresql")
    fleet, hw = build(load_preset("threebody-12"), 0)
    register_fleet(database, fleet, hw, "threebody-12", ["batch-1"], 60.0)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [today - timedelta(days=d) + timedelta(hours=6) for d in (10, 6, 5, 1)]
    _ticks_at(database, starts, 3, 0)
    env = {**os.environ, "TWIN_DATABASE_URL": database}
    done = subprocess.run(
        [sys.executable, "-m", "twin", "db", "retain", "--older-than", "5d"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dropped 2 telemetry partitions" in done.stdout
    with connect(database) as conn:
        days = conn.execute(
            "SELECT DISTINCT date_trunc('day', time) FROM telemetry ORDER BY 1"
        ).fetchall()
    # 10 and 6 days ago end before the cutoff; 5 days ago ends after it (kept whole).
    assert [d for (d,) in days] == [today - timedelta(days=5), today - timedelta(days=1)]
    assert np.all(np.diff([d.timestamp() for (d,) in days]) > 0)

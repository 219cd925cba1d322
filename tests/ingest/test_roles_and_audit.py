"""Least-privilege roles, and every rollup and audit view on both database paths."""

from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from ingest import audit
from ingest.db import connect
from ingest.dimensions import register_fleet
from ingest.migrate import INGEST_ROLE, READER_ROLE, migrate
from ingest.rules import load_rules
from ingest.writer import Event, PartitionBatch, Writer
from twin.clock import NS_PER_S, parse_start
from twin.engine import RunPlan, run
from twin.events import KINDS as EVENT_KINDS
from twin.jobs import decode_steps, encode_steps
from twin.presets import build, load_preset

pytestmark = pytest.mark.integration

T0 = parse_start("2026-03-20T12:00:00Z")
VIEWS = ["telemetry_1m", "fleet_1m", "fleet_1h"] + [
    s.split(" VIEW ")[1].split()[0] for s in audit.AUDIT_VIEWS
]


def _load_two_hours(url: str) -> tuple[int, float, int]:
    """Store two simulated hours of threebody-12 (10 s ticks) plus events and job steps;
    return (rows, tera-operations delivered, job steps)."""
    fleet, hw = build(load_preset("threebody-12"), T0)
    register_fleet(url, fleet, hw, "threebody-12", ["batch-1"], 10.0)
    frames, events, steps = [], [], []
    stats = run(
        fleet,
        hw,
        RunPlan(T0, 10 * NS_PER_S, 720),
        frames.append,
        events_sink=lambda e: events.extend(
            Event(e.time_unix_ns, int(s), EVENT_KINDS[k], int(st))
            for s, k, st in zip(e.sat_id, e.kind, e.station_id, strict=True)
        ),
        jobs_sink=lambda s: steps.append(decode_steps(encode_steps(s))),
    )
    part = PartitionBatch("twin.telemetry", 0, 0, len(frames) - 1, messages=len(frames))
    part.frames = list(enumerate(frames))
    part.events = [(i, e) for i, e in enumerate(events)]
    part.job_steps = list(enumerate(steps))
    with connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO anomalies (time, anomaly_id, sat_id, rule, severity, state, "
            "value, message) VALUES (%s, 'a-1', 3, 'battery_low', 'warning', 'open', "
            "0.28, 'low'), (%s, 'a-1', 3, 'battery_low', 'warning', 'closed', 0.4, "
            "'recovered')",
            (_ts(T0), _ts(T0 + 600 * NS_PER_S)),
        )
    writer = Writer(url, "audit")
    try:
        result = writer.write([part])
    finally:
        writer.close()
    assert result.job_steps_inserted == sum(len(s) for s in steps) > 0
    return result.rows_inserted, stats.compute_tera_ops, result.job_steps_inserted


def _ts(t_ns: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t_ns / 1e9, UTC)


@pytest.fixture(params=["postgresql", "timescaledb"])
def loaded(request):
    url = request.getfixturevalue("database" if request.param == "postgresql" else "timescale_db")
    migrate(url)
    loaded = _load_two_hours(url)
    if request.param == "timescaledb":  # PGlite runs no background jobs: refresh by hand
        with connect(url, autocommit=True) as conn:
            for view in ("telemetry_1m", "fleet_1m", "fleet_1h"):
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
            chunk = conn.execute("SELECT show_chunks('telemetry') LIMIT 1").fetchone()[0]
            conn.execute("SELECT compress_chunk(%s::regclass)", (chunk,))
    return url, *loaded


def test_every_rollup_and_audit_view_answers_with_consistent_figures(loaded):
    url, rows, tera_ops_run, job_steps = loaded
    assert rows == 720 * 12
    with connect(url) as conn:
        for view in VIEWS:
            assert conn.execute(f"SELECT count(*) FROM {view}").fetchone()[0] > 0, view
        assert conn.execute("SELECT sum(samples) FROM telemetry_1m").fetchone()[0] == rows
        assert conn.execute("SELECT sum(samples) FROM fleet_1h").fetchone()[0] == rows
        # Two whole hours at 10 s ticks: the rollups integrate exactly what the twin delivered.
        fleet_tops = conn.execute("SELECT avg(throughput_tops) FROM fleet_1h").fetchone()[0]
        assert fleet_tops == pytest.approx(tera_ops_run / 7200, rel=1e-9)
        tera_ops = conn.execute("SELECT sum(tera_ops) FROM audit_compute_daily").fetchone()[0]
        assert tera_ops == pytest.approx(tera_ops_run, rel=1e-9)
        assert 0.3 < fleet_tops / (12 * 420) < 0.9  # the workload keeps the fleet busy
        assert conn.execute("SELECT count(*) FROM job_events").fetchone()[0] == job_steps
        completeness = conn.execute(
            "SELECT min(completeness), max(completeness) FROM audit_completeness_hourly "
            "WHERE hour >= %s AND hour < %s",
            (_ts(T0), _ts(T0 + 7200 * NS_PER_S)),
        ).fetchone()
        assert completeness == (1.0, 1.0)
        orbits = conn.execute(
            "SELECT count(*) FROM audit_energy_per_orbit WHERE sat_id = 1 "
            "AND orbit > 0 AND orbit_end - orbit_start > '90 min'"
        ).fetchone()[0]
        assert orbits == 1  # one whole 94.6-minute orbit inside two hours
        history = conn.execute("SELECT opened_at, closed_at FROM audit_anomaly_history").fetchone()
        assert history[1] - history[0] == _ts(T0 + 600 * NS_PER_S) - _ts(T0)
        lineage = conn.execute(
            "SELECT topic, partition, kafka_offset FROM audit_row_lineage "
            "WHERE sat_id = 5 ORDER BY time LIMIT 2"
        ).fetchall()
        assert lineage == [("twin.telemetry", 0, 0), ("twin.telemetry", 0, 1)]


def _as_role(database_url: str, role: str) -> str:
    with connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD 'test-only'").format(sql.Identifier(role))
        )
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(netloc=f"{role}:test-only@{parts.hostname}:{parts.port}"))


def test_ingest_role_writes_new_rows_but_cannot_alter_history(database):
    migrate(database)
    fleet, hw = build(load_preset("threebody-12"), T0)
    register_fleet(database, fleet, hw, "threebody-12", ["batch-1"], 1.0)
    url = _as_role(database, INGEST_ROLE)
    frames = []
    run(fleet, hw, RunPlan(T0, NS_PER_S, 5), frames.append)
    part = PartitionBatch("twin.telemetry", 0, 0, 4, messages=5)
    part.frames = list(enumerate(frames))
    # The real write path: COPY, partitions, lineage, offsets, anomaly rules and their state.
    writer = Writer(url, "role-test", load_rules())
    try:
        assert writer.write([part]).rows_inserted == 60
    finally:
        writer.close()
    with connect(url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)
        assert conn.execute("SELECT count(*) FROM rule_state").fetchone() == (1,)
        for statement in (
            "UPDATE telemetry SET soc = 0",
            "DELETE FROM telemetry",
            "TRUNCATE telemetry",
            "DROP TABLE telemetry",
            "DELETE FROM ingest_batches",
            "UPDATE dead_letters SET reason = ''",
            "ALTER TABLE telemetry ADD COLUMN x int",
            "CREATE TABLE telemetry_p20300101 PARTITION OF telemetry FOR VALUES "
            "FROM ('2030-01-01') TO ('2030-01-02')",
            "UPDATE anomalies SET state = 'closed'",
            "DELETE FROM anomalies",
            "DELETE FROM rule_state",
            "SELECT * FROM fault_truth",  # the injected faults' truth: never seen by rules
            "SELECT * FROM score_runs",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_reader_role_reads_but_cannot_write(database):
    migrate(database)
    url = _as_role(database, READER_ROLE)
    with connect(url, autocommit=True) as conn:
        for view in VIEWS:
            conn.execute(f"SELECT * FROM {view} LIMIT 1")
        for statement in (
            "INSERT INTO satellites VALUES (1, 'x', 'x', 0, '{}', 1)",
            "DELETE FROM telemetry",
            "UPDATE ingest_offsets SET next_offset = 0",
            "DROP VIEW audit_row_lineage",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)

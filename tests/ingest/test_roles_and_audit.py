"""Least-privilege roles, and every rollup and audit view on both database paths (plain
PostgreSQL and TimescaleDB), each role logging in as itself."""

import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from ingest.rules.definitions import load_rules
from ingest.service.batch import Event, PartitionBatch
from ingest.service.writer import Writer
from ingest.store import audit
from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import migrate
from ingest.store.roles import INGEST_ROLE, READER_ROLE
from tests.conftest import KEEP_HISTORY, TEST_START, max_speed_args, role_url, twin_command
from twin.core.clock import NS_PER_S, parse_start
from twin.core.settings import (
    ENV_ALLOW_SUPERUSER,
    ENV_DATABASE,
    ENV_INGEST_DATABASE,
    ENV_INGEST_PASSWORD,
    ENV_KAFKA,
)
from twin.sim.engine import Collected, FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.wire.events import KINDS as EVENT_KINDS
from twin.wire.jobs import decode_steps, encode_steps
from twin.wire.telemetry import CHANNELS

pytestmark = pytest.mark.integration

T0 = parse_start("2026-03-20T12:00:00Z")
VIEWS = ["telemetry_1m", "fleet_1m", "fleet_1h"] + [
    s.split(" VIEW ")[1].split()[0] for s in audit.AUDIT_VIEWS
]


def _load_two_hours(url: str, role: str | None = None) -> tuple[int, float, int, int]:
    """Store two simulated hours of threebody-12 (10 s ticks) plus events and job steps,
    written acting as ``role`` (None: the login); return (rows, tera-operations delivered,
    job steps, contacts acquired as the run's summary counts them)."""
    fleet, hw = build(load_preset("threebody-12"), T0)
    register_fleet(url, fleet, hw, "threebody-12", ["batch-1"], 10.0)
    sink = Collected()
    stats = run(fleet, hw, RunPlan(T0, 10 * NS_PER_S, 720), sink)
    frames = sink.frames
    events = [
        Event(e.time_unix_ns, int(s), EVENT_KINDS[k], int(st))
        for e in sink.event_batches
        for s, k, st in zip(e.sat_id, e.kind, e.station_id, strict=True)
    ]
    steps = [decode_steps(encode_steps(s)) for s in sink.steps]
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
    writer = Writer(url, "audit", role=role)
    try:
        result = writer.write([part])
    finally:
        writer.close()
    assert result.job_steps_inserted == sum(len(s) for s in steps) > 0
    return result.rows_inserted, stats.compute_tera_ops, result.job_steps_inserted, stats.contacts


def _ts(t_ns: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t_ns / 1e9, UTC)


@pytest.fixture(params=["postgresql", "timescaledb"])
def loaded(request):
    url = request.getfixturevalue("database" if request.param == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=request.param)
    loaded = _load_two_hours(url, INGEST_ROLE)  # as ingest does: chunks, partitions included
    if request.param == "timescaledb":  # now, not at the policies' next run
        with connect(url, autocommit=True) as conn:
            for view in ("telemetry_1m", "fleet_1m", "fleet_1h"):
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
            chunk = conn.execute("SELECT show_chunks('telemetry') LIMIT 1").fetchone()[0]
            conn.execute("SELECT compress_chunk(%s::regclass)", (chunk,))
    return url, *loaded


def test_every_rollup_and_audit_view_answers_with_consistent_figures(loaded):
    url, rows, tera_ops_run, job_steps, _ = loaded
    assert rows == 720 * 12
    with connect(url) as conn:
        for view in VIEWS:
            assert conn.execute(f"SELECT count(*) FROM {view}").fetchone()[0] > 0, view
        assert conn.execute("SELECT sum(samples) FROM telemetry_1m").fetchone()[0] == rows
        assert conn.execute("SELECT sum(samples) FROM fleet_1h").fetchone()[0] == rows
        # Two whole hours at 10 s ticks: the rollups integrate what the twin delivered, each
        # sample within half its resolution of the value sent.
        half_tops = CHANNELS["throughput_tops"].resolution / 2
        fleet_tops = conn.execute("SELECT avg(throughput_tops) FROM fleet_1h").fetchone()[0]
        assert fleet_tops == pytest.approx(tera_ops_run / 7200, abs=12 * half_tops)
        tera_ops = conn.execute("SELECT sum(tera_ops) FROM audit_compute_daily").fetchone()[0]
        assert tera_ops == pytest.approx(tera_ops_run, abs=rows * half_tops * 10)
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


@pytest.fixture(params=["postgresql", "timescaledb"])
def store(request):
    """``(url, login(role) -> url)`` of a migrated store; ``login`` gives the role's own
    login."""
    url = request.getfixturevalue("database" if request.param == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=request.param)
    return url, lambda role: role_url(url, role)


COMMON_HISTORY_CHANGES = (
    "UPDATE telemetry SET soc = 0",
    "DELETE FROM telemetry",
    "TRUNCATE telemetry",
    "DROP TABLE telemetry",
    "DELETE FROM ingest_batches",
    "UPDATE dead_letters SET reason = ''",
    "ALTER TABLE telemetry ADD COLUMN x int",
    "UPDATE anomalies SET state = 'closed'",
    "DELETE FROM anomalies",
    "DELETE FROM rule_state",
    "DROP VIEW audit_row_lineage",
    "CREATE TABLE twin_extra (i int)",
    "SELECT * FROM fault_truth",  # the injected faults' truth: never seen by rules
    "SELECT * FROM score_runs",
)
HISTORY_CHANGES = {
    "postgresql": (
        "CREATE TABLE telemetry_p20300101 PARTITION OF telemetry FOR VALUES "
        "FROM ('2030-01-01') TO ('2030-01-02')",
        "DROP VIEW fleet_1h",
    ),
    "timescaledb": (
        "SELECT drop_chunks('telemetry', older_than => now())",
        "SELECT compress_chunk(c) FROM show_chunks('telemetry') AS c",
        "SELECT decompress_chunk(c) FROM show_chunks('telemetry') AS c",
        "SELECT remove_retention_policy('telemetry')",
        "SELECT add_retention_policy('events', INTERVAL '1 minute')",
        "SELECT set_chunk_time_interval('telemetry', INTERVAL '1 minute')",
        "ALTER TABLE telemetry SET (timescaledb.compress = false)",
        "CALL refresh_continuous_aggregate('telemetry_1m', NULL, NULL)",
        "DROP MATERIALIZED VIEW fleet_1h",
    ),
}


def _ingest_five_ticks(url: str, login) -> int:
    """Register threebody-12 (as the owner) and store five ticks as twin_ingest through the
    real write path: COPY (or unnest), partitions or chunks, lineage, offsets, anomaly rules
    and their state. Returns the rows inserted."""
    fleet, hw = build(load_preset("threebody-12"), T0)
    register_fleet(url, fleet, hw, "threebody-12", ["batch-1"], 1.0)
    frames = []
    run(fleet, hw, RunPlan(T0, NS_PER_S, 5), FramesTo(frames.append))
    part = PartitionBatch("twin.telemetry", 0, 0, 4, messages=5)
    part.frames = list(enumerate(frames))
    writer = Writer(login(INGEST_ROLE), "role-test", load_rules(), role=INGEST_ROLE)
    try:
        return writer.write([part]).rows_inserted
    finally:
        writer.close()


def test_ingest_role_writes_new_rows_but_cannot_alter_history(store, request):
    url, login = store
    assert _ingest_five_ticks(url, login) == 60
    kind = request.node.callspec.params["store"]
    with connect(login(INGEST_ROLE), autocommit=True, role=INGEST_ROLE) as conn:
        session_user, current_user = conn.execute("SELECT session_user, current_user").fetchone()
        assert current_user == INGEST_ROLE
        if kind == "postgresql":
            assert session_user == INGEST_ROLE  # its own login
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)
        assert conn.execute("SELECT count(*) FROM rule_state").fetchone() == (1,)
        for statement in (*COMMON_HISTORY_CHANGES, *HISTORY_CHANGES[kind]):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with connect(url) as conn:  # nothing above changed a row
        assert conn.execute("SELECT count(*), min(soc) > 0 FROM telemetry").fetchone() == (60, True)


def test_reader_role_reads_but_cannot_write(store, request):
    url, login = store
    assert _ingest_five_ticks(url, login) == 60  # a chunk or partition to try to change
    kind = request.node.callspec.params["store"]
    with connect(login(READER_ROLE), autocommit=True, role=READER_ROLE) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (READER_ROLE,)
        for view in VIEWS:
            conn.execute(f"SELECT * FROM {view} LIMIT 1")
        for statement in (
            "INSERT INTO satellites VALUES (1, 'x', 'x', 0, '{}', 1)",
            "INSERT INTO telemetry (time, sat_id, batch_id, kafka_offset) VALUES (now(), 1, 0, 0)",
            "INSERT INTO anomalies (time, anomaly_id, rule, severity, state) "
            "VALUES (now(), 'x', 'x', 'info', 'open')",
            "DELETE FROM telemetry",
            "UPDATE ingest_offsets SET next_offset = 0",
            "INSERT INTO rule_state VALUES ('g', 't', 0, '', now())",
            *COMMON_HISTORY_CHANGES[:-2],
            *HISTORY_CHANGES[kind],
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # What dashboards and auditors never read stays hidden; no statement runs forever.
        for table in ("fault_truth", "score_runs", "rule_state"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {table} LIMIT 1")
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)


def test_without_its_own_login_ingest_acts_as_twin_ingest_through_set_role(database):
    """The fallback: migration made the owner a member of twin_ingest; ingest's session
    logs in as the owner and every statement runs with twin_ingest's privileges."""
    migrate(database, logins={}, store="postgresql")
    with connect(database, autocommit=True, role=INGEST_ROLE) as conn:
        assert conn.execute("SELECT session_user, current_user").fetchone() == (
            urlsplit(database).username,
            INGEST_ROLE,
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM telemetry")


def _ingest_env(kafka_env: dict[str, str], database: str) -> dict[str, str]:
    """``twin`` commands' environment on ``database``, with ingest's password configured
    (the stack's file, else the session's: ``pytest_configure``)."""
    env = {**kafka_env, ENV_DATABASE: database}
    env.pop(ENV_INGEST_DATABASE, None)
    env.pop(ENV_ALLOW_SUPERUSER, None)
    return env


def test_ingest_service_logs_in_as_twin_ingest(kafka_env, database):
    """End to end: `twin ingest` stores a run with a session whose login (what
    pg_stat_activity shows) is twin_ingest, not the owner of TWIN_DATABASE_URL."""
    env = _ingest_env(kafka_env, database)
    assert "twin_ingest may log in" in twin_command("db", "migrate", env=env)
    twin_command("db", "fleet", "--preset", "threebody-12", "--start", TEST_START, env=env)
    twin_command(*max_speed_args("threebody-12", "2m"), env=env)
    ingest = subprocess.Popen(
        [sys.executable, "-m", "twin", "ingest", "--max-seconds", "300"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    logins, rows = set(), 0
    try:
        with connect(database, autocommit=True) as conn:
            deadline = time.monotonic() + 240  # generous: a loaded machine is slow, not wrong
            while (rows < 120 * 12 or not logins) and time.monotonic() < deadline:
                assert ingest.poll() is None, ingest.stderr.read()
                logins |= {
                    user
                    for (user,) in conn.execute(
                        "SELECT usename FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = 'twin-ingest'"
                    )
                }
                rows = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
                time.sleep(0.1)
    finally:  # stopped cleanly, or killed: never left running for the next test
        ingest.send_signal(signal.SIGINT)
        try:
            ingest.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            ingest.kill()
            ingest.communicate()
    assert rows == 120 * 12
    assert logins == {INGEST_ROLE}


def _twin(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_superuser_logins_are_refused(database, superuser_url, tmp_path):
    migrate(database, store="postgresql")
    su = urlunsplit(urlsplit(superuser_url)._replace(path=urlsplit(database).path))
    plain = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith((ENV_INGEST_PASSWORD, ENV_INGEST_DATABASE, ENV_ALLOW_SUPERUSER))
        and k != ENV_KAFKA
    }
    as_superuser = {**plain, ENV_DATABASE: su}
    refused = [
        (["ingest", "--kafka", "127.0.0.1:1"], as_superuser),
        (["ingest", "--kafka", "127.0.0.1:1"], {**plain, ENV_DATABASE: database,
                                                  ENV_INGEST_DATABASE: su}),
        (["rules", "check"], as_superuser),
        (["report", "--out", str(tmp_path / "report.html")], as_superuser),
        (["run", "--preset", "threebody-12", "--duration", "1m", "--speed", "max", "--quiet"],
         as_superuser),
    ]  # fmt: skip
    for args, env in refused:
        done = _twin(args, env)
        assert done.returncode == 2, (args, done.stderr)
        assert "refusing to work as 'postgres', a database superuser" in done.stderr, args
        assert "Traceback" not in done.stderr
    with connect(database) as conn:  # the refused run wrote nothing, not even its fleet
        assert conn.execute("SELECT count(*) FROM satellites").fetchone() == (0,)
    # Overridden, ingest gets past the database (to the missing broker), loudly.
    done = _twin(["ingest", "--kafka", "127.0.0.1:1"], {**as_superuser, ENV_ALLOW_SUPERUSER: "1"})
    assert done.returncode == 2 and "no Kafka broker answered" in done.stderr
    assert "a database SUPERUSER" in done.stderr
    # Migrating is the owner's job: a superuser owner (a Docker image's) is warned, not refused.
    done = _twin(["db", "migrate"], as_superuser)
    assert done.returncode == 0 and "a database SUPERUSER" in done.stderr


def test_the_report_counts_the_runs_contacts_and_those_in_progress_at_its_start(loaded):
    from twin.app import report

    url, _, _, _, contacts_run = loaded
    d = report.gather(url)
    assert contacts_run > 0
    assert len(d.contacts) - d.contacts_in_progress == contacts_run
    with connect(url) as conn:
        in_view_at_start = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT ON (sat_id, station_id) kind FROM events "
            "WHERE kind IN ('contact_aos', 'contact_los') ORDER BY sat_id, station_id, time) f "
            "WHERE kind = 'contact_los'"
        ).fetchone()[0]
    assert d.contacts_in_progress == in_view_at_start

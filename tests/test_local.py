"""The local pipeline (`twin run` without Kafka), the embedded PostgreSQL, configuration and
the command line's error paths."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from ingest.store.db import connect
from ingest.store.embedded import LocalPostgres, has_timescaledb, server_bindir
from ingest.store.roles import INGEST_ROLE
from tests.conftest import max_speed_args
from twin.sim.faults import dump_scenario, generate
from twin.sim.presets import build, load_preset

pytestmark = pytest.mark.integration

NO_SERVICES = {
    k: v
    for k, v in os.environ.items()
    if k not in ("TWIN_KAFKA_BOOTSTRAP", "TWIN_DATABASE_URL", "TWIN_STORE")
}


def twin(*args: str, env=None, cwd=None, timeout_s: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        env=NO_SERVICES if env is None else env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_local_pipeline_stores_the_run_with_its_anomalies(database, tmp_path):
    fleet, _ = build(load_preset("threebody-12"), 0)
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        dump_scenario(generate("threebody-12", fleet.sat_id, seed=5, duration_s=7200, per_kind=1))
    )
    done = twin(
        *max_speed_args("threebody-12", "2h", step="10s"),
        "--scenario",
        str(scenario),
        "--database",
        database,
        "--store",
        "postgresql",  # TimescaleDB is installed on the plain cluster, not preloaded
    )
    assert done.returncode == 0, done.stderr
    assert "twin run: 720 ticks" in done.stdout
    assert "(PostgreSQL): " in done.stdout  # the summary says which path the store took
    with connect(database) as conn:
        rows, sats = conn.execute(
            "SELECT count(*), count(DISTINCT sat_id) FROM telemetry"
        ).fetchone()
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        steps = conn.execute("SELECT count(*) FROM job_events").fetchone()[0]
        opened = conn.execute(
            "SELECT count(DISTINCT sat_id) FROM anomalies WHERE state = 'open'"
        ).fetchone()[0]
    assert sats == 12 and 0.98 * 720 * 12 < rows < 720 * 12  # one satellite fell silent
    assert f"{rows} telemetry rows" in done.stdout
    assert events > 0 and steps > 0
    assert opened >= 6  # the scenario's faults, seen by the rules inside the pipeline
    assert "Traceback" not in done.stderr


@pytest.fixture
def data_dir():
    """A directory for an embedded store that the server's user can reach even when the
    tests run as root (pytest's own temporary directories are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="twin-store-"))
    path.chmod(0o755)
    yield path / "store"
    shutil.rmtree(path, ignore_errors=True)


def test_embedded_postgres_starts_stores_and_stops(data_dir):
    done = twin(*max_speed_args("threebody-12", "10m", step="10s"), "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    # Where the system's PostgreSQL has TimescaleDB (the stack installs it), the embedded
    # cluster preloads it and the store takes that path.
    path = "TimescaleDB" if has_timescaledb(server_bindir()) else "PostgreSQL"
    where = f"embedded PostgreSQL in {data_dir / 'postgres'} ({path})"
    assert f"stored in {where}: 720 telemetry rows" in done.stdout
    report = data_dir.parent / "report.html"
    drawn = twin("report", "--out", str(report), "--data-dir", str(data_dir))
    assert drawn.returncode == 0, drawn.stderr  # the report reads the embedded store too
    assert "5 figures" in drawn.stdout and report.stat().st_size > 50_000
    pg = LocalPostgres(data_dir)
    try:
        url = pg.start()  # stopped by the run: started again here, with the data kept
        with connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 720
            # The run's ingest logged in as twin_ingest (on the socket, like the owner).
            assert conn.execute(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (INGEST_ROLE,)
            ).fetchone() == (True,)
        with connect(pg.login_url(INGEST_ROLE), autocommit=True) as conn:
            assert conn.execute("SELECT session_user").fetchone() == (INGEST_ROLE,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM telemetry")
    finally:
        pg.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "nope"], "preset: 'nope' is not a bundled preset"),
        (["--duration", "10x"], "--duration: '10x' is not a duration"),
        (["--kafka", "127.0.0.1:1"], "no Kafka broker answered at 127.0.0.1:1"),
        (
            ["--database", "postgresql://u:pw@127.0.0.1:1/x"],
            "database unreachable at postgresql://u:***@127.0.0.1:1/x",
        ),
        (["--data-dir", "/sys/twin-store"], "--data-dir / TWIN_DATA_DIR: '/sys/twin-store'"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_no_traceback(args, message):
    started = time.monotonic()
    done = twin("run", "--duration", "1m", "--speed", "max", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 10.0


def test_config_file_environment_and_options_in_that_order(tmp_path):
    (tmp_path / "twin.toml").write_text(
        '[run]\npreset = "threebody-2800"\nduration = "2h"\n'
        '[database]\nurl = "postgresql://twin:s3cret@db.example:5432/twin"\n'
    )
    env = {**NO_SERVICES, "TWIN_DURATION": "3h", "TWIN_READER_PASSWORD": "hunter2"}
    done = twin("config", "show", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert lines["--preset"] == ["threebody-2800", "twin.toml"]
    assert lines["--duration"] == ["3h", "environment"]
    assert lines["--database"] == ["postgresql://twin:***@db.example:5432/twin", "twin.toml"]
    assert lines["TWIN_READER_PASSWORD"] == ["***", "environment"]
    assert "s3cret" not in done.stdout and "hunter2" not in done.stdout
    shown = twin("--log-level", "DEBUG", "config", "show", env=env, cwd=tmp_path).stdout
    rows = shown.splitlines()[1:]
    assert re.search(r"^  --log-level +DEBUG +option$", shown, re.M), shown
    # Columns line up whatever the longest name or value, and every value is what is used.
    value_at = {len(r) - len(r[2:].split(" ", 1)[1].lstrip(" ")) for r in rows}
    assert len(value_at) == 1, shown
    data_dir = next(r.split()[1] for r in rows if r.split()[0] == "--data-dir")
    assert data_dir.startswith("/"), shown


def test_bad_config_file_names_the_key_value_and_what_is_accepted(tmp_path):
    (tmp_path / "twin.toml").write_text('[run]\nspeeed = "max"\n')
    done = twin("config", "show", cwd=tmp_path)
    assert done.returncode == 2
    assert "twin.toml: [run] speeed: 'max' is not accepted; expected keys" in done.stderr
    (tmp_path / "twin.toml").write_text('[log]\nlevel = "LOUD"\n')
    done = twin("run", cwd=tmp_path)
    assert done.returncode == 2
    assert "[log] level: 'LOUD' is not accepted; expected DEBUG, INFO, WARNING, ERROR" in (
        done.stderr
    )


def test_status_lines_when_not_on_a_terminal_and_json_logs(database):
    done = twin(
        "--log-format",
        "json",
        *max_speed_args("threebody-12", "20m", step="10s"),
        "--database",
        database,
        "--store",
        "postgresql",
        "--status-every",
        "1ms",
    )
    assert done.returncode == 0, done.stderr
    # Under --log-format json every line is a JSON object: status lines, logs, the summary.
    err = [json.loads(line) for line in done.stderr.splitlines()]
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(e["time"].endswith("Z") and e["level"] for e in err + out)
    status = [e["message"] for e in err if e["message"].startswith("twin: 2026-03-20T")]
    assert status and status[-1].startswith("twin: 2026-03-20T12:20:00Z tick 120/120 (100%)")
    assert "anomalies open" in status[-1]
    assert any(e["message"].startswith("twin run: 120 ticks") for e in out), out
    quiet = twin(*max_speed_args("threebody-12", "10m", step="10s"), "--database", database,
                 "--quiet", "--start", "2026-03-21T00:00:00Z")  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "twin run: 60 ticks" in quiet.stdout


def test_db_url_shell_and_stop_reach_the_embedded_store(data_dir, tmp_path):
    data_dir = str(data_dir)
    run = twin(*max_speed_args("threebody-12", "1m", step="10s"), "--data-dir", data_dir)
    assert run.returncode == 0, run.stderr
    try:
        url = twin("db", "url", "--data-dir", data_dir)
        assert url.returncode == 0, url.stderr
        with psycopg.connect(url.stdout.strip()) as conn:
            assert conn.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 72
        shell = subprocess.run(
            [sys.executable, "-m", "twin", "db", "shell", "--data-dir", data_dir],
            input="SELECT 'satellites:' || count(*) FROM satellites;\n",
            env=NO_SERVICES, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert shell.returncode == 0 and "satellites:12" in shell.stdout, shell.stderr
    finally:
        stop = twin("db", "stop", "--data-dir", data_dir)
    assert stop.returncode == 0 and "stopped" in stop.stdout
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url.stdout.strip(), connect_timeout=5).close()
    assert "not running" in twin("db", "stop", "--data-dir", data_dir).stdout
    missing = twin("db", "url", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 2 and "no embedded store in" in missing.stderr

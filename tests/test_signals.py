"""SIGTERM and SIGINT end ``twin run`` and ``twin ingest`` cleanly: the work in hand is
finished, the summary printed, an embedded server stopped, and the exit code is 143 or 130."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ingest.store.dimensions import register_fleet
from ingest.store.migrate import migrate
from tests.conftest import TEST_START, twin_command
from twin.core.clock import parse_start
from twin.sim.presets import build, load_preset

pytestmark = pytest.mark.integration


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "twin", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the test's own signals stay with the test
    )


def _wait_for(proc: subprocess.Popen, needle: str, within_s: float = 120.0) -> str:
    """stderr up to the first line holding ``needle``; the process is killed if it never
    comes (no leaked process), or if it exits first."""
    seen = []
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if selector.select(timeout=1.0):
                line = proc.stderr.readline()
                seen.append(line)
                if needle in line:
                    return "".join(seen)
        raise AssertionError(f"no {needle!r} within {within_s} s; stderr: {''.join(seen)[-2000:]}")
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    finally:
        selector.close()


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="twin-signal-"))
    path.chmod(0o755)  # the embedded server's user (under root) must reach it
    yield path / "store"
    shutil.rmtree(path, ignore_errors=True)


def test_sigterm_ends_a_run_with_its_summary_and_the_embedded_server_stopped(data_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("TWIN_KAFKA_BOOTSTRAP", "TWIN_STORE")}
    env.pop("TWIN_DATABASE_URL", None)
    proc = _start(
        ["run", "--preset", "threebody-12", "--start", TEST_START, "--duration", "2h",
         "--step", "10s", "--speed", "120", "--status-every", "1s", "--data-dir", str(data_dir)],
        env,
    )  # fmt: skip
    _wait_for(proc, "tick ")  # the first status line: the run is under way
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "twin run: " in out and "stored in embedded PostgreSQL" in out, out
    ticks = int(out.split("twin run: ")[1].split(" ticks")[0])
    assert 0 < ticks < 720  # stopped early, with what it had done stored
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # the server is stopped
    assert "Traceback" not in err


def test_sigint_ends_ingest_with_its_summary(kafka_env, database):
    env = {**kafka_env, "TWIN_DATABASE_URL": database}
    migrate(database, store="postgresql")
    fleet, hw = build(load_preset("threebody-12"), parse_start(TEST_START))
    register_fleet(database, fleet, hw, "threebody-12", ["batch-1"], 1.0)
    twin_command("topics", "ensure", env=env)
    proc = _start(["ingest"], env)
    _wait_for(proc, "assigned")  # in the group, polling
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "twin ingest: 0 messages" in out
    assert "Traceback" not in err and "rollback" not in err.lower()

"""The README's first command, exactly as written, in a fresh virtual environment on a clean
clone: it installs the twin and completes a run on the embedded default."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ingest.store.embedded import has_timescaledb, server_bindir

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


def quickstart_commands() -> list[str]:
    """The command lines of the README's Quickstart block."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README: no bash block under Quickstart"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands():
    commands = quickstart_commands()
    assert len(commands) == 2
    assert commands[0].startswith("pip install . && twin run ")
    assert commands[1] == "bash .ci/run"


def test_first_command_runs_on_a_fresh_machine():
    first = quickstart_commands()[0]
    work = Path(tempfile.mkdtemp(prefix="twin-quickstart-"))
    work.chmod(0o755)  # the embedded server's user (under root) must reach its data
    try:
        clone = work / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TWIN_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")
        }
        env |= {"PATH": f"{venv / 'bin'}:{env['PATH']}", "TWIN_DATA_DIR": str(work / "store")}
        done = subprocess.run(
            ["bash", "-c", first],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert re.search(r"twin run: 3600 ticks, \d+ frames, 43200 samples", done.stdout)
        path = "TimescaleDB" if has_timescaledb(server_bindir()) else "PostgreSQL"
        assert re.search(rf"stored in embedded PostgreSQL in \S+ \({path}\)", done.stdout)
        assert "43200 telemetry rows" in done.stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)

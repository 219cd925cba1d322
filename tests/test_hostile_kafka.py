"""The hostile-input bench's CI variant (bench/hostile.py): generated hostile records of every
kind, interleaved through the real broker with a real run's, into one ``twin ingest``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import hostile  # noqa: E402 - bench/ is not a package

pytestmark = pytest.mark.integration


def test_generation_covers_every_kind_and_is_reproducible():
    made = hostile.generate(3 * len(hostile.KINDS), seed=5)
    assert {name for name, _ in made} == set(hostile.KINDS)
    assert len(hostile.KINDS) - sum(k.startswith("legal") for k in hostile.KINDS) >= 30
    assert made == hostile.generate(3 * len(hostile.KINDS), seed=5)
    assert made != hostile.generate(3 * len(hostile.KINDS), seed=6)


@pytest.mark.parametrize("where", ["postgresql", "timescaledb"])
def test_every_hostile_record_is_dead_lettered_and_every_good_sample_stored_once(
    where, kafka_bootstrap, postgres_url, timescale_url
):
    env = {
        **os.environ,
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TWIN_DATABASE_URL": postgres_url,
        "TWIN_TIMESCALE_URL": timescale_url,
    }
    extra = ["--timescale"] if where == "timescaledb" else []
    done = subprocess.run(
        [sys.executable, str(BENCH / "hostile.py"), "--records", "500", "--duration", "2m",
         *extra],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert "hostile: dead-lettered 4" in done.stdout and "(0 missing, 0 not sent)" in done.stdout
    assert "(0 twice)" in done.stdout and "0 moved backwards" in done.stdout
    submitted = re.search(r"(\d+) job submissions to the twin: (\d+) rejected steps", done.stdout)
    assert submitted and submitted[1] == submitted[2] and int(submitted[1]) > 0
    assert done.stdout.rstrip().endswith("hostile: PASSED")

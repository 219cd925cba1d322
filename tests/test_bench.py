"""Benchmarks keep running as the code changes (their figures are read by people, not here)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_sgp4_bench_prints_both_timings_and_ratios():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_sgp4.py"), "--sizes", "200", "--repeats", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert re.search(
        r"200 satellites \| SatrecArray.sgp4 +[\d.]+ ms .* skyfield loop +[\d.]+ ms"
        r" \| SatrecArray is +\d+x faster",
        out,
    ), out

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


def test_step_bench_prints_ratios_and_memory():
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_step.py"),
            "--sizes",
            "300",
            "--repeats",
            "1",
            "--loop-sample",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert re.search(r"300 sats \| bare SatrecArray.sgp4 .* \(\s*[\d.]+x bare\)", out), out
    assert re.search(r"peak memory of a twin run: \d+ MB resident", out), out


def test_payload_bench_prints_ratios_to_the_orbit_step():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_payload.py"), "--sizes", "300", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    ratio = r" [\d.]+ ms \(\s*[\d.]+x\)"
    assert re.search(
        r"300 sats × 50 stations \| orbit step [\d.]+ ms"
        rf" \| plan{ratio} \| contacts{ratio} \| ISL{ratio} \| settle{ratio}"
        r" \| payload total [\d.]+ ms \(\s*[\d.]+x orbit\)",
        out,
    ), out


def test_rules_bench_prints_its_ratio_to_decoding():
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_rules.py"),
            "--sizes",
            "200",
            "--ticks",
            "20",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert re.search(
        r"200 satellites .* \d+ rules +[\d.]+ ms/tick .* rules / decode = [\d.]+", out
    ), out


def test_ingest_bench_on_timescaledb_prints_its_share_of_the_copy_ceiling_and_storage(
    kafka_bootstrap, timescale_url
):
    import os

    env = {
        **os.environ,
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TWIN_TIMESCALE_URL": timescale_url,
    }
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_ingest.py"), "--timescale", "--ticks", "5"],
        capture_output=True, text=True, timeout=600, check=True, env=env,
    ).stdout  # fmt: skip
    assert re.search(r"into the hypertable: +[\d,]+ rows/s \(\d+% of the ceiling\)", out), out
    assert re.search(r"bytes per sample: hypertable \d+, compressed [\d.]+ \([\d.]+x\)", out), out


def test_grafana_bench_times_every_rollup_panel_on_both_paths(postgres_url, timescale_url):
    import os

    env = {**os.environ, "TWIN_DATABASE_URL": postgres_url, "TWIN_TIMESCALE_URL": timescale_url}
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_grafana.py"), "--hours", "0.1", "--step", "60",
         "--repeats", "2", "--raw-repeats", "1", "--timescale"],
        capture_output=True, text=True, timeout=600, check=True, env=env,
    ).stdout  # fmt: skip
    for path in ("PostgreSQL", "TimescaleDB"):
        assert re.search(rf"{path}: 16,800 rows \(0.1 h of threebody-2800 at 60 s\)", out), out
    from twin.grafana.dashboards import BOARDS

    # Every panel that reads the minute rollup, timed on each path.
    panels = [p for b in BOARDS for p in b.panels if "telemetry_1m" in p.sql]
    rows = re.findall(r"[\d.]+ / +[\d.]+ +[\d.]+ / +[\d.]+ +[\d.]+x", out)
    assert len(panels) >= 10 and len(rows) == 2 * len(panels), out
    assert len(re.findall(r"worst panel p95 over 2 warm runs: \d+ ms", out)) == 2, out


def test_mirror_bench_prints_the_ratio_to_the_twin_and_errors_against_the_truth():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_mirror.py"), "--preset", "threebody-12",
         "--hours", "3"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    assert re.search(r"12 satellites x 1080 ticks = 12,960 samples .* mirror/twin [\d.]+", out)
    assert re.search(r"battery_capacity_wh: \d+ of 12 estimated \| error median [\d.]+ %", out)
    assert re.search(r"radiator_emissivity: \d+ of 12 estimated \| error median [\d.]+ %", out)


def test_contacts_bench_prints_its_ratio_and_finds_the_same_pairs_both_ways():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_contacts.py"), "--sizes", "900", "--repeats", "1"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert re.search(
        r"\d\d\d satellites x \d+ stations \([\d,]+ pairs, [\d,]+ in view\): every pair +[\d.]+ "
        r"ms/tick \| cone prefilter +[\d.]+ ms/tick \| prefilter/every pair [\d.]+ \| same "
        r"pairs and grants: True",
        out,
    ), out


def test_forecast_bench_prints_its_speed_and_ratio_to_sgp4():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_forecast.py"), "--preset", "threebody-12",
         "--hours", "3"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert re.search(
        r"threebody-12: 12 satellites x \d+ stations, 3 h at 10 s: [\d,]+ eclipses, [\d,]+ "
        r"contacts \| forecast [\d.]+ s \([\d,]+x real time\) \| bare SGP4 [\d.]+ s \| "
        r"forecast/SGP4 [\d.]+",
        out,
    ), out


def test_catalogue_bench_prints_the_structure_and_the_update():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_catalogue.py")],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert re.search(r"6409 satellites \| structure recovered in [\d.]+ ms", out), out
    assert re.search(r"joining one physical shell .*: 100.00 %", out), out
    assert re.search(r"6405 in both \| predicted position change at the update: median", out)


def test_whatif_bench_prints_its_speed_and_ratio_to_a_plain_run():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_whatif.py"), "--preset", "threebody-12",
         "--shell", "batch-1", "--hours", "1", "--step", "5s"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert re.search(
        r"threebody-12 shell batch-1: 12 satellites, 1 h at 5 s, 12 jobs added, \d+ new "
        r"violations \| what-if [\d.]+ s \([\d,]+x real time\) \| one plain run [\d.]+ s \| "
        r"what-if/run [\d.]+",
        out,
    ), out


def test_pipeline_bench_prints_the_share_of_the_twin_alone(kafka_bootstrap, timescale_url):
    import os

    env = {
        **os.environ,
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TWIN_TIMESCALE_URL": timescale_url,
    }
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_pipeline.py"), "--walker", "600/20/1",
         "--minutes", "1"],
        capture_output=True, text=True, timeout=300, check=True, env=env,
    ).stdout  # fmt: skip
    assert re.search(
        r"walker 600/20/1: 60 ticks at 1 s, speed max, timescaledb \| stored 36,000 of 36,000 "
        r"samples, the last [\d.]+ s after the run's end \([\d.]+ s\) \| pipeline [\d,]+ "
        r"samples/s \| twin alone [\d,]+ samples/s \| pipeline/twin [\d.]+",
        out,
    ), out

"""The chaos soak (bench/soak.py): its books, its plan, and a short run against the stack.

The short run is the soak's CI variant: threebody-12 at 1 s ticks for 2 simulated hours,
paced so that every kill falls inside the run, with one kill of each target (twin, ingest,
Kafka, PostgreSQL) and one malformed message of each kind; each half hour is verified and
deleted as it completes (``--verify-every``), as the 24-hour soak does. It kills and restarts
the stack's Kafka and PostgreSQL, so it runs alone, as every test here does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import soak  # noqa: E402 - bench/ is not a package
from soak_prune import CheckpointWatch, Pruner  # noqa: E402

from ingest.rules.definitions import load_rules  # noqa: E402
from tests.conftest import twin_command  # noqa: E402
from twin.app.score import prepare_scored_run  # noqa: E402
from twin.sim.faults import KINDS, Scenario  # noqa: E402
from twin.stream.runner import CHECKPOINTS_TOPIC  # noqa: E402
from twin.wire.telemetry import TELEMETRY_TOPIC  # noqa: E402


def scenario_of(kinds, sat_id, onset_s, end_s) -> Scenario:
    n = len(kinds)
    return Scenario(
        name="t",
        preset="threebody-12",
        seed=0,
        duration_s=100.0,
        kind=np.array([KINDS.index(k) for k in kinds], np.int16),
        sat_id=np.array(sat_id, np.int32),
        onset_s=np.array(onset_s, np.float64),
        end_s=np.array(end_s, np.float64),
        magnitude=np.ones(n),
        channel=("",) * n,
    )


def test_expected_samples_leave_out_exactly_the_dropout_ticks():
    sats = np.array([3, 5, 8, 9], np.int32)
    s = scenario_of(
        ["telemetry_dropout", "telemetry_dropout", "stuck_sensor", "telemetry_dropout"],
        [5, 9, 8, 3],
        [10.0, 7.5, 0.0, 95.0],
        [20.0, 8.0, 50.0, np.inf],
    )
    got = soak.expected_samples(s, sats, n_ticks=50, step_s=2.0)
    t = np.arange(50) * 2.0
    brute = [50 - sum(1 for x in t if o <= x < e) for o, e in [(95, np.inf), (10, 20), (0, 0)]]
    # sat 3: silent from 95 s (ticks at 96 and 98 s); sat 5: 10..18 s = 5 ticks;
    # sat 8: stuck, not silent; sat 9: 7.5 <= t < 8 holds no tick.
    assert got.tolist() == [brute[0], brute[1], 50, 50]
    assert got.tolist() == [48, 45, 50, 50]


def test_kills_take_turns_over_every_target_and_the_twin_dies_early():
    plan = soak.plan_kills(np.random.default_rng(5), 8)
    shares = [s for s, _ in plan]
    assert shares == sorted(shares)
    assert sorted(t for _, t in plan) == sorted(soak.TARGETS * 2)
    assert all(0.05 <= s <= 0.6 for s, t in plan if t == "twin")
    assert all(0.05 <= s <= 0.95 for s in shares)


def test_soak_refuses_services_off_loopback():
    with pytest.raises(SystemExit, match="non-loopback"):
        soak.check_loopback("10.1.2.3:9092", "postgresql://u:p@127.0.0.1/twin")
    with pytest.raises(SystemExit, match=r"db\.example\.org"):
        soak.check_loopback("127.0.0.1:19092", "postgresql://u:p@db.example.org/twin")
    soak.check_loopback("127.0.0.1:19092,localhost:19093", "postgresql://u:p@127.0.0.1:1/t")


def test_every_malformed_message_differs_from_a_good_one():
    rng = np.random.default_rng(0)
    time_ns = 1_800_000_000 * 10**9
    good = orjson.dumps(soak._frame(time_ns, np.array([1])))
    values = {k: soak.bad_message(k, rng, 1, time_ns) for k in soak.BAD_KINDS}
    assert good not in {v for _, v in values.values()}
    assert len({v for _, v in values.values()}) == len(soak.BAD_KINDS)
    assert len(values["oversized"][1]) > soak.MAX_MESSAGE_BYTES


def test_short_soak_survives_one_kill_of_each_and_dead_letters_every_bad_message(
    kafka_bootstrap, database, tmp_path
):
    env = {
        **os.environ,
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TWIN_DATABASE_URL": database,
    }
    done = subprocess.run(
        [
            sys.executable, str(BENCH / "soak.py"), "--preset", "threebody-12",
            "--duration", "2h", "--speed", "60", "--per-kind", "1", "--kills", "4",
            "--bad-messages", str(len(soak.BAD_KINDS)), "--seed", "3",
            "--checkpoint-every", "2m", "--verify-every", "30m", "--max-wall", "20m",
            "--workdir", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=1500, env=env,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    assert out.rstrip().endswith("soak: PASSED"), out[-3000:]
    for target in soak.TARGETS:
        assert re.search(rf"soak: {target} +killed 1x", out), out
    n = len(soak.BAD_KINDS)
    assert f"dead letters {n}, injected {n}" in out
    assert "MISSING" not in out
    # The first three half hours were verified and deleted as the run went; the final books
    # count them, and none of their rows came back.
    assert "verified and deleted 3 windows of 30m" in out, out
    assert "rows stored again in them: 0" in out, out
    expected, stored = re.search(r"samples expected ([\d,]+), stored ([\d,]+); 0 sat", out).groups()
    assert expected == stored
    assert 12 * 7000 < int(expected.replace(",", "")) <= 12 * 7200  # a dropout or two


def test_soak_refuses_a_run_the_disk_cannot_hold(tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_STACK_DIR", str(tmp_path))
    soak.check_disk(12 * 7200)  # the CI variant: ~36 MB
    with pytest.raises(SystemExit, match=r"need ~\d+ GB .* GB free"):
        soak.check_disk(10**13)  # ~4 EB


def test_windows_are_deleted_once_verified_and_pruning_stops_at_one_that_does_not_balance(
    kafka_bootstrap, database, tmp_path
):
    """A real run stored by real ingest: the first half-hour window balances and is deleted;
    the second is made not to (one sample more expected), so it and the rest stay stored
    and the pruner says which window and satellite."""
    env = {**os.environ, "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap, "TWIN_DATABASE_URL": database}
    scenario = tmp_path / "scenario.toml"
    twin_command(
        "scenario", "generate", "--preset", "threebody-12", "--seed", "2", "--duration", "2h",
        "--per-kind", "1", "--out", str(scenario), env=env,
    )  # fmt: skip
    run = prepare_scored_run(
        str(scenario), kafka_bootstrap, database, "1s", None, "prune", store="postgresql"
    )
    run_id = f"{run.prefix}twin"
    twin_run = run.twin_command(kafka_bootstrap, "--checkpoint-every", "5m", "--run-id", run_id)
    twin_command(*twin_run[3:], env=env)  # the arguments after "python -m twin"
    twin_command(
        "ingest", "--kafka", kafka_bootstrap, "--database", database, "--topic-prefix",
        run.prefix, "--group", f"{run.prefix}ingest", "--stop-when-caught-up", env=env,
    )  # fmt: skip
    start_us, end_us = run.window_us

    def expected(first: int, stop: int) -> np.ndarray:
        counts = soak.expected_samples(run.scenario, run.sat_id, stop, 1.0, first)
        counts[3] += first >= 1800  # the second window's books are off for one satellite
        return counts

    topic = run.prefix + TELEMETRY_TOPIC
    checkpoints = CheckpointWatch(
        lambda: soak.soak_consumer(kafka_bootstrap), run.prefix + CHECKPOINTS_TOPIC, run_id
    )
    pruner = Pruner(
        database, run, load_rules(None), f"{run.prefix}ingest", topic, 1800, 7200, 1.0,
        checkpoints, soak.TopicOffsets(kafka_bootstrap, topic), expected,
    )  # fmt: skip
    pruner.start()
    deadline = time.monotonic() + 120
    while pruner.problem is None and time.monotonic() < deadline:
        time.sleep(0.5)
    pruner.stop()

    assert pruner.windows == 1 and pruner.pruned_until_us == start_us + 1800 * 10**6
    assert pruner.problem.startswith("window of ticks 1800..3600 did not balance")
    assert f"({int(run.sat_id[3])}, " in pruner.problem
    assert soak.stored_samples(database, (start_us, pruner.pruned_until_us), run.sat_id) == {}
    kept = soak.stored_samples(database, (pruner.pruned_until_us, end_us), run.sat_id)
    everything = soak.expected_samples(run.scenario, run.sat_id, 7200, 1.0)
    assert (
        pruner.verified.tolist()
        == soak.expected_samples(run.scenario, run.sat_id, 1800, 1.0).tolist()
    )
    assert [kept[int(s)] for s in run.sat_id] == (everything - pruner.verified).tolist()

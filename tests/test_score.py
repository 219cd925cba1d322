"""Anomaly rules end to end on real Kafka and PostgreSQL: a fault scenario scored through
the pipeline, and ingest killed in the middle of open anomalies."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import migrate
from tests.conftest import TEST_START, fresh_database, max_speed_args, read_topic, twin_command
from twin.core.clock import parse_start
from twin.sim.faults import KINDS, dump_scenario, generate, load_scenario
from twin.sim.presets import build, load_preset

pytestmark = pytest.mark.integration

PRESET = "threebody-12"


@pytest.fixture
def scenario_file(tmp_path):
    fleet, _ = build(load_preset(PRESET), parse_start(TEST_START))
    scenario = generate(PRESET, fleet.sat_id, seed=11, duration_s=7200.0, per_kind=1)
    path = tmp_path / "scenario.toml"
    path.write_text(dump_scenario(scenario))
    return path


def test_score_runs_the_scenario_through_the_pipeline(scenario_file, kafka_env, database):
    out = twin_command(
        "score",
        "--scenario",
        str(scenario_file),
        "--step",
        "5s",
        "--start",
        TEST_START,
        env={**kafka_env, "TWIN_DATABASE_URL": database},
        timeout_s=900,
    )
    scenario = load_scenario(scenario_file)
    for kind in KINDS:
        assert kind in out
    assert "PASSED" in out, out
    with connect(database) as conn:
        run = conn.execute(
            "SELECT faults, detected, recall, false_alarms, passed FROM score_runs"
        ).fetchone()
        truth = conn.execute(
            "SELECT kind, sat_id, detected_by, latency_s FROM fault_truth ORDER BY fault"
        ).fetchall()
        opened = conn.execute(
            "SELECT count(*) FROM anomalies WHERE state = 'open' AND sat_id IS NOT NULL"
        ).fetchone()[0]
    assert run == (scenario.n_faults, scenario.n_faults, 1.0, 0, True)
    assert [(k, s) for k, s, _, _ in truth] == [
        (KINDS[k], s) for k, s in zip(scenario.kind, scenario.sat_id.tolist(), strict=True)
    ]
    assert all(rule and 0 <= latency <= 3600 for _, _, rule, latency in truth)
    assert opened >= scenario.n_faults


def _anomaly_steps(url: str) -> list[tuple]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT anomaly_id, state, time FROM anomalies ORDER BY time, anomaly_id, state"
        ).fetchall()


def test_ingest_killed_mid_anomaly_neither_repeats_nor_misses(
    scenario_file, kafka_env, postgres_url
):
    """The same topics ingested twice: once killed (SIGKILL) while anomalies are open and
    started again, once without interruption. Both stores hold the same anomaly steps,
    and every anomaly opened once."""
    twin_command(
        *max_speed_args(PRESET, "2h", step="10s"),
        "--scenario",
        str(scenario_file),
        env=kafka_env,
    )
    t0 = parse_start(TEST_START)
    fleet, hw = build(load_preset(PRESET), t0)
    with fresh_database(postgres_url) as killed, fresh_database(postgres_url) as whole:
        for url in (killed, whole):
            migrate(url, store="postgresql")
            register_fleet(url, fleet, hw, PRESET, ["batch-1"], 10.0)
        ingest = [sys.executable, "-m", "twin", "ingest", "--stop-when-caught-up"]
        env = {**kafka_env, "TWIN_DATABASE_URL": killed}
        slow = subprocess.Popen([*ingest, "--batch-records", "3"], env=env)
        try:
            deadline = time.monotonic() + 300
            while True:  # kill once anomalies are open and none has closed yet
                assert slow.poll() is None, "ingest finished before it could be killed"
                assert time.monotonic() < deadline
                states = {s for _, s, _ in _anomaly_steps(killed)}
                if "open" in states:
                    break
                time.sleep(0.05)
            os.kill(slow.pid, signal.SIGKILL)
        finally:
            slow.wait()
        at_kill = _anomaly_steps(killed)
        still_open = {a for a, s, _ in at_kill if s == "open"} - {
            a for a, s, _ in at_kill if s == "closed"
        }
        assert still_open  # killed mid-anomaly
        subprocess.run(ingest, env=env, check=True, timeout=600)
        subprocess.run(
            [*ingest, "--group", "uninterrupted"],
            env={**env, "TWIN_DATABASE_URL": whole},
            check=True,
            timeout=600,
        )
        steps = _anomaly_steps(killed)
        assert steps == _anomaly_steps(whole)
        opened = [a for a, s, _ in steps if s == "open"]
        assert len(opened) == len(set(opened)) >= 4
        assert {s for _, s, _ in steps} >= {"open", "closed"}
    published = read_topic(
        kafka_env["TWIN_KAFKA_BOOTSTRAP"], kafka_env["TWIN_TOPIC_PREFIX"] + "twin.anomalies"
    )
    assert len(published) >= len(steps)  # each store's ingest published its own steps

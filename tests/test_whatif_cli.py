"""``twin whatif`` as a user runs it: forked from a run's checkpoint on the real broker, kept
in the store, its verdict in the exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from kafka import KafkaProducer

from ingest.store.db import connect
from ingest.store.migrate import migrate
from tests.conftest import TEST_START, read_topic, run_args, twin_command
from twin.wire.whatif import encode_request

ROOT = Path(__file__).parents[1]
RUN_ID = "whatif-source"
NO_SERVICES = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
LATE_JOB = """
[[jobs]]
job_id = "rush"
kind = "inference"
work_tera_ops = 5e5
deadline_s = 30
sat_id = 4
at = "1m"
"""


def whatif(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin", "whatif", "--preset", "threebody-12",
         "--start", TEST_START, "--step", "5s", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.integration
def test_a_fork_of_a_run_on_kafka_is_judged_stored_and_exits_3_when_it_breaks_a_constraint(
    kafka_env, database, tmp_path
):
    migrate(database, store="postgresql")
    env = {**kafka_env, "TWIN_DATABASE_URL": database}
    twin_command(
        *run_args("threebody-12", "10m"), "--step", "5s", "--speed", "max",
        "--run-id", RUN_ID, "--checkpoint-every", "5m", env=env,
    )  # fmt: skip
    change = tmp_path / "rush.toml"
    change.write_text(LATE_JOB)
    done = whatif(
        "--from", "latest", "--run-id", RUN_ID, "--horizon", "30m", "--change", str(change),
        "--whatif-id", "rush-test", env=env,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "tick 120, run whatif-source" in done.stdout
    assert "job rush" in done.stdout and "exit 3" in done.stdout
    with connect(database) as conn:
        run = conn.execute(
            "SELECT run_id, fork_tick, horizon_s, violates, change_toml FROM whatif_runs"
        ).fetchall()
        satellites = conn.execute(
            "SELECT branch, count(*) FROM whatif_satellites GROUP BY branch ORDER BY branch"
        ).fetchall()
        violations = conn.execute(
            "SELECT sat_id, constraint_name, worst FROM whatif_violations WHERE only_in_branch"
        ).fetchall()
        jobs = conn.execute("SELECT job_id, step, sat_id FROM whatif_jobs").fetchall()
    assert run == [(RUN_ID, 120, 1800.0, True, LATE_JOB)]
    assert satellites == [(False, 12), (True, 12)]
    assert violations == [(4, "job rush", "deadline passed before the job was computed")]
    assert jobs == [("rush", "failed", 4)]


@pytest.mark.integration
def test_a_fork_of_a_run_never_checkpointed_is_refused_naming_it(kafka_env):
    done = whatif("--from", "latest", "--run-id", "no-such-run", "--horizon", "10m", env=kafka_env)
    assert done.returncode == 2
    assert "no checkpoint of 'no-such-run'" in done.stderr


def test_an_empty_change_from_the_initial_state_exits_0(tmp_path):
    done = whatif("--from", "start", "--horizon", "20m", env=NO_SERVICES)
    assert done.returncode == 0, done.stderr
    assert "breaks no constraint the baseline keeps (exit 0" in done.stdout
    assert "+0" in done.stdout


def test_a_bad_change_file_exits_2_naming_the_key(tmp_path):
    change = tmp_path / "bad.toml"
    change.write_text("[[policy]]\ncompute_soc_floor = 2.5\n")
    done = whatif(
        "--from", "start", "--horizon", "20m", "--change", str(change),
        env=NO_SERVICES,
    )  # fmt: skip
    assert done.returncode == 2
    assert "policy[0].compute_soc_floor: 2.5 is not a number in [0, 1]" in done.stderr


def test_the_readme_example_runs_on_a_small_fleet(tmp_path):
    """docs/examples/train-tonight.toml, the README's worked example, on threebody-12's shell."""
    example = ROOT / "docs" / "examples" / "train-tonight.toml"
    text = example.read_text()
    assert 'shell = "training-sso-1000"' in text
    change = tmp_path / "tonight.toml"
    change.write_text(text.replace("training-sso-1000", "batch-1"))
    done = whatif(
        "--shell", "batch-1", "--from", "start", "--horizon", "6h", "--step", "10s",
        "--change", str(change), env=NO_SERVICES,
    )  # fmt: skip
    assert done.returncode in (0, 3), done.stderr
    assert "12 satellites forked at 2026-03-20T12:00:00Z" in done.stdout
    assert "added jobs: 12, last step by the horizon:" in done.stdout
    listed = "constraints only the branch breaks:" in done.stdout
    assert listed == (done.returncode == 3)  # the exit code says what the table shows
    verdict = "breaks a constraint" if listed else "breaks no constraint"
    assert f"the change {verdict} the baseline keeps (exit {done.returncode}" in done.stdout


@pytest.mark.integration
def test_requests_on_kafka_are_each_answered_once_and_kept(kafka_env, database):
    migrate(database, store="postgresql")
    env = {**kafka_env, "TWIN_DATABASE_URL": database}
    twin_command(
        *run_args("threebody-12", "10m"), "--step", "5s", "--speed", "max",
        "--run-id", RUN_ID, "--checkpoint-every", "5m", env=env,
    )  # fmt: skip
    twin_command("topics", "ensure", env=env)
    prefix, bootstrap = env["TWIN_TOPIC_PREFIX"], env["TWIN_KAFKA_BOOTSTRAP"]
    requests = [
        (b"late", encode_request(request_id="late", run_id=RUN_ID, horizon_s=1800.0,
                                 change=LATE_JOB)),
        (b"garbage", b"\x00\xff not a request"),
        (b"shell", encode_request(request_id="shell", shell="nope", **{"from": "start"})),
        (b"calm", encode_request(request_id="calm", horizon_s=600.0, **{"from": "start"})),
    ]  # fmt: skip
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for key, value in requests:
        producer.send(prefix + "twin.whatif.requests", key=key, value=value)
    producer.flush()
    producer.close()
    out = twin_command(
        "whatif", "--preset", "threebody-12", "--start", TEST_START, "--step", "5s", "--serve",
        "--run-id", RUN_ID, "--stop-when-caught-up", env=env,
    )  # fmt: skip
    assert "2 done, 2 refused, 0 failed requests answered" in out
    schema = Draft202012Validator(
        json.loads((ROOT / "schemas" / "twin.whatif.results.v1.json").read_text())
    )
    results = read_topic(bootstrap, prefix + "twin.whatif.results")
    answers = {r.key: json.loads(r.value) for r in results}
    assert len(results) == len(requests) and set(answers) == {k for k, _ in requests}
    for body in answers.values():
        schema.validate(body)
    assert (answers[b"late"]["status"], answers[b"late"]["exit_code"]) == ("done", 3)
    assert answers[b"late"]["fork_tick"] == 120
    assert [v["constraint"] for v in answers[b"late"]["new_violations"]] == ["job rush"]
    assert (answers[b"calm"]["status"], answers[b"calm"]["exit_code"]) == ("done", 0)
    assert answers[b"garbage"]["status"] == "refused"
    assert answers[b"garbage"]["reason"].startswith("not JSON")
    assert "'nope' is not a shell of the fleet" in answers[b"shell"]["reason"]
    with connect(database) as conn:
        kept = conn.execute("SELECT run_id, violates FROM whatif_runs ORDER BY violates").fetchall()
    assert kept == [(None, False), (RUN_ID, True)]

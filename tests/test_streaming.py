"""Streaming through the real broker: topics, sharding, crash and resume, pacing, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from ingest.store.migrate import migrate
from tests.conftest import max_speed_args, read_topic, run_args, twin_command
from twin.core.clock import NS_PER_S, parse_start
from twin.sim.engine import FramesTo, Pacing, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.stream.broker import load_topics
from twin.wire.telemetry import GROUPS, decode

pytestmark = pytest.mark.integration

START = "2026-03-20T12:00:00Z"


def frames_by_key(bootstrap: str, topic: str) -> dict[tuple[int, str], list]:
    """Decoded frames keyed by (time, group); repeats kept together."""
    frames = defaultdict(list)
    for record in read_topic(bootstrap, topic):
        frame = decode(record.value)
        frames[(frame.time_unix_ns, frame.group)].append(frame)
    return frames


def test_topics_ensure_creates_topics_with_their_settings(kafka_env):
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    out = twin_command("topics", "ensure", env=kafka_env)
    prefix = kafka_env["TWIN_TOPIC_PREFIX"]
    expected = load_topics(prefix=prefix)
    assert all(spec.name in out for spec in expected.values())
    assert "nothing (all present)" in twin_command("topics", "ensure", env=kafka_env)
    admin = KafkaAdminClient(bootstrap_servers=kafka_env["TWIN_KAFKA_BOOTSTRAP"])
    try:
        described = {
            t["name"]: t for t in admin.describe_topics([s.name for s in expected.values()])
        }
        for spec in expected.values():
            assert len(described[spec.name]["partitions"]) == spec.partitions
        checkpoints = expected["twin.checkpoints"].name
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, checkpoints)])
        text = str(configs)
        assert "cleanup.policy" in text and "compact" in text
    finally:
        admin.close()


# Channels that depend on other satellites: antennas shared at ground stations and laser
# relays, which a shard models among its own satellites only.
SHARD_COUPLED = {*GROUPS["links"], "job_latency_s", "job_energy_j"}


def test_shards_together_equal_the_unsharded_run(kafka_env):
    bootstrap = kafka_env["TWIN_KAFKA_BOOTSTRAP"]
    common = max_speed_args("threebody-2800", "300s", "10s")
    whole_env = {**kafka_env, "TWIN_TOPIC_PREFIX": kafka_env["TWIN_TOPIC_PREFIX"] + "whole."}
    twin_command(*common, env=whole_env)
    for i in range(3):
        twin_command(*common, "--shard", f"{i}/3", env=kafka_env)
    whole = frames_by_key(bootstrap, whole_env["TWIN_TOPIC_PREFIX"] + "twin.telemetry")
    sharded = frames_by_key(bootstrap, kafka_env["TWIN_TOPIC_PREFIX"] + "twin.telemetry")
    assert len(whole) == 30 * 14 and set(whole) == set(sharded)  # 14 frame groups
    for key, (frame,) in whole.items():
        (other,) = sharded[key]
        np.testing.assert_array_equal(other.sat_id, frame.sat_id)
        assert set(other.channels) == set(frame.channels)
        for name, values in frame.channels.items():
            if name in SHARD_COUPLED:
                continue
            # Vector kernels may round the last bit differently for other array lengths.
            np.testing.assert_allclose(
                other.channels[name], values, rtol=1e-12, atol=1e-12, err_msg=f"{key} {name}"
            )
    events = [
        read_topic(bootstrap, p + "twin.events")
        for p in (whole_env["TWIN_TOPIC_PREFIX"], kafka_env["TWIN_TOPIC_PREFIX"])
    ]
    assert sorted(r.value for r in events[0]) == sorted(r.value for r in events[1])


def test_killed_run_resumes_and_the_deduplicated_stream_equals_an_uninterrupted_run(kafka_env):
    bootstrap = kafka_env["TWIN_KAFKA_BOOTSTRAP"]
    args = [
        sys.executable,
        "-m",
        "twin",
        *run_args("threebody-12", "2h"),
        "--step",
        "1s",
        "--speed",
        "600",
        "--checkpoint-every",
        "2m",
        "--run-id",
        "resume-test",
    ]
    first = subprocess.Popen(
        args,
        env=kafka_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(4.0)  # ~40 simulated minutes: several checkpoints, far from the end
    assert first.poll() is None, "the run ended before it could be killed"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    second = subprocess.run(args, env=kafka_env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    resumed_at = int(second.stderr.split("resuming resume-test at tick ")[1].split()[0])
    assert 0 < resumed_at < 7200
    assert f"{7200 - resumed_at} ticks" in second.stdout

    got = frames_by_key(bootstrap, kafka_env["TWIN_TOPIC_PREFIX"] + "twin.telemetry")
    fleet, hw = build(load_preset("threebody-12"), parse_start(START))
    expected = []

    class Clock:  # the reference runs paced like the CLI (one tick per block), without waiting
        now = 0.0

        def monotonic(self):
            return self.now

        def sleep(self, seconds):
            self.now += seconds

    clock = Clock()
    run(
        fleet,
        hw,
        RunPlan(parse_start(START), NS_PER_S, 7200, speed=600.0),
        FramesTo(expected.append),
        pacing=Pacing(None, clock.monotonic, clock.sleep),
    )
    assert len(got) == len(expected) == 7200
    repeated = 0
    for frame in expected:
        copies = got[(frame.time_unix_ns, frame.group)]
        repeated += len(copies) - 1
        for copy in copies:  # a repeat after the restart is the same frame
            for name, values in frame.channels.items():
                np.testing.assert_array_equal(copy.channels[name], values, err_msg=name)
    assert repeated < 7200 - resumed_at  # only what followed the last checkpoint came twice


def test_speed_1_keeps_sim_time_within_one_tick_of_wall_time(kafka_env):
    twin_command(
        "run",
        "--preset",
        "threebody-12",
        "--start",
        "now",
        "--duration",
        "60s",
        "--step",
        "1s",
        "--speed",
        "1",
        "--checkpoint-every",
        "off",
        env=kafka_env,
        timeout_s=120,
    )
    records = read_topic(
        kafka_env["TWIN_KAFKA_BOOTSTRAP"], kafka_env["TWIN_TOPIC_PREFIX"] + "twin.telemetry"
    )
    assert len(records) == 60
    lag_s = [
        (r.timestamp * 1_000_000 - json.loads(r.value)["time_unix_ns"]) / 1e9 for r in records
    ]  # send time (producer clock) minus simulated time
    assert max(abs(x) for x in lag_s) < 1.0, lag_s


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--preset", "nope"], "preset: 'nope' is not a bundled preset"),
        (["run", "--duration", "soon"], "--duration: 'soon' is not a duration"),
        (["run", "--shard", "3/3"], "--shard"),
        (["run", "--rate", "orbit=1.5s"], "--rate"),
        (["run", "--kafka", "127.0.0.1:1"], "no Kafka broker answered at 127.0.0.1:1"),
        (["ingest", "--kafka", "127.0.0.1:1", "--database", "{db}"], "no Kafka broker answered"),
        (["ingest", "--database", "postgresql://u:p@127.0.0.1:1/x"], "--database: cannot connect"),
        (["db", "migrate", "--database", "postgresql://u:p@127.0.0.1:1/x"], "cannot connect"),
    ],
)
def test_bad_configuration_is_one_line_exit_2_within_10_s(kafka_env, database, argv, message):
    if "{db}" in argv:
        migrate(database, store="postgresql")
        argv = [a.replace("{db}", database) for a in argv]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "twin", *argv],
        env=kafka_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 10.0
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_a_run_publishes_its_fleet_to_the_registry_topic(kafka_env):
    """``twin.satellites`` resolves the bare ids of the other topics: one contract-valid record
    per satellite, keyed by its id, with its shell, plane and hardware model."""
    from jsonschema import Draft202012Validator

    from twin.core.clock import parse_start
    from twin.sim.presets import build, load_preset
    from twin.wire import satellites

    twin_command(*max_speed_args("threebody-12", "30s"), env=kafka_env)
    topic = kafka_env["TWIN_TOPIC_PREFIX"] + satellites.SATELLITES_TOPIC
    records = read_topic(kafka_env["TWIN_KAFKA_BOOTSTRAP"], topic)
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "twin.satellites.v1.json")
                        .read_text())  # fmt: skip
    for record in records:
        Draft202012Validator(schema).validate(json.loads(record.value))
    decoded = {int(r.key): satellites.decode(r.value) for r in records}
    fleet, _ = build(load_preset("threebody-12"), parse_start("2026-03-20T12:00:00Z"))
    assert sorted(decoded) == sorted(fleet.sat_id.tolist())
    for sat, plane in zip(fleet.sat_id.tolist(), fleet.plane.tolist(), strict=True):
        record = decoded[sat]
        assert (record.sat_id, record.plane, record.fleet) == (sat, plane, "threebody-12")
        assert record.hardware == "threebody-compute" and record.norad_cat_id is None
        assert record.telemetry_interval_s == 1.0
    headers = dict(records[0].headers)
    assert headers["schema_id"] == b"twin.satellites"

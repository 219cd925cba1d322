"""The twin through the real Kafka broker into the real PostgreSQL, as a user runs it."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from kafka import KafkaConsumer, KafkaProducer

from ingest.store.db import connect
from tests.conftest import run_args, twin_command
from twin.core.clock import NS_PER_S, parse_start
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.wire.telemetry import CHANNELS, to_stored_resolution

pytestmark = pytest.mark.integration

START = "2026-03-20T12:00:00Z"
DURATION_S = 600


twin = twin_command


@pytest.fixture
def env(kafka_env, database):
    return {**kafka_env, "TWIN_DATABASE_URL": database}


def test_twelve_satellites_ten_minutes_stored_exactly_once(env, database):
    out = twin(
        *run_args("threebody-12", f"{DURATION_S}s"),
        "--step",
        "1s",
        "--speed",
        "max",
        env=env,
    )
    assert "600 ticks, 600 frames, 7200 samples" in out
    twin("db", "migrate", env=env)
    twin("db", "fleet", "--preset", "threebody-12", "--start", START, env=env)
    out = twin("ingest", "--stop-when-caught-up", env=env)
    assert "(600 frames," in out and "7200 rows inserted, 0 repeated, 0 dead letters" in out

    # The same preset and times, run here, are the twin's output.
    fleet, hw = build(load_preset("threebody-12"), parse_start(START))
    frames = []
    run(fleet, hw, RunPlan(parse_start(START), NS_PER_S, DURATION_S), FramesTo(frames.append))
    expected = {  # as stored: each value at its channel's resolution
        name: to_stored_resolution(name, np.concatenate([f.channels[name] for f in frames]))
        for name in CHANNELS
    }
    expected_keys = [(int(s), f.time_unix_ns // 1000) for f in frames for s in f.sat_id]
    with connect(database) as conn:
        rows = conn.execute(
            "SELECT sat_id, (extract(epoch FROM time) * 1000000)::int8, "
            + ", ".join(CHANNELS)
            + " FROM telemetry ORDER BY time, sat_id"
        ).fetchall()
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM telemetry GROUP BY sat_id, time "
            "HAVING count(*) > 1) d"
        ).fetchone()[0]
    assert len(rows) == 12 * DURATION_S and dupes == 0
    assert [(r[0], r[1]) for r in rows] == expected_keys
    for i, name in enumerate(CHANNELS, start=2):
        got = np.array([r[i] for r in rows], dtype=float)
        np.testing.assert_array_equal(got, expected[name].astype(float), err_msg=name)

    # A restarted ingest resumes from the offsets stored with the data: nothing repeats.
    out = twin("ingest", "--stop-when-caught-up", env=env)
    assert "0 messages (0 frames, 0 events, 0 job messages), 0 rows inserted" in out


def test_malformed_message_goes_to_dead_letters_with_reason(
    env, database, kafka_bootstrap, topic_prefix
):
    twin(
        "run", "--walker", "4/2/1", "--start", START, "--duration", "5s", "--speed", "max", env=env
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.send(f"{topic_prefix}twin.telemetry", key=b"plane-0000", value=b"{oops").get(30)
    producer.close()
    twin("db", "migrate", env=env)
    twin("db", "fleet", "--walker", "4/2/1", "--start", START, env=env)
    out = twin("ingest", "--stop-when-caught-up", env=env)
    assert "(5 frames," in out and "20 rows inserted, 0 repeated, 1 dead letters" in out
    with connect(database) as conn:
        reason, payload = conn.execute("SELECT reason, payload FROM dead_letters").fetchone()
    assert reason.startswith("not JSON") and payload == b"{oops"
    consumer = KafkaConsumer(
        f"{topic_prefix}twin.deadletter",
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        enable_auto_commit=False,
    )
    letters = list(consumer)
    consumer.close()
    assert len(letters) == 1
    envelope = json.loads(letters[0].value)
    assert base64.b64decode(envelope["payload_base64"]) == b"{oops"
    assert envelope["reason"].startswith("not JSON") and envelope["source_offset"] >= 0
    assert dict(letters[0].headers)["reason"].decode() == envelope["reason"]
    schema = json.loads(
        (Path(__file__).parent.parent / "schemas" / "twin.deadletter.v1.json").read_text()
    )
    Draft202012Validator(schema).validate(envelope)


@pytest.mark.parametrize(
    ("preset", "n_sat", "frames_per_tick"),
    [
        ("threebody-12", 12, 1),
        ("threebody-2800", 2800, 14),  # groups of >= 200 satellites in whole planes
        ("starcloud-1", 1, 1),
        ("suncatcher-81", 81, 1),
    ],
)
def test_every_preset_runs_through_kafka(env, preset, n_sat, frames_per_tick):
    out = twin(
        "run",
        "--preset",
        preset,
        "--start",
        START,
        "--duration",
        "60s",
        "--step",
        "10s",
        "--speed",
        "max",
        env=env,
    )
    assert f"6 ticks, {6 * frames_per_tick} frames, {6 * n_sat} samples" in out
    assert f"fleet: {n_sat} satellites" in out and "propagation failures 0" in out

"""Exactly-once into the database through crashes, lost connections, repeats and bad input."""

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator
from kafka import KafkaProducer

from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import migrate
from tests.conftest import max_speed_args, read_topic, twin_command
from twin.core.clock import NS_PER_S, parse_start
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.wire.telemetry import encode

pytestmark = pytest.mark.integration

START = "2026-03-20T12:00:00Z"
T0 = parse_start(START)


def registered(database: str) -> str:
    """``database`` migrated, with threebody-12 registered in it."""
    migrate(database, store="postgresql")
    fleet, hw = build(load_preset("threebody-12"), T0)
    register_fleet(database, fleet, hw, "threebody-12", ["batch-1"], 1.0)
    return database


@pytest.fixture
def env(kafka_env, database):
    return {**kafka_env, "TWIN_DATABASE_URL": registered(database)}


HOURS = 3
SAMPLES = HOURS * 3600 * 12


@pytest.fixture(scope="module")
def produced(kafka_bootstrap) -> dict[str, str]:
    """Topics of their own holding ``HOURS`` of threebody-12 at 1 s ticks, made once for the
    tests that only read them (each into a database of its own: the database's offsets
    decide where ingest starts, so every one reads the whole history)."""
    env = {
        **os.environ,
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TWIN_TOPIC_PREFIX": f"test-{uuid.uuid4().hex[:10]}.",
    }
    produce(env)
    return env


@pytest.fixture
def produced_env(produced, database):
    return {**produced, "TWIN_DATABASE_URL": registered(database)}


def ingest_args(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "twin",
        "ingest",
        "--batch-records",
        "50",
        "--instance-id",
        "exactly-once-test",
        *extra,
    ]


def stored(database: str) -> tuple[int, int]:
    """(rows, distinct (sat_id, time))."""
    with connect(database) as conn:
        return conn.execute(
            "SELECT count(*), count(DISTINCT (sat_id, time)) FROM telemetry"
        ).fetchone()


def test_ingest_killed_at_ten_random_points_stores_every_sample_once(produced_env):
    env = produced_env
    database = env["TWIN_DATABASE_URL"]
    rng = random.Random(20261128)
    progress = []
    for _ in range(10):
        proc = subprocess.Popen(
            ingest_args(),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(1.5, 3.0))  # start-up takes about a second
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        progress.append(stored(database)[0])
    assert any(0 < p < SAMPLES for p in progress), f"no kill landed mid-stream: {progress}"
    assert progress == sorted(progress)
    out = subprocess.run(
        ingest_args("--stop-when-caught-up"), env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert stored(database) == (SAMPLES, SAMPLES)


def produce(env: dict[str, str], duration: str = f"{HOURS}h") -> None:
    """``duration`` of threebody-12 at 1 s ticks onto the test topics."""
    twin_command(*max_speed_args("threebody-12", duration), env=env)


def ingest_through(env: dict[str, str], disrupt) -> str:
    """Run ingest to the end while ``disrupt(proc)`` interferes; check that every sample is
    stored once and return ingest's log."""
    proc = subprocess.Popen(
        ingest_args("--stop-when-caught-up"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    disrupt(proc)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert stored(env["TWIN_DATABASE_URL"]) == (SAMPLES, SAMPLES)
    return err


def test_lost_database_connections_are_ridden_out(produced_env):
    env = produced_env
    terminated = []

    def cut_connections(proc) -> None:
        with connect(env["TWIN_DATABASE_URL"], autocommit=True) as admin:
            while sum(terminated) < 3 and proc.poll() is None:
                time.sleep(1.0)
                terminated.append(
                    admin.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'twin-ingest' AND datname = current_database()"
                    ).fetchone()[0]
                )

    err = ingest_through(env, cut_connections)
    assert sum(terminated) >= 2 and "reconnecting" in err


STACK = Path(__file__).resolve().parents[2] / "scripts" / "stack"


def test_database_restart_mid_run_is_ridden_out(produced_env):
    env = produced_env
    if subprocess.run([str(STACK), "status"], capture_output=True).returncode != 0:
        pytest.skip("PostgreSQL is not run by scripts/stack here; it cannot be restarted")
    stored_before = []

    def restart(proc) -> None:
        # Restart once ingest has stored something, however long its start takes here (a
        # fixed wait found nothing stored yet on a slower machine).
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline and proc.poll() is None:
            if stored(env["TWIN_DATABASE_URL"])[0] > 0:
                break
            time.sleep(0.1)
        stored_before.append(stored(env["TWIN_DATABASE_URL"])[0])
        done = subprocess.run(
            [str(STACK), "restart-postgres"], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr

    err = ingest_through(env, restart)
    assert 0 < stored_before[0] < SAMPLES, "the restart came mid-stream"
    assert "reconnecting" in err


def test_repeated_and_reordered_messages_are_stored_once(env):
    fleet, hw = build(load_preset("threebody-12"), T0)
    frames = []
    run(fleet, hw, RunPlan(T0, NS_PER_S, 300), FramesTo(frames.append))
    messages = [encode(f) for f in frames] * 2
    random.Random(7).shuffle(messages)
    twin_command("topics", "ensure", env=env)
    producer = KafkaProducer(bootstrap_servers=env["TWIN_KAFKA_BOOTSTRAP"], acks="all")
    topic = env["TWIN_TOPIC_PREFIX"] + "twin.telemetry"
    for message in messages:
        producer.send(topic, key=b"plane-0000", value=message)
    producer.flush()
    producer.close()
    out = twin_command("ingest", "--stop-when-caught-up", env=env)
    assert "600 messages (600 frames, 0 events, 0 job messages)" in out
    assert "3600 rows inserted, 3600 repeated" in out
    assert stored(env["TWIN_DATABASE_URL"]) == (3600, 3600)


def _good_frame() -> dict:
    fleet, hw = build(load_preset("threebody-12"), T0)
    frames = []
    run(fleet, hw, RunPlan(T0, NS_PER_S, 1), FramesTo(frames.append))
    return orjson.loads(encode(frames[0]))


def _with(**changes) -> bytes:
    body = _good_frame()
    body.update(changes)
    return orjson.dumps(body)


def _without(field: str) -> bytes:
    body = _good_frame()
    del body[field]
    return orjson.dumps(body)


BAD_FRAMES = {
    "truncated JSON": (encode_good := orjson.dumps(_good_frame()))[: len(encode_good) // 2],
    "binary garbage": b"\x00\xff\xfe garbage",
    "empty message": b"",
    "JSON array": b"[1, 2, 3]",
    "wrong schema version": _with(version=2),
    "missing field": _without("time_unix_ns"),
    "wrong type": _with(sat_id=[str(i) for i in range(1, 13)]),
    "NaN literal": orjson.dumps(_good_frame()).replace(b'"alt_km":[', b'"alt_km":[NaN,', 1),
    "overflowing number": _with(alt_km=[123.25] * 12).replace(b"123.25", b"1e999", 1),
    "mismatched lengths": _with(lat_deg=[0.0] * 11),
    "unknown satellite": _with(sat_id=[*range(1, 12), 99_999]),
    "far future": _with(time_unix_ns=parse_start("2200-01-01T00:00:00Z")),
    "far past": _with(time_unix_ns=parse_start("1970-01-02T00:00:00Z")),
    "oversized": _with(group="plane-0000" + "0" * (3 * 1024 * 1024)),
    "out of range": _with(soc=[1.5] * 12),
    "duplicate satellite": _with(sat_id=[1] * 12),
    "incomplete group": _without("temp_radiator_c"),
    "unknown field": _with(colour=["red"] * 12),
    "deeply nested": b"[" * 100_000,
}
REASONS = {
    "truncated JSON": "not JSON",
    "binary garbage": "not JSON",
    "empty message": "empty message",
    "JSON array": "not a JSON object",
    "wrong schema version": "unsupported schema",
    "missing field": "missing fields: time_unix_ns",
    "wrong type": "sat_id: values must",
    "NaN literal": "not JSON",
    "overflowing number": "not JSON: number is infinity",
    "mismatched lengths": "lat_deg: 11 values for 12 satellites",
    "unknown satellite": "unknown satellite ids [99999]",
    "far future": "outside the accepted 1990..2100",
    "far past": "outside the accepted",
    "oversized": "exceeds 2097152",
    "out of range": "soc: 1.5 outside the physical range",
    "duplicate satellite": "appears twice",
    "incomplete group": "'thermal' incomplete",
    "unknown field": "unknown fields: colour",
    "deeply nested": "depth limit exceeded",
}
BAD_EVENT = orjson.dumps(
    {"schema": "twin.events", "version": 1, "time_unix_ns": T0, "sat_id": 3, "kind": "explosion"}
)


def test_bad_input_corpus_lands_in_dead_letters_with_specific_reasons(env):
    twin_command("topics", "ensure", env=env)
    producer = KafkaProducer(
        bootstrap_servers=env["TWIN_KAFKA_BOOTSTRAP"], acks="all", max_request_size=8 * 1024 * 1024
    )
    prefix = env["TWIN_TOPIC_PREFIX"]
    good = orjson.dumps(_good_frame())
    for payload in [good, *BAD_FRAMES.values()]:
        producer.send(prefix + "twin.telemetry", key=b"plane-0000", value=payload).get(30)
    producer.send(prefix + "twin.events", key=b"3", value=BAD_EVENT).get(30)
    producer.close()
    out = twin_command("ingest", "--stop-when-caught-up", env=env)
    n_bad = len(BAD_FRAMES) + 1
    # The frame with one unknown satellite among eleven known ones is stored in part: its
    # eleven samples (the good frame's, at the same time: repeated) and its dead letter.
    assert f"{n_bad + 1} messages (2 frames, 0 events, 0 job messages), 12 rows inserted" in out
    assert "11 repeated" in out
    assert f"{n_bad} dead letters" in out
    with connect(env["TWIN_DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT topic, kafka_offset, reason, payload FROM dead_letters "
            "ORDER BY topic DESC, kafka_offset"
        ).fetchall()
    telemetry_rows = [r for r in rows if r[0].endswith("twin.telemetry")]
    assert len(telemetry_rows) == len(BAD_FRAMES) and len(rows) == n_bad
    for (kind, payload), (_, _, reason, stored_payload) in zip(
        BAD_FRAMES.items(), telemetry_rows, strict=True
    ):
        assert REASONS[kind] in reason, (kind, reason)
        assert stored_payload == payload
    assert "kind: 'explosion'" in rows[-1][2]
    letters = read_topic(env["TWIN_KAFKA_BOOTSTRAP"], prefix + "twin.deadletter")
    assert len(letters) == n_bad
    schema = Draft202012Validator(
        orjson.loads(
            (Path(__file__).parents[2] / "schemas" / "twin.deadletter.v1.json").read_bytes()
        )
    )
    for letter in letters:
        schema.validate(orjson.loads(letter.value))


def test_a_new_database_gets_the_whole_history_even_for_a_known_group(env, postgres_url):
    """Kafka's committed offsets belong to the group; the database's own offsets decide."""
    from tests.conftest import fresh_database

    produce(env, "10m")
    assert "7200 rows inserted" in twin_command("ingest", "--stop-when-caught-up", env=env)
    with fresh_database(postgres_url) as other:
        migrate(other, store="postgresql")
        fleet, hw = build(load_preset("threebody-12"), T0)
        register_fleet(other, fleet, hw, "threebody-12", ["batch-1"], 1.0)
        out = twin_command(
            "ingest", "--stop-when-caught-up", env={**env, "TWIN_DATABASE_URL": other}
        )
        assert "7200 rows inserted" in out
        assert stored(other) == (7200, 7200)

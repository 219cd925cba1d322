"""The twin through the real Kafka broker into the real PostgreSQL, as a user runs it."""

import os
import subprocess
import sys

import numpy as np
import pytest
from kafka import KafkaConsumer, KafkaProducer

from ingest.db import connect
from twin.clock import NS_PER_S, parse_start
from twin.fleet import walker_delta
from twin.orbit import propagate

pytestmark = pytest.mark.integration

START = "2026-03-20T12:00:00Z"
DURATION_S = 600


def twin(*args: str, env: dict[str, str]) -> str:
    """Run the ``twin`` command; return its stdout, failing the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-m", "twin", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"twin {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture
def env(kafka_bootstrap, database, topic_prefix):
    return {
        **os.environ,
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TWIN_DATABASE_URL": database,
        "TWIN_TOPIC_PREFIX": topic_prefix,
    }


def test_twelve_satellites_ten_minutes_stored_exactly_once(env, database):
    out = twin(
        "run",
        "--walker",
        "12/3/1",
        "--altitude-km",
        "500",
        "--inclination-deg",
        "97.4",
        "--start",
        START,
        "--duration",
        f"{DURATION_S}s",
        "--step",
        "1s",
        "--speed",
        "max",
        env=env,
    )
    assert "600 ticks, 1800 frames, 7200 samples" in out
    twin("db", "migrate", env=env)
    out = twin("ingest", "--stop-when-caught-up", env=env)
    assert "1800 messages, 7200 rows inserted, 0 dead letters" in out

    # The same fleet and times, computed here, are the twin's output.
    fleet = walker_delta(12, 3, 1, 500.0, 97.4, parse_start(START))
    t_ns = parse_start(START) + np.arange(DURATION_S, dtype=np.int64) * NS_PER_S
    expected = propagate(fleet.satrecs, t_ns)
    with connect(database) as conn:
        rows = conn.execute(
            "SELECT sat_id, (extract(epoch FROM time) * 1000000)::int8, lat_deg, lon_deg, alt_km "
            "FROM telemetry ORDER BY sat_id, time"
        ).fetchall()
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM telemetry GROUP BY sat_id, time "
            "HAVING count(*) > 1) d"
        ).fetchone()[0]
    assert len(rows) == 12 * DURATION_S and dupes == 0
    got = np.array(rows, dtype=object)
    np.testing.assert_array_equal(got[:, 0].astype(int), np.repeat(fleet.sat_id, DURATION_S))
    np.testing.assert_array_equal(got[:, 1].astype(np.int64), np.tile(t_ns // 1000, 12))
    np.testing.assert_array_equal(got[:, 2].astype(float), expected.lat_deg.ravel())
    np.testing.assert_array_equal(got[:, 3].astype(float), expected.lon_deg.ravel())
    np.testing.assert_array_equal(got[:, 4].astype(float), expected.alt_km.ravel())

    # A restarted ingest resumes from the offsets stored with the data: nothing repeats.
    out = twin("ingest", "--stop-when-caught-up", env=env)
    assert "0 messages, 0 rows inserted" in out


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
    out = twin("ingest", "--stop-when-caught-up", env=env)
    assert "11 messages, 20 rows inserted, 1 dead letters" in out
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
    assert [m.value for m in letters] == [b"{oops"]
    assert dict(letters[0].headers)["reason"].decode().startswith("not JSON")

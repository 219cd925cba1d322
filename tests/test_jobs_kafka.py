"""Jobs through the real broker and database: submissions answered with lifecycle steps,
bad ones rejected with the reason, everything stored by ingest."""

import time
from datetime import UTC, datetime

import numpy as np
import pytest
from kafka import KafkaProducer

from ingest.store.db import connect
from tests.conftest import TEST_START, max_speed_args, read_topic, twin_command
from twin.wire import events, jobs
from twin.wire.telemetry import decode

pytestmark = pytest.mark.integration


@pytest.fixture
def env(kafka_env, database):
    return {**kafka_env, "TWIN_DATABASE_URL": database}


def _submit(env, *messages: tuple[bytes, bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=env["TWIN_KAFKA_BOOTSTRAP"], acks="all")
    try:
        for key, value in messages:
            producer.send(env["TWIN_TOPIC_PREFIX"] + jobs.SUBMIT_TOPIC, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def test_submitted_jobs_are_answered_and_everything_lands_in_the_store(env):
    twin_command("topics", "ensure", env=env)
    make = jobs.encode_submission
    _submit(env, (b"old", make(job_id="old", kind="inference")))
    time.sleep(1.5)
    since = datetime.now(UTC).replace(microsecond=0).isoformat()
    time.sleep(1.0)
    _submit(
        env,
        (b"ops-pinned", make(job_id="ops-pinned", kind="imagery", sat_id=3, priority=9)),
        (b"ops-free", make(job_id="ops-free", kind="inference", work_tera_ops=20_000.0)),
        (b"ops-pinned", make(job_id="ops-pinned", kind="inference", sat_id=4)),
        (b"bad-kind", make(job_id="bad-kind", kind="mining")),
        (b"lost", make(job_id="lost", kind="inference", sat_id=999)),
        (b"?", b"{not json"),
    )
    out = twin_command(*max_speed_args("threebody-12", "3h", "10s"), "--jobs-since", since, env=env)
    assert "rejected 4" in out, out

    bootstrap, prefix = env["TWIN_KAFKA_BOOTSTRAP"], env["TWIN_TOPIC_PREFIX"]
    rows = [
        row
        for record in read_topic(bootstrap, prefix + jobs.JOBS_TOPIC)
        for row in jobs.decode_steps(record.value)
    ]
    by_job: dict[str, list[tuple]] = {}
    for row in sorted(rows, key=lambda r: r[0]):
        by_job.setdefault(row[1], []).append(row)
    assert "old" not in by_job  # sent before --jobs-since
    lifecycle = [r for r in by_job["ops-pinned"] if r[2] != "rejected"]
    assert [r[2] for r in lifecycle] == ["accepted", "started", "completed", "downlinked"]
    assert len(by_job["ops-pinned"]) == 5  # and the second submission under the same id
    assert all(r[3] == 3 for r in lifecycle)
    downlinked = lifecycle[3]
    assert 0 < downlinked[6] < 3600 and downlinked[7] > 0  # latency_s, energy_j
    free = [r[2] for r in by_job["ops-free"]]
    assert free[0] == "accepted" and free[-1] in ("downlinked", "failed")
    reasons = {r[1]: r[5] for r in rows if r[2] == "rejected"}
    assert "kind: 'mining' is not one of" in reasons["bad-kind"]
    assert "sat_id: 999 is not in the fleet" in reasons["lost"]
    assert "already submitted" in reasons["ops-pinned"]
    (unreadable,) = [r for job_id, r in reasons.items() if job_id.startswith("submit-")]
    assert unreadable.startswith("not JSON")

    # The fleet's own workload runs alongside, and telemetry shows its results.
    assert sum(1 for r in rows if r[2] == "downlinked") > 100
    frames = [decode(r.value) for r in read_topic(bootstrap, prefix + "twin.telemetry")]
    in_contact = np.concatenate([f.channels["in_contact"] for f in frames])
    latency = np.concatenate([f.channels["job_latency_s"] for f in frames])
    tops = np.array([f.channels["throughput_tops"].sum() for f in frames])
    assert 0 < in_contact.mean() < 0.5
    assert np.isfinite(latency).sum() > 100 and np.nanmin(latency) > 0
    assert tops.mean() > 0.3 * 12 * 420
    kinds = [events.decode(r.value)[2] for r in read_topic(bootstrap, prefix + "twin.events")]
    assert kinds.count("contact_aos") > 10 and kinds.count("contact_los") > 10

    twin_command("db", "migrate", env=env)
    twin_command("db", "fleet", "--preset", "threebody-12", "--start", TEST_START, env=env)
    out = twin_command("ingest", "--stop-when-caught-up", env=env)
    assert ", 0 dead letters" in out, out
    with connect(env["TWIN_DATABASE_URL"]) as conn:
        stored = conn.execute("SELECT count(*) FROM job_events").fetchone()[0]
        assert stored == len(rows)
        assert conn.execute(
            "SELECT state, sat_id, kind, reason IS NOT NULL FROM job_events "
            "WHERE job_id = 'ops-pinned' AND state IN ('rejected', 'downlinked') ORDER BY state"
        ).fetchall() == [("downlinked", 3, "imagery", False), ("rejected", None, None, True)]
        stations = conn.execute(
            "SELECT count(DISTINCT e.station_id) FROM events e "
            "JOIN ground_stations g USING (station_id) WHERE e.kind = 'contact_aos'"
        ).fetchone()[0]
        assert stations > 3

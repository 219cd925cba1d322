"""Observed telemetry of a real fleet through the real broker into the store, as a ground
segment delivers it: recorder dumps hours late, out of order across satellites, repeated,
with gaps; every good sample stored once with its lateness, a bad sample dead-lettered
without its packet's good ones, foreign bytes dead-lettered."""

from __future__ import annotations

import re

import numpy as np
import orjson
import pytest
from kafka import KafkaProducer

from ingest.store.db import connect
from ingest.store.migrate import migrate
from tests.conftest import KEEP_HISTORY, twin_command
from twin.core.clock import NS_PER_S, parse_start
from twin.wire import observed

pytestmark = pytest.mark.integration

T0 = parse_start("2026-03-20T12:00:00Z")


def _packet(sat_id: int, seq: int, first_s: int, n: int, received_s: int, **changes) -> bytes:
    """``n`` samples of one satellite every 10 s from ``first_s``, received at ``received_s``
    (seconds after T0); values follow the time so that a stored row can be checked."""
    k = np.arange(n)
    t_s = first_s + 10 * k
    body = {
        "schema": observed.SCHEMA_ID,
        "version": 1,
        "sat_id": sat_id,
        "seq": seq,
        "received_unix_ns": T0 + received_s * NS_PER_S,
        "time_unix_ns": [T0 + int(t) * NS_PER_S for t in t_s],
        "battery_v": [28.0 + 1e-4 * float(t) + sat_id for t in t_s],
        "temp_payload_c": [20.0 + 1e-3 * float(t) for t in t_s],
        "safe_mode": [bool(t % 20) for t in t_s],
        "upsets": [int(t % 3) for t in t_s],
        "utilisation": [None] * n,  # not sampled
    }
    return orjson.dumps(body | changes)


@pytest.mark.parametrize("store", ["postgresql", "timescaledb"])
def test_late_repeated_and_bad_observations_are_stored_once_or_dead_lettered(
    store, request, kafka_env, kafka_bootstrap, topic_prefix
):
    url = request.getfixturevalue("database" if store == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=store)
    env = {**kafka_env, "TWIN_DATABASE_URL": url}
    twin_command("topics", "ensure", env=env)
    bad = _packet(3, 9, 600, 6, 7_300)
    bad_body = orjson.loads(bad)
    bad_body["temp_payload_c"][2] = 5_000.0  # one sample outside the physical range
    messages = [
        (2, _packet(2, 1, 0, 360, 3_700)),  # an hour of samples, dumped an hour later
        (1, _packet(1, 4, 0, 180, 7_200)),  # a half-hour dump, two hours late
        (2, _packet(2, 2, 3_600, 30, 3_900)),  # the next pass: the live stretch
        (2, _packet(2, 1, 0, 360, 3_700)),  # the first dump again: every sample a repeat
        (1, _packet(1, 5, 1_790, 12, 7_260)),  # overlaps the last dump by one sample
        (3, orjson.dumps(bad_body)),
        (3, b"\x00not json"),
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    topic = topic_prefix + observed.OBSERVED_TOPIC
    for sat_id, value in messages:
        producer.send(topic, key=str(sat_id).encode(), value=value)
    producer.flush()
    producer.close()

    out = twin_command("ingest", "--stop-when-caught-up", env=env)
    good = 360 + 180 + 30 + 11 + 5  # new samples: the overlap and the bad one not counted
    assert f"6 observed packets: {good} samples stored, 361 repeated" in out, out
    assert "2 dead letters" in out, out
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT sat_id, extract(epoch FROM time)::float8, battery_v, temp_payload_c, "
            "safe_mode, upsets, utilisation, extract(epoch FROM received_at - time)::float8 "
            "FROM observed ORDER BY sat_id, time"
        ).fetchall()
        letters = conn.execute(
            "SELECT reason, samples FROM dead_letters WHERE topic = %s ORDER BY kafka_offset",
            (topic,),
        ).fetchall()
    assert len(rows) == good
    sat, t, volts, temp, safe, upsets, util, late = (np.array(c) for c in zip(*rows, strict=True))
    t_s = t - T0 / NS_PER_S
    np.testing.assert_allclose(volts, 28.0 + 1e-4 * t_s + sat, atol=1e-9)
    np.testing.assert_allclose(temp, 20.0 + 1e-3 * t_s, atol=1e-9)
    assert (safe == (t_s % 20 != 0)).all() and (upsets == t_s % 3).all()
    assert all(u is None for u in util)
    assert (late > 0).all() and late.max() == 7_200.0  # satellite 1's first sample
    assert 5_000.0 not in temp and sorted(np.unique(sat).tolist()) == [1, 2, 3]
    assert letters[0][1] == 1 and "temp_payload_c" in letters[0][0] and "5000" in letters[0][0]
    assert "not JSON" in letters[1][0]


def test_an_emulated_fleet_reaches_the_store_whole_and_its_truth_stays_hidden(
    tmp_path, database, kafka_env, topic_prefix
):
    import psycopg

    from ingest.store.roles import INGEST_ROLE, READER_ROLE
    from tests.conftest import role_url

    migrate(database, KEEP_HISTORY, store="postgresql")
    salt = tmp_path / "salt"
    salt.write_text("kept-from-the-mirror\n")
    env = {**kafka_env, "TWIN_DATABASE_URL": database}
    twin_command("topics", "ensure", env=env)
    out = twin_command(
        "emulate", "--preset", "threebody-12", "--start", "2026-03-20T12:00:00Z",
        "--duration", "3h", "--step", "10s", "--speed", "max", "--seed", "5",
        "--truth-salt-file", str(salt), "--run-id", "truth-1", "--elements-every", "2h",
        env=env, timeout_s=600,
    )  # fmt: skip
    recorded, sent, packets, on_board = (
        int(x)
        for x in re.search(
            r"(\d+) samples recorded, (\d+) sent in (\d+) packets .*, (\d+) still on board", out
        ).groups()
    )
    assert recorded == 12 * 1_080 and sent + on_board == recorded and packets > 12
    # Every satellite's first element set at the start, then one every 2 h, phased.
    sets = int(re.search(r"(\d+) element sets to", out).group(1))
    assert 12 * 2 <= sets <= 12 * 3, out
    out = twin_command("ingest", "--stop-when-caught-up", env=env)
    assert f"{packets} observed packets: {sent} samples stored, 0 repeated" in out, out
    assert f"{sets} element sets (0 repeated)" in out, out
    assert "0 dead letters" in out, out
    with connect(database) as conn:
        stored, late = conn.execute(
            "SELECT count(*), min(extract(epoch FROM received_at - time)) FROM observed"
        ).fetchone()
        truth = conn.execute(
            "SELECT parameter, count(*), min(multiplier), max(multiplier) "
            "FROM truth_parameters WHERE run_id = 'truth-1' GROUP BY parameter ORDER BY 1"
        ).fetchall()
    assert stored == sent and late >= 0
    assert [(p, n) for p, n, _, _ in truth] == [
        ("array_cell_efficiency", 12), ("battery_capacity_wh", 12), ("radiator_emissivity", 12)
    ]  # fmt: skip
    assert all(0.9 < low <= high < 1.1 and low < high for _, _, low, high in truth)
    # The mirror estimates each satellite from what was observed, as twin_ingest, and the
    # score compares with the hidden truth, as the owner.
    out = twin_command("mirror", "estimate", "--preset", "threebody-12", env=env)
    assert "36 estimates stored" in out, out
    score = twin_command("mirror", "score", "--run-id", "truth-1", env=env)
    lines = {line.split()[0]: line.split()[1:] for line in score.splitlines()[1:] if line}
    for parameter, tolerance_pct in (
        ("array_cell_efficiency", 0.5),
        ("battery_capacity_wh", 2),
        ("radiator_emissivity", 3),
    ):
        satellites, median_pct, p95_pct = lines[parameter]
        assert satellites == "12/12" and float(p95_pct) < tolerance_pct, score
        assert float(median_pct) <= float(p95_pct)
    # Each set received against the truth orbit: within the stated fit error (0.5 km along
    # track, 0.1 km across, 1 σ), and the prediction moves by about as much at an update.
    at_epoch = re.search(r"position error at epoch +(\d+) +([\d.]+) +([\d.]+) +([\d.]+)", score)
    assert at_epoch and int(at_epoch.group(1)) == sets, score
    assert 0.05 < float(at_epoch.group(2)) < 0.8 and float(at_epoch.group(4)) < 2.5, score
    change = re.search(r"change at update +(\d+) +([\d.]+)", score)
    assert change and int(change.group(1)) == sets - 12 and 0.05 < float(change.group(2)) < 1.2
    # A forecast flown from the element sets received, scored against the truth orbits:
    # every eclipse and contact edge found, within a second (the sets' fit error is
    # 0.5 km along track, a fifteenth of a second of flight).
    out = twin_command(
        "forecast", "make", "--preset", "threebody-12", "--start", "2026-03-20T14:00:00Z",
        "--horizon", "6h", "--step", "20s", "--forecast-id", "f-1", env=env,
    )  # fmt: skip
    assert "12 satellites (12 flown from element sets received)" in out, out
    score = twin_command(
        "forecast", "score", "--run-id", "truth-1", "--forecast-id", "f-1", env=env
    )
    rows = {line.split()[0]: line.split()[1:] for line in score.splitlines()[1:] if line}
    for kind, limit_s in (("eclipse", 1.0), ("contact", 2.0)):
        compared, median_s, p95_s, _, missed, extra = rows[kind]
        assert int(compared) > 20 and float(median_s) <= float(p95_s) < limit_s, score
        assert int(missed) + int(extra) <= int(compared) // 20, score
    with connect(role_url(database, READER_ROLE)) as conn:  # the dashboards' login reads them
        assert conn.execute("SELECT count(*) FROM forecast_windows").fetchone()[0] > 0
    for role in (INGEST_ROLE, READER_ROLE):  # the mirror's logins never read the truth
        with (
            connect(role_url(database, role)) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("SELECT * FROM truth_parameters").fetchall()
        with (
            connect(role_url(database, role)) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("SELECT * FROM truth_elements").fetchall()

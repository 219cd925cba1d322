"""``twin forecast states`` as a user runs it: every satellite's state per orbit, stored,
and the mirror's estimates changing what it predicts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from ingest.store.db import connect
from ingest.store.migrate import migrate
from tests.conftest import KEEP_HISTORY, TEST_START, read_topic, twin_command

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[1]

ARGS = ("forecast", "states", "--preset", "threebody-12", "--start", TEST_START, "--from",
        "start", "--step", "10s", "--horizon", "4h")  # fmt: skip


def lowest(database: str, forecast_id: str) -> dict[int, float]:
    with connect(database) as conn:
        rows = conn.execute(
            "SELECT sat_id, min(min_soc) FROM forecast_states WHERE forecast_id = %s "
            "GROUP BY sat_id",
            (forecast_id,),
        ).fetchall()
    return dict(rows)


def test_a_mirrored_capacity_loss_lowers_that_satellites_predicted_minimum(database):
    migrate(database, store="postgresql")
    env = {**os.environ, "TWIN_DATABASE_URL": database}
    out = twin_command(*ARGS, "--forecast-id", "plain", env=env)
    assert re.search(r"12 satellites from 2026-03-20T12:00:00Z \(the initial state\) over "
                     r"4.00 h: up to 3 orbits each", out), out  # fmt: skip
    with connect(database) as conn:
        orbits = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE min_soc_at BETWEEN starts_at AND ends_at "
            "AND ends_at > starts_at AND available_tera_ops >= tera_ops), "
            "count(DISTINCT sat_id), min(starts_at), max(ends_at) FROM forecast_states "
            "WHERE forecast_id = 'plain'"
        ).fetchone()
        conn.execute(
            "INSERT INTO mirror_estimates (sat_id, parameter, multiplier, value, stderr, "
            "samples, data_from, data_until) VALUES (3, 'battery_capacity_wh', 0.85, 0, 0.001, "
            "1000, now(), now())"
        )
        conn.commit()
    n, consistent, satellites, first, last = orbits
    assert n == consistent == 36 and satellites == 12  # 3 orbits of ~95 min in 4 h, each
    assert (last - first).total_seconds() == 4 * 3600
    twin_command(*ARGS, "--forecast-id", "mirrored", "--mirrored", env=env)
    plain, mirrored = lowest(database, "plain"), lowest(database, "mirrored")
    assert mirrored[3] < plain[3] - 0.01
    others = [s for s in plain if s != 3]
    assert np.allclose([mirrored[s] for s in others], [plain[s] for s in others], atol=1e-3)


def _score(out: str) -> dict[str, tuple[int, float, float, float]]:
    """``twin forecast score-states`` output: quantity -> (compared, median, p95, max)."""
    found = {}
    for line in out.splitlines()[1:]:
        label, numbers = line[:36].strip(), line[36:].split()
        found[label] = (int(numbers[0]), *(float(x) for x in numbers[1:]))
    return found


def test_the_mirrored_forecast_follows_the_hidden_truth_and_the_preset_does_not(
    kafka_env, timescale_db
):
    """The whole loop: an emulated fleet with hidden parameters publishes what a ground
    segment receives; ingest stores it; the mirror estimates; the state forecast flies the
    estimates; the score flies the truth again and compares, orbit by orbit."""
    migrate(timescale_db, KEEP_HISTORY, store="timescaledb")  # no policy drops 2026-03
    env = {**kafka_env, "TWIN_DATABASE_URL": timescale_db}
    twin_command("topics", "ensure", env=env)
    common = ("--preset", "threebody-12", "--start", TEST_START, "--step", "10s", "--seed", "7")
    twin_command("emulate", *common, "--duration", "6h", "--speed", "max", "--run-id", "e1",
                 env=env)  # fmt: skip
    twin_command("ingest", "--stop-when-caught-up", env=env)
    twin_command("mirror", "estimate", "--preset", "threebody-12", env=env)
    scores = {}
    for name, extra in (("plain", ()), ("mirrored", ("--mirrored",))):
        twin_command("forecast", "states", *common, "--from", "start", "--horizon", "6h",
                     "--forecast-id", name, *extra, env=env)  # fmt: skip
        out = twin_command("forecast", "score-states", *common, "--run-id", "e1",
                           "--forecast-id", name, env=env)  # fmt: skip
        scores[name] = _score(out)
    # From what the ground received at 15:00 instead: every satellite starts from a sample.
    at = "2026-03-20T15:00:00Z"
    out = twin_command("forecast", "states", *common, "--from", "observed", "--at", at,
                       "--horizon", "3h", "--forecast-id", "seen", "--mirrored",
                       env=env)  # fmt: skip
    assert f"12 of 12 satellites start from a sample within 1m of {at}" in out
    seen = _score(twin_command("forecast", "score-states", *common, "--run-id", "e1",
                               "--forecast-id", "seen", env=env))  # fmt: skip
    assert seen["lowest state of charge (points of %)"][0] == 12 * 2  # 3 h: two orbits each
    soc = "lowest state of charge (points of %)"
    temp = "peak payload temperature (K)"
    assert scores["mirrored"][soc][0] == scores["plain"][soc][0] == 12 * 4
    assert scores["mirrored"][soc][2] <= 3.0  # p95 within 3 points of the truth over 6 h
    assert scores["mirrored"][soc][2] < scores["plain"][soc][2] / 5
    assert scores["mirrored"][temp][2] < scores["plain"][temp][2] / 5


def test_published_forecasts_keep_their_contract_and_match_the_store(kafka_env, database):
    migrate(database, store="postgresql")
    env = {**kafka_env, "TWIN_DATABASE_URL": database}
    out = twin_command(*ARGS, "--forecast-id", "pub", "--publish", env=env)
    assert "12 satellites' forecasts sent to twin.forecasts" in out
    schema = Draft202012Validator(
        json.loads((ROOT / "schemas" / "twin.forecasts.v1.json").read_text())
    )
    records = read_topic(env["TWIN_KAFKA_BOOTSTRAP"], env["TWIN_TOPIC_PREFIX"] + "twin.forecasts")
    bodies = {int(r.key): json.loads(r.value) for r in records}
    assert sorted(bodies) == list(range(1, 13)) and len(records) == 12
    for body in bodies.values():
        schema.validate(body)
        assert body["forecast_id"] == "pub"
    with connect(database) as conn:
        stored = conn.execute(
            "SELECT orbit, min_soc, max_temp_payload_c, tera_ops FROM forecast_states "
            "WHERE forecast_id = 'pub' AND sat_id = 3 ORDER BY orbit"
        ).fetchall()
    three = bodies[3]
    assert [r[1] for r in stored] == three["min_soc"]
    assert [r[2] for r in stored] == three["max_temp_payload_c"]
    assert [r[3] for r in stored] == three["tera_ops"]

"""``twin forecast states`` as a user runs it: every satellite's state per orbit, stored,
and the mirror's estimates changing what it predicts."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from ingest.store.db import connect
from ingest.store.migrate import migrate
from tests.conftest import TEST_START, twin_command

pytestmark = pytest.mark.integration

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

"""``audit_completeness_hourly``: a run that starts and ends mid-hour is complete; a satellite
that falls silent while the fleet goes on is not."""

import numpy as np
import pytest

from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import migrate
from tests.conftest import KEEP_HISTORY, store_frames
from twin.core.clock import NS_PER_S, parse_start
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.wire.telemetry import reject_samples

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", ["postgresql", "timescaledb"])
def test_partial_hours_are_complete_and_a_silent_satellite_is_not(path, request):
    url = request.getfixturevalue("database" if path == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=path)
    start = parse_start("2026-03-20T12:50:30Z")  # 20 minutes across the hour
    fleet, hw = build(load_preset("threebody-12"), start)
    register_fleet(url, fleet, hw, "threebody-12", ["batch-1"], 10.0)
    frames = []
    run(fleet, hw, RunPlan(start, 10 * NS_PER_S, 120), FramesTo(frames.append))
    silent = int(fleet.sat_id[5])
    for k in range(60, 120):  # the last ten minutes without satellite 5
        frames[k] = reject_samples(frames[k], frames[k].sat_id == silent, "silent")
    store_frames(url, frames)
    if path == "timescaledb":
        with connect(url, autocommit=True) as conn:
            conn.execute("CALL refresh_continuous_aggregate('telemetry_1m', NULL, NULL)")
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT extract(hour FROM hour)::int, sat_id, expected, received, completeness "
            "FROM audit_completeness_hourly ORDER BY 1, 2"
        ).fetchall()
    by = {(h, s): (e, r, c) for h, s, e, r, c in rows}
    for sat in fleet.sat_id.tolist():
        # 12:50:30 to 13:00: 57 ticks; 13:00 to the last tick at 13:10:20 plus one: 63.
        first, second = by[(12, sat)], by[(13, sat)]
        assert first[0] == pytest.approx(57) and first[1] == 57 and first[2] == pytest.approx(1)
        assert second[0] == pytest.approx(63)
        if sat == silent:  # silent from 13:00:30: 3 ticks in the hour, then nothing
            assert second[1] == 3 and second[2] == pytest.approx(3 / 63)
        else:
            assert second[1] == 63 and second[2] == pytest.approx(1)
    assert np.isfinite([c for _, _, _, _, c in rows]).all()

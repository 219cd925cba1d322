"""Channel limits in the store: ``twin db fleet`` writes each satellite's, and
``satellite_limit_states`` judges its latest sample against them, on both paths."""

import numpy as np
import pytest

from ingest.rules.detect import load_satellites
from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import migrate
from ingest.store.roles import READER_ROLE
from tests.conftest import KEEP_HISTORY, role_url, store_frames
from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.limits import RED, YELLOW, colour, resolve
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.wire.telemetry import to_stored_resolution

pytestmark = pytest.mark.integration

T0 = parse_start("2026-03-20T12:00:00Z")


@pytest.fixture(params=["postgresql", "timescaledb"])
def store(request):
    url = request.getfixturevalue("database" if request.param == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=request.param)
    return url


def test_registered_limits_and_the_latest_samples_colours_match_the_dictionary(store):
    fleet, hw = build(load_preset("threebody-12"), T0)
    register_fleet(store, fleet, hw, "threebody-12", ["batch-1"], 1.0)
    frames = []
    run(fleet, hw, RunPlan(T0, NS_PER_S, 3), FramesTo(frames.append))
    last = frames[-1]
    limits = resolve(hw)
    row = {int(s): i for i, s in enumerate(fleet.sat_id)}
    # Satellite 2 in its last sample: battery below its safe-mode limit (red), payload between
    # throttling and critical (yellow); the others as simulated.
    k = int(np.flatnonzero(last.sat_id == fleet.sat_id[2])[0])
    last.channels["soc"][k] = limits["soc"][2, 0] - 0.05
    last.channels["temp_payload_c"][k] = limits["temp_payload_c"][2, 2] + 1.0
    store_frames(store, frames)

    with connect(store) as conn:
        stored = conn.execute(
            "SELECT sat_id, channel, red_low, yellow_low, yellow_high, red_high "
            "FROM channel_limits ORDER BY sat_id, channel"
        ).fetchall()
    assert len(stored) == len(limits) * 12
    # What the limit rules judge by: the same limits, as ingest reads them.
    with connect(store) as conn:
        sats = load_satellites(conn)
    order = [row[int(s)] for s in sats.sat_id]
    assert set(sats.limits) == set(limits)
    for channel, table in sats.limits.items():
        np.testing.assert_allclose(table, limits[channel][order], err_msg=channel)
    for sat, channel, *four in stored:
        expected = limits[channel][row[sat]]
        got = np.array([np.nan if v is None else v for v in four])
        np.testing.assert_allclose(got, expected, err_msg=f"{sat} {channel}")

    # What Grafana reads, as the reader role does.
    with connect(role_url(store, READER_ROLE)) as conn:
        states = conn.execute(
            "SELECT sat_id, channel, value, state FROM satellite_limit_states"
        ).fetchall()
    assert len(states) == len(limits) * 12
    by_key = {(sat, channel): (value, state) for sat, channel, value, state in states}
    assert by_key[(int(fleet.sat_id[2]), "soc")][1] == RED
    assert by_key[(int(fleet.sat_id[2]), "temp_payload_c")][1] == YELLOW
    for (sat, channel), (value, state) in by_key.items():
        sent = float(last.channels[channel][list(last.sat_id).index(sat)])
        assert value == to_stored_resolution(channel, np.array([sent]))[0], (sat, channel)
        expected = colour(np.array([sent]), limits[channel][[row[sat]]])[0]
        assert state == expected, (sat, channel, value)

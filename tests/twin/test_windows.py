"""Eclipse and contact windows ahead, against skyfield (the authority for the geometry) and
against a brute-force search on a 0.1 s grid (the precision of the crossing refinement):
every window found, every edge within ±1 s of skyfield's and ±0.1 s of the fine grid, though
the forecast grid is 30 s."""

import numpy as np
import pytest
from skyfield.api import EarthSatellite, wgs84
from skyfield.searchlib import find_discrete

from twin.core.clock import NS_PER_S, parse_start, skyfield_time
from twin.fleet.constellation import concat, walker_delta
from twin.forecast.windows import windows
from twin.payload.ground import elevation_deg, load_stations, stations_from_arrays
from twin.physics.orbit import propagate
from twin.physics.sun import _ephemeris, sun_teme_km, sunlight

START_NS = parse_start("2026-03-20T12:00:00Z")
HORIZON_S = 12 * 3600
STEP_NS = 30 * NS_PER_S


@pytest.fixture(scope="module")
def fleet():
    return concat(
        [
            walker_delta(12, 4, 1, 550.0, 53.0, START_NS),
            walker_delta(8, 4, 1, 800.0, 97.6, START_NS, raan0_deg=20.0, first_sat_id=13),
        ]
    )


@pytest.fixture(scope="module")
def stations():
    every = load_stations()
    rows = [every.name.index(n) for n in ("Svalbard SvalSat", "Kourou", "Weilheim", "McMurdo")]
    return stations_from_arrays(
        every.lat_deg[rows], every.lon_deg[rows], every.alt_km[rows],
        every.min_elevation_deg[rows], station_id=every.station_id[rows],
    )  # fmt: skip


@pytest.fixture(scope="module")
def found(fleet, stations):
    return windows(fleet, stations, START_NS, HORIZON_S * NS_PER_S, STEP_NS)


def _edges_s(w, sat: int, station: int = -1) -> list[float]:
    """The window edges of one satellite (and station) not cut by the horizon, s from start."""
    mine = (w.sat_row == sat) & (w.station_row == station)
    edges = [float(s) for s in (w.start_ns[mine & ~w.open_start] - START_NS) / NS_PER_S]
    edges += [float(e) for e in (w.end_ns[mine & ~w.open_end] - START_NS) / NS_PER_S]
    return sorted(edges)


def test_eclipse_edges_match_skyfield_is_sunlit(fleet, found):
    eclipses, _ = found
    t0 = skyfield_time(START_NS)
    t1 = skyfield_time(START_NS + HORIZON_S * NS_PER_S)
    compared = 0
    for i in range(fleet.n_sat):  # the authority computes per satellite
        sat = EarthSatellite.from_satrec(fleet.elements[i], t0.ts)

        def sunlit(t, sat=sat):
            return sat.at(t).is_sunlit(_ephemeris())

        sunlit.step_days = 60.0 / 86_400.0
        t, _ = find_discrete(t0, t1, sunlit)
        theirs = sorted((t.tt - t0.tt) * 86_400.0)
        ours = _edges_s(eclipses, i)
        assert len(ours) == len(theirs), (i, ours, theirs)
        np.testing.assert_allclose(ours, theirs, atol=1.0)
        compared += len(theirs)
    assert compared >= 200  # measured: 237 edges (a few 97.6° orbits stay in sunlight)


def test_contact_edges_match_skyfield_find_events(fleet, stations, found):
    _, contacts = found
    t0 = skyfield_time(START_NS)
    t1 = skyfield_time(START_NS + HORIZON_S * NS_PER_S)
    compared = 0
    for i in range(fleet.n_sat):
        sat = EarthSatellite.from_satrec(fleet.elements[i], t0.ts)
        for s in range(stations.n_st):
            where = wgs84.latlon(
                stations.lat_deg[s], stations.lon_deg[s], elevation_m=stations.alt_km[s] * 1e3
            )
            t, event = sat.find_events(
                where, t0, t1, altitude_degrees=stations.min_elevation_deg[s]
            )
            theirs = sorted((t.tt - t0.tt)[event != 1] * 86_400.0)
            ours = _edges_s(contacts, i, s)
            assert len(ours) == len(theirs), (i, s, ours, theirs)
            np.testing.assert_allclose(ours, theirs, atol=1.0)  # skyfield's own search: 0.5 s
            compared += len(theirs)
    assert compared >= 200


def test_edges_are_within_a_tenth_of_a_second_of_a_fine_grid(fleet, stations, found):
    eclipses, contacts = found
    # Around each edge, the same geometry on a 0.1 s grid: where does the sign change?
    for w, n_check in ((eclipses, 40), (contacts, 40)):
        rows = np.flatnonzero(~w.open_start)[:n_check]
        for r in rows:  # a few dozen edges, each with its own fine grid
            edge_ns = int(w.start_ns[r])
            t_ns = edge_ns + np.arange(-50, 51, dtype=np.int64) * NS_PER_S // 10
            orbit = propagate(fleet.satrecs, t_ns)
            if w.kind == "eclipse":
                margin = sunlight(orbit.r_teme_km, sun_teme_km(t_ns)[:, None, :]).limb_margin_rad
                inside = margin[w.sat_row[r]] <= 0
            else:
                st = w.station_row[r]
                elev = elevation_deg(orbit.r_itrs_km, stations)[w.sat_row[r], st]
                inside = elev >= stations.min_elevation_deg[st]
            change = np.flatnonzero(inside[1:] & ~inside[:-1])
            assert change.size == 1, (w.kind, r)
            fine_ns = t_ns[change[0]] + NS_PER_S // 20  # the middle of the 0.1 s step
            assert abs(edge_ns - fine_ns) <= NS_PER_S // 10, (w.kind, (edge_ns - fine_ns) / 1e9)


def test_windows_alternate_and_are_cut_at_the_horizon(fleet, found):
    for w in found:
        assert (w.end_ns >= w.start_ns).all()
        assert (w.start_ns[w.open_start] == START_NS).all()
        assert (w.end_ns[w.open_end] == START_NS + HORIZON_S * NS_PER_S).all()
        for i in range(fleet.n_sat):
            for st in np.unique(w.station_row):
                mine = (w.sat_row == i) & (w.station_row == st)
                starts, ends = w.start_ns[mine], w.end_ns[mine]
                assert (np.diff(starts) > 0).all() and (starts[1:] >= ends[:-1]).all()


def test_a_horizon_of_one_step_gives_open_windows_and_a_shorter_one_is_refused(fleet, stations):
    eclipses, contacts = windows(fleet, stations, START_NS, STEP_NS, STEP_NS)
    for w in (eclipses, contacts):
        assert (w.start_ns >= START_NS).all() and (w.end_ns <= START_NS + STEP_NS).all()
    assert eclipses.open_start.sum() >= 1  # somebody is in the Earth's shadow at any time
    with pytest.raises(ValueError, match="not one step"):
        windows(fleet, stations, START_NS, STEP_NS - 1, STEP_NS)

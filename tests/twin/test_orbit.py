"""Orbit against skyfield's per-satellite computation (positions, velocities, WGS84)."""

import numpy as np
import pytest
from sgp4.api import Satrec, SatrecArray
from skyfield.api import EarthSatellite, wgs84
from skyfield.framelib import itrs

from twin.core.clock import parse_start, skyfield_time
from twin.fleet.constellation import walker_delta
from twin.physics.orbit import geodetic_wgs84, propagate

START_NS = parse_start("2026-03-20T12:00:00Z")


@pytest.fixture(scope="module")
def fleet():
    # Two shells' worth of geometry: 100 satellites, 10 planes, polar-ish and inclined.
    return walker_delta(100, 10, 3, 550.0, 97.4, START_NS)


@pytest.fixture(scope="module")
def times_ns():
    # 100 times over ~17 hours, not aligned to whole seconds.
    return START_NS + np.arange(100, dtype=np.int64) * 613_250_000_000 + 123_456


def test_positions_match_skyfield_within_1_m(fleet, times_ns):
    state = propagate(fleet.satrecs, times_ns)
    t = skyfield_time(times_ns)
    worst_r_m = worst_v_m_s = 0.0
    for i in range(fleet.n_sat):  # the authority is per satellite; our side is one call
        r, v = (
            EarthSatellite.from_satrec(fleet.elements[i], t.ts).at(t).frame_xyz_and_velocity(itrs)
        )
        worst_r_m = max(worst_r_m, np.abs(r.km - state.r_itrs_km[:, i, :]).max() * 1e3)
        worst_v_m_s = max(worst_v_m_s, np.abs(v.km_per_s - state.v_itrs_km_s[:, i, :]).max() * 1e3)
    assert worst_r_m < 1.0
    assert worst_v_m_s < 1e-3


def test_geodetic_matches_skyfield_wgs84(fleet, times_ns):
    state = propagate(fleet.satrecs, times_ns)
    t = skyfield_time(times_ns)
    for i in range(fleet.n_sat):
        where = wgs84.geographic_position_of(
            EarthSatellite.from_satrec(fleet.elements[i], t.ts).at(t)
        )
        dlon = (where.longitude.degrees - state.lon_deg[i] + 180.0) % 360.0 - 180.0
        assert np.abs(where.latitude.degrees - state.lat_deg[i]).max() < 1e-6
        assert np.abs(dlon).max() < 1e-6
        assert np.abs(where.elevation.m - state.alt_km[i] * 1e3).max() < 1.0


def test_geodetic_closed_form_points():
    # Equator at the prime meridian, north pole, and 45°E on the equator at 500 km.
    r = np.array([[6378.137 + 500.0, 0.0, 0.0], [0.0, 0.0, 6356.752314245 + 100.0]]).T
    lat, lon, alt = geodetic_wgs84(r)
    np.testing.assert_allclose(lat, [0.0, 90.0], atol=1e-9)
    np.testing.assert_allclose(alt, [500.0, 100.0], atol=1e-6)
    assert lon[0] == 0.0


def test_broadcast_one_n_and_n_by_m_agree(fleet, times_ns):
    full = propagate(fleet.satrecs, times_ns[:7])  # N × M
    one_time = propagate(fleet.satrecs, times_ns[3:4])  # N × 1
    one_sat = propagate(SatrecArray([fleet.elements[42]]), times_ns[:7])  # 1 × M
    np.testing.assert_array_equal(full.r_itrs_km[:, :, 3], one_time.r_itrs_km[:, :, 0])
    np.testing.assert_array_equal(full.lat_deg[42], one_sat.lat_deg[0])
    np.testing.assert_array_equal(full.alt_km[:, 3], one_time.alt_km[:, 0])


def test_decayed_satellite_reports_error_code_and_nan():
    healthy = Satrec.twoline2rv(
        "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9005",
        "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.49815351 19999",
    )
    decaying = Satrec.twoline2rv(  # very low perigee and strong drag: SGP4 gives up
        "1 99999U 24001A   24001.50000000  .99999999  00000-0  99999-0 0  9990",
        "2 99999  51.6000 100.0000 0001000   0.0000   0.0000 16.40000000    19",
    )
    t = np.array([parse_start("2024-01-31T00:00:00Z")], dtype=np.int64)
    state = propagate(SatrecArray([healthy, decaying]), t)
    assert state.sgp4_error[0, 0] == 0 and state.sgp4_error[1, 0] != 0
    assert np.isfinite(state.lat_deg[0, 0]) and np.isnan(state.lat_deg[1, 0])
    assert np.isnan(state.r_itrs_km[:, 1, 0]).all()


def test_time_split_keeps_sub_microsecond_precision(fleet):
    # One nanosecond moves a LEO satellite ~7.6 µm; 1 µs moves it ~7.6 mm.
    t = np.array([START_NS, START_NS + 1000], dtype=np.int64)
    state = propagate(fleet.satrecs, t)
    step_m = np.linalg.norm(state.r_teme_km[:, :, 1] - state.r_teme_km[:, :, 0], axis=0) * 1e3
    np.testing.assert_allclose(step_m, 7.6e-3, rtol=0.05)

"""Sun, shadow and beta angle against skyfield and closed-form orbital facts."""

import numpy as np
import pytest
from skyfield.api import EarthSatellite

from twin.core.clock import NS_PER_S, parse_start, skyfield_time
from twin.fleet.constellation import make_fleet, walker_delta
from twin.physics.orbit import propagate
from twin.physics.state import environment
from twin.physics.sun import (
    R_EARTH_SHADOW_KM,
    _ephemeris,
    beta_angle_deg,
    sun_teme_km,
    sun_teme_km_exact,
    sunlight,
)
from twin.sim.presets import build, load_preset


def illumination_fraction(r, sun):
    return sunlight(r, sun).illumination


EQUINOX_NS = parse_start("2026-03-20T14:46:00Z")  # March equinox 2026


def test_sunlit_agrees_with_skyfield_is_sunlit():
    fleet = walker_delta(100, 10, 1, 550.0, 53.0, EQUINOX_NS)
    t_ns = EQUINOX_NS + np.arange(100, dtype=np.int64) * 611 * NS_PER_S
    orbit = propagate(fleet.satrecs, t_ns)
    sun_km = sun_teme_km(t_ns)[:, None, :]
    light = sunlight(orbit.r_teme_km, sun_km)
    ours, fraction = light.sunlit, light.illumination
    t = skyfield_time(t_ns)
    theirs = np.array(
        [EarthSatellite.from_satrec(s, t.ts).at(t).is_sunlit(_ephemeris()) for s in fleet.elements]
    )
    differ = ours != theirs
    assert differ.mean() <= 0.001
    assert np.all((fraction[differ] > 0.0) & (fraction[differ] < 1.0))  # only in penumbra
    assert (fraction == 0).any() and (fraction == 1).any()


def _eclipse_minutes_per_orbit(fleet, t0_ns, orbits=3):
    period_s = 2 * np.pi / (fleet.elements[0].no_kozai / 60.0)
    t_ns = t0_ns + np.arange(0, int(orbits * period_s), dtype=np.int64) * NS_PER_S
    env = environment(fleet, t_ns)
    return (~env.sunlit[0]).sum() / 60.0 / (t_ns.size / period_s), env


def test_eclipse_at_550_km_beta_zero_is_35_7_minutes():
    fleet = walker_delta(1, 1, 0, 550.0, 0.0, EQUINOX_NS)  # equatorial at equinox: beta ≈ 0
    minutes, env = _eclipse_minutes_per_orbit(fleet, EQUINOX_NS)
    assert np.abs(env.beta_deg).max() < 0.5
    assert minutes == pytest.approx(35.7, abs=0.5)


def test_dawn_dusk_sso_at_650_km_near_equinox_sees_no_eclipse():
    fleet, _ = build(load_preset("suncatcher-81"), EQUINOX_NS)
    t_ns = EQUINOX_NS + np.arange(0, 86_400, 20, dtype=np.int64) * NS_PER_S
    env = environment(fleet, t_ns)
    assert env.sunlit.all() and (env.illumination == 1.0).all()
    assert np.abs(env.beta_deg).min() > 60.0


def test_interpolated_sun_matches_de421_within_1e_8_rad():
    t_ns = EQUINOX_NS + np.arange(0, 3 * 86_400, 137, dtype=np.int64) * NS_PER_S
    approx, exact = sun_teme_km(t_ns), sun_teme_km_exact(t_ns)
    sin_angle = np.linalg.norm(np.cross(approx, exact, axis=0), axis=0) / (
        np.linalg.norm(approx, axis=0) * np.linalg.norm(exact, axis=0)
    )
    assert sin_angle.max() < 1e-8
    np.testing.assert_allclose(
        np.linalg.norm(approx, axis=0), np.linalg.norm(exact, axis=0), rtol=1e-8
    )


def test_beta_of_an_equatorial_orbit_is_the_sun_declination():
    fleet = walker_delta(1, 1, 0, 550.0, 0.0, EQUINOX_NS)
    t_ns = parse_start("2026-06-21T08:24:00Z") + np.arange(0, 6000, 600, dtype=np.int64) * NS_PER_S
    orbit = propagate(fleet.satrecs, t_ns)
    beta = beta_angle_deg(orbit.r_teme_km, orbit.v_teme_km_s, sun_teme_km(t_ns)[:, None, :])
    _, dec, _ = (_ephemeris()["sun"] - _ephemeris()["earth"]).at(skyfield_time(t_ns)).radec("date")
    np.testing.assert_allclose(beta[0], dec.degrees, atol=0.05)  # 23.44° at the solstice


def test_penumbra_fraction_is_half_with_the_sun_centre_on_the_limb():
    sun = np.array([[1.496e8], [0.0], [0.0]])
    r_mag = 6928.137
    # Put the satellite where the Earth's limb passes through the Sun's centre.
    b = np.arcsin(R_EARTH_SHADOW_KM / r_mag)
    r = -r_mag * np.array([[np.cos(b)], [np.sin(b)], [0.0]])
    assert illumination_fraction(r, sun)[0] == pytest.approx(0.5, abs=0.01)
    deep = np.array([[-r_mag], [0.0], [0.0]])
    lit = np.array([[r_mag], [0.0], [0.0]])
    assert illumination_fraction(deep, sun)[0] == 0.0 and illumination_fraction(lit, sun)[0] == 1.0


def test_penumbra_is_monotonic_across_the_shadow_edge():
    sun = np.array([[1.496e8], [0.0], [0.0]])
    angles = np.radians(np.linspace(60.0, 75.0, 2001))  # sweep across the edge at 550 km
    r = 6928.137 * np.stack([-np.cos(angles), np.sin(angles), np.zeros_like(angles)])
    fraction = illumination_fraction(r, sun)
    assert np.all(np.diff(fraction) >= -1e-12)
    assert ((fraction > 0) & (fraction < 1)).sum() > 10


def test_flux_follows_inverse_square_of_sun_distance():
    t_ns = np.array([parse_start("2026-01-03T00:00:00Z"), parse_start("2026-07-04T00:00:00Z")])
    sun = sun_teme_km(t_ns)
    flux = sunlight(np.array([[0.0, 0.0], [0.0, 0.0], [7000.0, 7000.0]]), sun).flux_w_m2
    assert flux[0] == pytest.approx(1361 * 1.0334, rel=2e-3)  # perihelion
    assert flux[1] == pytest.approx(1361 * 0.9672, rel=2e-3)  # aphelion


def test_broadcast_environment_one_n_and_n_by_m():
    fleet = walker_delta(6, 2, 1, 550.0, 53.0, EQUINOX_NS)
    one = make_fleet([4], [0], [fleet.elements[3]])
    t_ns = EQUINOX_NS + np.arange(5, dtype=np.int64) * 900 * NS_PER_S
    full = environment(fleet, t_ns)  # N × M
    single_time = environment(fleet, t_ns[2:3])  # N × 1
    single_sat = environment(one, t_ns)  # 1 × M
    for name in ("illumination", "beta_deg", "flux_w_m2"):
        whole = getattr(full, name)
        # Vector kernels may round differently by an ulp across array lengths.
        np.testing.assert_allclose(whole[:, 2], getattr(single_time, name)[:, 0], rtol=1e-13)
        np.testing.assert_allclose(whole[3], getattr(single_sat, name)[0], rtol=1e-13)
        np.testing.assert_array_equal(getattr(full.at(2), name)[:, 0], whole[:, 2])

"""The Sun and the Earth's shadow: Sun vector, conical umbra/penumbra, beta angle.

The Sun's position comes from the JPL DE421 ephemeris shipped in the ``skyfield-data``
package (valid 1900–2050), so nothing is downloaded at run time.
"""

from __future__ import annotations

import atexit
from functools import cache
from importlib.resources import files

import numpy as np
from skyfield.api import Loader
from skyfield.sgp4lib import TEME

from twin.clock import skyfield_time

AU_KM = 149_597_870.7  # IAU 2012 astronomical unit
R_SUN_KM = 695_700.0  # IAU 2015 nominal solar radius
R_EARTH_SHADOW_KM = 6378.137  # Earth radius used for the shadow (WGS84 equatorial)
SOLAR_CONSTANT_W_M2 = 1361.0  # total solar irradiance at 1 AU (Kopp & Lean 2011)


@cache
def _ephemeris():
    # The package's own path helper warns about its (unused here) Earth-orientation file
    # ageing; de421.bsp itself does not expire, so it is opened from the package directly.
    kernel = Loader(str(files("skyfield_data") / "data"), verbose=False)("de421.bsp")
    atexit.register(kernel.close)
    return kernel


def sun_teme_km(t_ns: np.ndarray) -> np.ndarray:
    """Geometric Earth→Sun vector in each time's TEME frame.

    Parameters
    ----------
    t_ns : (n_time,) int64 simulation times.

    Returns
    -------
    (3, n_time) km.
    """
    eph = _ephemeris()
    t = skyfield_time(np.atleast_1d(t_ns))
    sun_gcrs_km = (eph["sun"] - eph["earth"]).at(t).position.km  # (3, n_time)
    rotation = TEME.rotation_at(t)  # (3, 3, n_time): GCRS → TEME
    return np.einsum("ijt,jt->it", rotation, sun_gcrs_km)


def sun_right_ascension_deg(t_ns: int) -> float:
    """Right ascension of the Sun in the TEME frame at ``t_ns``, degrees in [0, 360)."""
    x, y, _ = sun_teme_km(np.array([t_ns], dtype=np.int64))[:, 0]
    return float(np.degrees(np.arctan2(y, x)) % 360.0)


def illumination_fraction(r_km: np.ndarray, sun_km: np.ndarray) -> np.ndarray:
    """Fraction of the solar disc visible from each satellite (conical shadow, 0..1).

    Montenbruck & Gill, "Satellite Orbits" (2000), §3.4.2: apparent radii of Sun and Earth
    and their apparent separation give the occulted area of overlapping discs.

    Parameters
    ----------
    r_km : (3, ...) satellite positions, geocentric (km).
    sun_km : (3, ...) geocentric Sun positions in the same frame, broadcastable to ``r_km``.

    Returns
    -------
    (...) illumination fraction: 1 sunlit, 0 umbra, in between penumbra (NaN for NaN rows).
    """
    to_sun = sun_km - r_km
    d_sun = np.linalg.norm(to_sun, axis=0)
    d_earth = np.linalg.norm(r_km, axis=0)
    a = np.arcsin(R_SUN_KM / d_sun)  # apparent solar radius
    b = np.arcsin(np.clip(R_EARTH_SHADOW_KM / d_earth, -1.0, 1.0))  # apparent Earth radius
    cos_c = -np.sum(r_km * to_sun, axis=0) / (d_earth * d_sun)
    c = np.arccos(np.clip(cos_c, -1.0, 1.0))  # separation of the two centres
    # Partial overlap of two discs (radii a, b, centre distance c).
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (c * c + a * a - b * b) / (2.0 * c)
        y = np.sqrt(np.maximum(a * a - x * x, 0.0))
        overlap = (
            a * a * np.arccos(np.clip(x / a, -1.0, 1.0))
            + b * b * np.arccos(np.clip((c - x) / b, -1.0, 1.0))
            - c * y
        )
    partial = 1.0 - overlap / (np.pi * a * a)
    annular = 1.0 - (b * b) / (a * a)  # Earth disc inside the solar disc (not seen in LEO)
    fraction = np.where(
        c >= a + b, 1.0, np.where(c <= b - a, 0.0, np.where(c <= a - b, annular, partial))
    )
    return np.where(np.isnan(cos_c), np.nan, np.clip(fraction, 0.0, 1.0))


def sun_centre_visible(r_km: np.ndarray, sun_km: np.ndarray) -> np.ndarray:
    """True where the line from the satellite to the Sun's centre clears the Earth sphere.

    Shapes as in ``illumination_fraction``; this is the flag ``sunlit`` in telemetry.
    """
    to_sun = sun_km - r_km
    d_sun = np.linalg.norm(to_sun, axis=0)
    d_earth = np.linalg.norm(r_km, axis=0)
    b = np.arcsin(np.clip(R_EARTH_SHADOW_KM / d_earth, -1.0, 1.0))
    cos_c = -np.sum(r_km * to_sun, axis=0) / (d_earth * d_sun)
    return np.arccos(np.clip(cos_c, -1.0, 1.0)) > b


def solar_flux_w_m2(r_km: np.ndarray, sun_km: np.ndarray) -> np.ndarray:
    """Solar irradiance at each satellite before shadowing, (...) W/m² (inverse square)."""
    d_sun = np.linalg.norm(sun_km - r_km, axis=0)
    return SOLAR_CONSTANT_W_M2 * (AU_KM / d_sun) ** 2


def beta_angle_deg(r_km: np.ndarray, v_km_s: np.ndarray, sun_km: np.ndarray) -> np.ndarray:
    """Angle between the orbit plane and the Sun direction, (...) degrees in [-90, 90].

    Positive when the Sun lies on the side of the orbit normal ``r × v``.
    """
    h = np.cross(r_km, v_km_s, axis=0)
    h_unit = h / np.linalg.norm(h, axis=0)
    s_unit = sun_km / np.linalg.norm(sun_km, axis=0)
    return np.degrees(np.arcsin(np.clip(np.sum(h_unit * s_unit, axis=0), -1.0, 1.0)))

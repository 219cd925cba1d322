"""The Sun and the Earth's shadow: Sun vector, conical umbra/penumbra, beta angle.

The Sun's position comes from the JPL DE421 ephemeris shipped in the ``skyfield-data``
package (it covers 1899-07-29 to 2053-10-09), so nothing is downloaded at run time.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np
from skyfield.api import Loader
from skyfield.sgp4lib import TEME

from twin.core.clock import skyfield_time

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


# The times the Sun is computed for: DE421's span (1899-07-29 .. 2053-10-09), less a margin
# for the day tables' ends. Outside it the Sun is NaN (errors are data in vector code).
EPHEMERIS_FIRST_NS = -2_208_988_800 * 1_000_000_000  # 1900-01-01T00:00:00Z
EPHEMERIS_LAST_NS = 2_642_889_600 * 1_000_000_000  # 2053-10-01T00:00:00Z
SUN_GRID_S = 600  # Sun vectors are tabulated every 10 min and interpolated linearly
_GRID_NS = SUN_GRID_S * 1_000_000_000
_DAY_NS = 86_400 * 1_000_000_000
_POINTS_PER_DAY = _DAY_NS // _GRID_NS


def sun_teme_km_exact(t_ns: np.ndarray) -> np.ndarray:
    """Geometric Earth→Sun vector in each time's TEME frame, straight from DE421.

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


@cache
def _day_grid(day: int) -> np.ndarray:
    """(3, points_per_day + 1) Sun vectors over one UTC day, both ends included."""
    t = day * _DAY_NS + np.arange(_POINTS_PER_DAY + 1, dtype=np.int64) * _GRID_NS
    return sun_teme_km_exact(t)


def sun_teme_km(t_ns: np.ndarray) -> np.ndarray:
    """Earth→Sun vector in TEME, (3, n_time) km, interpolated from a 10-minute table.

    The Sun moves 0.007° in 10 min; linear interpolation departs from DE421 by under
    1e-8 rad, which moves a LEO shadow edge by less than 0.1 m. Each UTC day's table is
    computed once (one ephemeris call) and cached. Times outside
    ``EPHEMERIS_FIRST_NS .. EPHEMERIS_LAST_NS`` get NaN columns.
    """
    t_ns = np.atleast_1d(np.asarray(t_ns, dtype=np.int64))
    days, into_day = np.divmod(t_ns, _DAY_NS)
    slot, rest = np.divmod(into_day, _GRID_NS)
    frac = rest / _GRID_NS
    out = np.full((3, t_ns.shape[0]), np.nan)
    covered = (t_ns >= EPHEMERIS_FIRST_NS) & (t_ns <= EPHEMERIS_LAST_NS)
    for day in np.unique(days[covered]).tolist():  # one or two days per block of ticks
        pick = days == day
        grid = _day_grid(day)
        i = slot[pick]
        out[:, pick] = grid[:, i] * (1.0 - frac[pick]) + grid[:, i + 1] * frac[pick]
    return out


def sun_right_ascension_deg(t_ns: int) -> float:
    """Right ascension of the Sun in the TEME frame at ``t_ns``, degrees in [0, 360)."""
    x, y, _ = sun_teme_km_exact(np.array([t_ns], dtype=np.int64))[:, 0]
    return float(np.degrees(np.arctan2(y, x)) % 360.0)


@dataclass(frozen=True)
class Sunlight:
    """Sunlight at each satellite, each of shape ``...``.

    illumination : fraction of the solar disc visible, 0 umbra .. 1 full Sun (NaN if the
        position is NaN).
    sunlit : the Sun's centre is above the Earth's limb (what skyfield's ``is_sunlit`` tells).
    flux_w_m2 : irradiance before shadowing, inverse-square in the Sun's distance.
    limb_margin_rad : the Sun's centre's apparent angle from the Earth's centre less the
        Earth's apparent radius: positive when sunlit, smooth in time (its zero crossings
        are eclipse entries and exits).
    """

    illumination: np.ndarray
    sunlit: np.ndarray
    flux_w_m2: np.ndarray
    limb_margin_rad: np.ndarray


def sunlight(r_km: np.ndarray, sun_km: np.ndarray) -> Sunlight:
    """Conical umbra/penumbra shadow and solar flux for each satellite.

    Montenbruck & Gill, "Satellite Orbits" (2000), §3.4.2: from the apparent radii of the Sun
    (a) and the Earth (b) and the apparent separation of their centres (c), the occulted
    share of the solar disc is the overlap of two discs. The overlap is evaluated only for
    the satellites in penumbra.

    Parameters
    ----------
    r_km : (3, ...) satellite positions, geocentric (km).
    sun_km : (3, ...) geocentric Sun positions in the same frame, broadcastable to ``r_km``.
    """
    to_sun = sun_km - r_km
    d_sun = np.sqrt(np.einsum("i...,i...->...", to_sun, to_sun))
    d_earth = np.sqrt(np.einsum("i...,i...->...", r_km, r_km))
    a = np.arcsin(R_SUN_KM / d_sun)
    b = np.arcsin(np.minimum(R_EARTH_SHADOW_KM / d_earth, 1.0))
    cos_c = -np.einsum("i...,i...->...", r_km, to_sun) / (d_earth * d_sun)
    c = np.arccos(np.clip(cos_c, -1.0, 1.0))
    fraction = np.where(c >= a + b, 1.0, 0.0)
    partial = (c < a + b) & (c > np.abs(b - a))
    if partial.any():
        ap, bp, cp = a[partial], b[partial], c[partial]
        x = (cp * cp + ap * ap - bp * bp) / (2.0 * cp)
        y = np.sqrt(np.maximum(ap * ap - x * x, 0.0))
        overlap = (
            ap * ap * np.arccos(np.clip(x / ap, -1.0, 1.0))
            + bp * bp * np.arccos(np.clip((cp - x) / bp, -1.0, 1.0))
            - cp * y
        )
        fraction[partial] = np.clip(1.0 - overlap / (np.pi * ap * ap), 0.0, 1.0)
    annular = (c <= a - b) & (a > b)  # Earth disc inside the solar disc: not seen in LEO
    fraction[annular] = (1.0 - (b * b) / (a * a))[annular]
    fraction[np.isnan(cos_c)] = np.nan
    return Sunlight(
        illumination=fraction,
        sunlit=c > b,
        flux_w_m2=SOLAR_CONSTANT_W_M2 * (AU_KM / d_sun) ** 2,
        limb_margin_rad=c - b,
    )


def beta_angle_deg(r_km: np.ndarray, v_km_s: np.ndarray, sun_km: np.ndarray) -> np.ndarray:
    """Angle between the orbit plane and the Sun direction, (...) degrees in [-90, 90].

    Positive when the Sun lies on the side of the orbit normal ``r × v``.
    """
    x, y, z = r_km
    vx, vy, vz = v_km_s
    hx, hy, hz = y * vz - z * vy, z * vx - x * vz, x * vy - y * vx
    sx, sy, sz = sun_km / np.sqrt(np.einsum("i...,i...->...", sun_km, sun_km))
    sin_beta = (hx * sx + hy * sy + hz * sz) / np.sqrt(hx * hx + hy * hy + hz * hz)
    return np.degrees(np.arcsin(np.clip(sin_beta, -1.0, 1.0)))

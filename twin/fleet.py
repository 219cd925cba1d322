"""Fleet definitions: element sets for every satellite, and the vectorised propagator.

A ``Fleet`` is a structure of arrays (one row per satellite) plus one ``SatrecArray``
built once from the element sets; it is rebuilt, never mutated, when elements change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sgp4.api import WGS72, Satrec, SatrecArray

from twin.clock import JD_UNIX_EPOCH, NS_PER_DAY

MU_EARTH_KM3_S2 = 398600.8  # WGS72 gravitational parameter, as used by SGP4 (Vallado 2006)
R_EARTH_WGS72_KM = 6378.135  # WGS72 equatorial radius, as used by SGP4
JD_SGP4_EPOCH = 2433281.5  # 1949-12-31T00:00 UTC, origin of sgp4init's epoch in days
MINUTES_PER_DAY = 1440.0


@dataclass(frozen=True)
class Fleet:
    """Satellites of a constellation as arrays, one row per satellite.

    Attributes
    ----------
    sat_id : (n_sat,) int32, unique satellite identifiers.
    plane : (n_sat,) int32, orbital plane index (frames are grouped by plane).
    elements : one sgp4 ``Satrec`` per satellite, in the same order (for export and for
        per-satellite checks against skyfield).
    satrecs : SatrecArray built from ``elements`` (one C call propagates the fleet).
    """

    sat_id: np.ndarray
    plane: np.ndarray
    elements: tuple[Satrec, ...]
    satrecs: SatrecArray

    @property
    def n_sat(self) -> int:
        return int(self.sat_id.shape[0])


def mean_motion_rad_min(altitude_km: float | np.ndarray) -> np.ndarray:
    """Keplerian mean motion (rad/min) of a circular orbit at ``altitude_km`` (WGS72)."""
    a_km = R_EARTH_WGS72_KM + np.asarray(altitude_km, dtype=np.float64)
    return np.sqrt(MU_EARTH_KM3_S2 / a_km**3) * 60.0


def walker_delta(
    total: int,
    planes: int,
    phasing: int,
    altitude_km: float,
    inclination_deg: float,
    epoch_ns: int,
    raan_spread_deg: float = 360.0,
    first_sat_id: int = 1,
    first_plane: int = 0,
) -> Fleet:
    """A Walker constellation i:t/p/f of circular orbits (Walker 1984, J. Brit. Interplanet. Soc.).

    Plane ``j`` has right ascension ``j * raan_spread_deg / planes``; satellite ``k`` of plane
    ``j`` has mean anomaly ``k * 360 / s + j * f * 360 / t`` with ``s = t / p``. A delta
    pattern spreads the planes over 360°, a star pattern over 180°.

    Raises ``ValueError`` naming the parameter when the pattern is not realisable.
    """
    _check_walker(total, planes, phasing, altitude_km, inclination_deg)
    per_plane = total // planes
    index = np.arange(total)
    plane_of = index // per_plane
    slot = index % per_plane
    raan_deg = plane_of * (raan_spread_deg / planes)
    mean_anomaly_deg = (slot * 360.0 / per_plane + plane_of * phasing * 360.0 / total) % 360.0
    sat_id = (first_sat_id + index).astype(np.int32)
    elements = circular_elements(
        sat_id, epoch_ns, altitude_km, inclination_deg, raan_deg, mean_anomaly_deg
    )
    return Fleet(
        sat_id=sat_id,
        plane=(first_plane + plane_of).astype(np.int32),
        elements=elements,
        satrecs=SatrecArray(list(elements)),
    )


def _check_walker(total, planes, phasing, altitude_km, inclination_deg) -> None:
    if not isinstance(total, int) or total < 1:
        raise ValueError(f"total: {total!r} must be a positive integer")
    if not isinstance(planes, int) or planes < 1 or total % planes:
        raise ValueError(f"planes: {planes!r} must be a positive integer dividing total={total}")
    if not isinstance(phasing, int) or not 0 <= phasing < planes:
        raise ValueError(f"phasing: {phasing!r} must be an integer in 0..{planes - 1}")
    if not 150.0 <= altitude_km <= 40_000.0:
        raise ValueError(f"altitude_km: {altitude_km!r} must be within 150..40000 km")
    if not 0.0 <= inclination_deg <= 180.0:
        raise ValueError(f"inclination_deg: {inclination_deg!r} must be within 0..180°")


def circular_elements(
    sat_id: np.ndarray,
    epoch_ns: int,
    altitude_km: float | np.ndarray,
    inclination_deg: float | np.ndarray,
    raan_deg: np.ndarray,
    mean_anomaly_deg: np.ndarray,
) -> tuple[Satrec, ...]:
    """Build SGP4 element sets (no drag) for circular orbits; all arrays shaped ``(n_sat,)``.

    ``sgp4init`` initialises one satellite per call: this loop runs once when the fleet is
    built, never inside a simulation step.
    """
    n = sat_id.shape[0]
    epoch_days = JD_UNIX_EPOCH - JD_SGP4_EPOCH + np.int64(epoch_ns) / NS_PER_DAY
    no_kozai = np.broadcast_to(mean_motion_rad_min(altitude_km), (n,))
    incl_rad = np.broadcast_to(np.radians(inclination_deg), (n,))
    raan_rad = np.radians(raan_deg)
    mo_rad = np.radians(mean_anomaly_deg)
    satrecs = []
    for i in range(n):
        sat = Satrec()
        sat.sgp4init(
            WGS72,
            "i",
            int(sat_id[i]) % 100_000,
            float(epoch_days),
            0.0,
            0.0,
            0.0,  # bstar, ndot, nddot: drag-free
            0.0,
            0.0,  # eccentricity, argument of perigee (rad)
            float(incl_rad[i]),
            float(mo_rad[i]),
            float(no_kozai[i]),
            float(raan_rad[i]),
        )
        satrecs.append(sat)
    return tuple(satrecs)


def period_s(altitude_km: float | np.ndarray) -> np.ndarray:
    """Keplerian period 2π√(a³/μ) in seconds of a circular orbit at ``altitude_km``."""
    return 2.0 * np.pi / (mean_motion_rad_min(altitude_km) / 60.0)

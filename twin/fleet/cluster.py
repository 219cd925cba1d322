"""Formation clusters: N satellites within radius R of a reference orbit, neighbours S apart.

Each satellite flies a projected circular relative orbit about the reference (Clohessy–
Wiltshire, "general circular orbit": radial ρ/2·sin(u+φ), along-track ρ·cos(u+φ),
cross-track (√3/2)ρ·sin(u+φ)); the relative position keeps length ρ and lies in one plane, so
a planar pattern of (ρ, φ) points turns rigidly once per orbit and neighbour distances hold
to first order. Offsets are applied to the mean elements of a circular reference
(Schaub & Junkins, "Analytical Mechanics of Space Systems", relative orbit elements):
δq1 = −ρ sin φ / 2a, δq2 = −ρ cos φ / 2a, δi = (√3/2)(ρ/a) cos φ,
δΩ = −(√3/2)(ρ/a) sin φ / sin i, δu = −δΩ cos i. Differential J2 drift is not corrected
(no station keeping): the pattern holds for about a day.
"""

from __future__ import annotations

import numpy as np

from twin.fleet.constellation import R_EARTH_WGS72_KM, Fleet, circular_elements, make_fleet


def hexagonal_pattern_m(n: int, spacing_m: float) -> np.ndarray:
    """The ``n`` points of a hexagonal grid (pitch ``spacing_m``) nearest its centre, (2, n) m."""
    rings = int(np.ceil(np.sqrt(n))) + 2
    i, j = np.meshgrid(np.arange(-rings, rings + 1), np.arange(-rings, rings + 1))
    x = spacing_m * (i + 0.5 * j).ravel()
    y = spacing_m * (np.sqrt(3.0) / 2.0 * j).ravel()
    nearest = np.lexsort((np.arctan2(y, x), np.round(np.hypot(x, y), 6)))[:n]
    return np.stack([x[nearest], y[nearest]])


def formation_cluster(
    total: int,
    radius_m: float,
    spacing_m: float,
    altitude_km: float,
    inclination_deg: float,
    epoch_ns: int,
    raan0_deg: float = 0.0,
    first_sat_id: int = 1,
) -> Fleet:
    """A cluster of ``total`` satellites on a hexagonal pattern about a circular orbit.

    Raises ``ValueError`` naming the parameter when the pattern does not fit in the radius.
    """
    if total < 1:
        raise ValueError(f"total: {total!r} must be a positive integer")
    if not 0.0 < inclination_deg < 180.0:
        raise ValueError(
            f"inclination_deg: {inclination_deg!r} must be within (0, 180)° "
            "for a cluster (the node offset divides by sin i)"
        )
    pattern = hexagonal_pattern_m(total, spacing_m)
    rho_m = np.hypot(*pattern)
    if rho_m.max() > radius_m:
        raise ValueError(
            f"radius_m: {radius_m!r} is too small for {total} satellites "
            f"{spacing_m} m apart (needs {rho_m.max():.0f} m)"
        )
    phi = np.arctan2(pattern[1], pattern[0])
    a_m = (R_EARTH_WGS72_KM + altitude_km) * 1e3
    incl = np.radians(inclination_deg)
    dq1 = -rho_m * np.sin(phi) / (2 * a_m)
    dq2 = -rho_m * np.cos(phi) / (2 * a_m)
    d_incl = np.sqrt(3.0) / 2.0 * rho_m / a_m * np.cos(phi)
    d_raan = -np.sqrt(3.0) / 2.0 * rho_m / a_m * np.sin(phi) / np.sin(incl)
    d_u = -d_raan * np.cos(incl)
    ecc = np.hypot(dq1, dq2)
    argp = np.where(ecc > 0.0, np.arctan2(dq2, dq1), 0.0)
    sat_id = (first_sat_id + np.arange(total)).astype(np.int32)
    elements = circular_elements(
        sat_id,
        epoch_ns,
        altitude_km,
        inclination_deg + np.degrees(d_incl),
        raan0_deg + np.degrees(d_raan),
        np.degrees(d_u - argp) % 360.0,  # argument of latitude u = ω + M, reference u = 0
        eccentricity=ecc,
        arg_perigee_deg=np.degrees(argp) % 360.0,
    )
    return make_fleet(sat_id, np.zeros(total, np.int32), elements)

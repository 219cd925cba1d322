"""Fleet definitions: element sets for every satellite, and the vectorised propagator.

A ``Fleet`` is a structure of arrays (one row per satellite) plus one ``SatrecArray``
built once from the element sets; it is rebuilt, never mutated, when elements change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sgp4.api import WGS72, Satrec, SatrecArray

from twin.core.clock import JD_UNIX_EPOCH, NS_PER_DAY

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
    plane : (n_sat,) int32, orbital plane index across the fleet (frames hold whole planes).
    shell : (n_sat,) int16, index of the shell (preset section) the satellite belongs to.
    elements : one sgp4 ``Satrec`` per satellite, in the same order (for export and for
        per-satellite checks against skyfield).
    satrecs : SatrecArray built from ``elements`` (one C call propagates the fleet).
    """

    sat_id: np.ndarray
    plane: np.ndarray
    shell: np.ndarray
    elements: tuple[Satrec, ...]
    satrecs: SatrecArray

    @property
    def n_sat(self) -> int:
        return int(self.sat_id.shape[0])


def make_fleet(sat_id, plane, elements, shell=None) -> Fleet:
    """Assemble a fleet from per-satellite arrays and element sets (one SatrecArray build)."""
    sat_id = np.asarray(sat_id, dtype=np.int32)
    if len(np.unique(sat_id)) != sat_id.shape[0]:
        raise ValueError("sat_id: satellite ids must be unique within a fleet")
    shell = np.zeros(sat_id.shape, np.int16) if shell is None else np.asarray(shell, np.int16)
    return Fleet(
        sat_id, np.asarray(plane, np.int32), shell, tuple(elements), SatrecArray(list(elements))
    )


def subset(fleet: Fleet, rows: np.ndarray) -> Fleet:
    """The satellites at ``rows`` (indices, in order), keeping ids, planes and shells."""
    rows = np.asarray(rows, dtype=np.intp)
    return make_fleet(
        fleet.sat_id[rows],
        fleet.plane[rows],
        [fleet.elements[i] for i in rows.tolist()],
        fleet.shell[rows],
    )


class RowsOf:
    """Fleet rows of satellite ids, by one sorted search: built once for a fleet's ``sat_id``
    (n_sat,), called with any ids (k,), giving (k,) intp rows, -1 for an id not in it."""

    def __init__(self, sat_id: np.ndarray) -> None:
        self._order = np.argsort(sat_id, kind="stable")
        self._sorted = np.asarray(sat_id)[self._order]

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if self._sorted.shape[0] == 0:
            return np.full(ids.shape, -1, np.intp)
        pos = np.minimum(np.searchsorted(self._sorted, ids), self._sorted.shape[0] - 1)
        return np.where(self._sorted[pos] == ids, self._order[pos], -1).astype(np.intp)


FRAME_MIN_SATELLITES = 200  # satellites per telemetry frame, at least (whole planes)


@dataclass(frozen=True)
class FrameGroups:
    """Telemetry frame groups: runs of consecutive whole planes, each closed once it holds
    ``FRAME_MIN_SATELLITES`` (the last may hold fewer). Group ``g`` is the rows
    ``order[bounds[g]:bounds[g + 1]]`` and is called ``names[g]`` (its first and last plane).
    """

    order: np.ndarray
    names: tuple[str, ...]
    bounds: tuple[int, ...]


def frame_groups(fleet: Fleet, min_satellites: int = FRAME_MIN_SATELLITES) -> FrameGroups:
    """Group whole planes into frames of at least ``min_satellites``.

    Larger frames mean fewer Kafka records, whose per-record cost dominates producer and
    consumer alike; whole planes keep each plane's frames in one partition, in order. The
    greedy grouping is stable under sharding: a subset made of whole groups groups the same.
    """
    order = np.argsort(fleet.plane, kind="stable")
    planes, counts = np.unique(fleet.plane[order], return_counts=True)
    ends = np.cumsum(counts)
    names, bounds, first, held = [], [0], 0, 0
    for k in range(planes.shape[0]):  # over planes, once per run
        held += int(counts[k])
        if held >= min_satellites or k == planes.shape[0] - 1:
            names.append(f"planes-{int(planes[first]):04d}-{int(planes[k]):04d}")
            bounds.append(int(ends[k]))
            first, held = k + 1, 0
    return FrameGroups(order, tuple(names), tuple(bounds))


def group_partitions(groups: FrameGroups, n_partitions: int) -> dict[str, int]:
    """The telemetry partition of each frame group, by name: groups in order (of their first
    plane), each to the partition holding the fewest satellites so far (ties: the lowest
    number). Partitions differ by at most one group's satellites, and none is empty while
    there are groups for it; a hash of the key instead leaves some empty and doubles
    others (14 groups on 12 partitions: 3 empty, 5 with two). Decided from the whole
    fleet's groups, so every shard and every restart sends a group to the same partition."""
    load = np.zeros(max(n_partitions, 1), np.int64)
    partitions = {}
    for g, name in enumerate(groups.names):  # over frame groups, once per run
        target = int(np.argmin(load))
        partitions[name] = target
        load[target] += groups.bounds[g + 1] - groups.bounds[g]
    return partitions


def shard_rows(fleet: Fleet, shard: int, shards: int) -> np.ndarray:
    """Rows of shard ``shard`` of ``shards``: whole frame groups, dealt round-robin.

    The shards together produce exactly the frames of the whole fleet. Raises ``ValueError``
    naming the field for an impossible shard.
    """
    if not shards >= 1 or not 0 <= shard < shards:
        raise ValueError(f"shard: {shard}/{shards} must satisfy 0 <= i < n")
    groups = frame_groups(fleet)
    mine = [
        groups.order[groups.bounds[g] : groups.bounds[g + 1]]
        for g in range(len(groups.names))
        if g % shards == shard
    ]
    return np.sort(np.concatenate(mine)) if mine else np.empty(0, dtype=np.intp)


def concat(fleets: list[Fleet]) -> Fleet:
    """Join shells into one fleet; ids stay as given, planes and shells are renumbered."""
    plane_offset, planes, shells = 0, [], []
    for k, fleet in enumerate(fleets):
        planes.append(fleet.plane - fleet.plane.min() + plane_offset)
        plane_offset = int(planes[-1].max()) + 1
        shells.append(np.full(fleet.n_sat, k, np.int16))
    return make_fleet(
        np.concatenate([f.sat_id for f in fleets]),
        np.concatenate(planes),
        [e for f in fleets for e in f.elements],
        np.concatenate(shells),
    )


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
    raan0_deg: float = 0.0,
    bstar: float = 0.0,
    first_sat_id: int = 1,
) -> Fleet:
    """A Walker constellation i:t/p/f of circular orbits (Walker 1984, J. Brit. Interplanet. Soc.).

        Plane ``j`` has right ascension ``raan0_deg + j * raan_spread_deg / planes``; satellite
        ``k`` of plane
    ``j`` has mean anomaly ``k * 360 / s + j * f * 360 / t`` with ``s = t / p``. A delta
    pattern spreads the planes over 360°, a star pattern (``walker_star``) over 180°.
    ``bstar`` (1/Earth radii) gives SGP4 drag, hence decay at low altitude.

    Raises ``ValueError`` naming the parameter when the pattern is not realisable.
    """
    _check_walker(total, planes, phasing, altitude_km, inclination_deg)
    per_plane = total // planes
    index = np.arange(total)
    plane_of = index // per_plane
    slot = index % per_plane
    raan_deg = (raan0_deg + plane_of * (raan_spread_deg / planes)) % 360.0
    mean_anomaly_deg = (slot * 360.0 / per_plane + plane_of * phasing * 360.0 / total) % 360.0
    sat_id = (first_sat_id + index).astype(np.int32)
    elements = circular_elements(
        sat_id, epoch_ns, altitude_km, inclination_deg, raan_deg, mean_anomaly_deg, bstar=bstar
    )
    return make_fleet(sat_id, plane_of, elements)


def walker_star(*args, **kwargs) -> Fleet:
    """A Walker star pattern (polar shells): ``walker_delta`` with the planes spread over 180°
    of right ascension; same parameters."""
    return walker_delta(*args, raan_spread_deg=180.0, **kwargs)


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
    eccentricity: float | np.ndarray = 0.0,
    arg_perigee_deg: float | np.ndarray = 0.0,
    bstar: float = 0.0,
) -> tuple[Satrec, ...]:
    """Build SGP4 mean element sets; arrays shaped ``(n_sat,)`` or scalars.

    Circular unless ``eccentricity`` is given; ``bstar`` in 1/Earth radii (0: no drag).

    ``sgp4init`` initialises one satellite per call: this loop runs once when the fleet is
    built, never inside a simulation step.
    """
    n = sat_id.shape[0]
    epoch_days = JD_UNIX_EPOCH - JD_SGP4_EPOCH + np.int64(epoch_ns) / NS_PER_DAY
    no_kozai = np.broadcast_to(mean_motion_rad_min(altitude_km), (n,))
    incl_rad = np.broadcast_to(np.radians(inclination_deg), (n,))
    raan_rad = np.broadcast_to(np.radians(raan_deg), (n,))
    mo_rad = np.broadcast_to(np.radians(mean_anomaly_deg), (n,))
    ecc = np.broadcast_to(eccentricity, (n,))
    argp_rad = np.broadcast_to(np.radians(arg_perigee_deg), (n,))
    satrecs = []
    for i in range(n):
        sat = Satrec()
        sat.sgp4init(
            WGS72,
            "i",
            int(sat_id[i]) % 100_000,
            float(epoch_days),
            float(bstar),
            0.0,  # ndot and nddot: not used by SGP4
            0.0,
            float(ecc[i]),
            float(argp_rad[i]),
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

"""Laser inter-satellite links: +Grid topology, line of sight, acquisition and hop counts.

Each satellite carries up to four optical terminals in the "+Grid" pattern of LEO
constellation network studies (Bhattacherjee & Singla, "Network topology design at 27,000
km/hour", ACM CoNEXT 2019; del Portillo et al., Acta Astronautica 159, 2019): two in-plane
links to the satellites ahead and behind, and two cross-plane links to the satellite of
each adjacent plane of the same shell closest in argument of latitude.

Links are a ``(n_sat, 4)`` array of neighbour rows in columns ``FORE, AFT, LEFT, RIGHT``
(-1: none). The link ``(a, k) -> b`` is the same link as ``(b, PEER_COLUMN[k]) -> a``; every
function here keeps that symmetry. The grid is built once per fleet (``grid_topology``); the
per-tick functions (``feasible``, ``step_links``, ``hops_to_ground``) are whole-fleet array
updates. Vectors are ``(3, n_sat[, ...])`` in any one inertial or Earth-fixed frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.fleet.constellation import Fleet

EARTH_RADIUS_KM = 6378.137  # spherical Earth for line of sight (WGS84 equatorial radius)
FORE, AFT, LEFT, RIGHT = 0, 1, 2, 3  # terminal columns: same plane ahead/behind, adjacent planes
PEER_COLUMN = np.array([AFT, FORE, RIGHT, LEFT], dtype=np.intp)  # column of a link at its far end
SEAM_GAP_FACTOR = 1.5  # a RAAN gap above 1.5 × 360°/planes is a seam: no cross links over it
U_TIE_RAD = 1e-9  # closest-u candidates nearer than this to equal are a tie (7 mm at LEO)
SETUP_TOLERANCE_S = 1e-6  # slack on acquisition time, absorbs summed float time steps
TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class Grid:
    """The +Grid link topology of a fleet.

    Attributes
    ----------
    neighbour : (n_sat, 4) intp, row of the satellite at the far end of each terminal, -1 for
        none. Columns: 0 fore, 1 aft (same plane, ahead and behind in argument of latitude),
        2 left, 3 right (the previous and next plane of the same shell in RAAN order).
    """

    neighbour: np.ndarray

    @property
    def n_sat(self) -> int:
        return int(self.neighbour.shape[0])


@dataclass(frozen=True)
class LinkState:
    """Acquisition state of every link.

    Attributes
    ----------
    acquired_s : (n_sat, 4) float64, how long each link has been continuously feasible, s
        (0 when not feasible).
    """

    acquired_s: np.ndarray


def grid_topology(
    fleet: Fleet,
    r_teme_km: np.ndarray,
    v_teme_km_s: np.ndarray,
    terminals: np.ndarray | int = 4,
) -> Grid:
    """Build the +Grid topology from one snapshot of positions and velocities.

    In-plane: the satellites of each plane (``fleet.shell``, ``fleet.plane``) are ordered by
    argument of latitude u (angle of r about h = r × v from the node z × h) and each links to
    its successor (fore) and predecessor (aft) on the ring. A plane of one satellite has no
    in-plane link, a plane of two has one.

    Cross-plane: the planes of a shell are ordered by RAAN (of their summed unit h); each
    satellite links to the satellite of the next plane whose u is closest to its own (right)
    and of the previous plane (left); a link is kept only when both ends chose each other.
    The planes close into a ring when they span ~360° (delta pattern: no RAAN gap above
    ``SEAM_GAP_FACTOR`` × 360°/planes); otherwise (star pattern, two planes) the chain is
    cut at the largest gap, the seam between counter-rotating planes.

    Terminals: a satellite with ``t < 4`` terminals keeps columns ``0..t-1`` (in-plane
    first); a link needs a terminal at both ends, so with three terminals everywhere there
    are no cross links (the right terminal is missing at one end of every cross link).

    Fleets without a plane structure: a formation cluster (one shared plane id) becomes one
    ring ordered along-track with no cross links; a fleet with every satellite in its own
    plane becomes a chain (or ring) of cross links in RAAN order with no in-plane links;
    ``feasible`` then decides which of those links can close. A satellite whose state is not
    finite gets no links (its neighbours are not re-linked around it).

    Parameters
    ----------
    fleet : the fleet (n_sat satellites); uses ``plane`` and ``shell``.
    r_teme_km : (3, n_sat) position, km, inertial frame (TEME).
    v_teme_km_s : (3, n_sat) velocity, km/s, same frame.
    terminals : (n_sat,) or scalar, laser terminals per satellite (0..4).

    Returns
    -------
    Grid with a symmetric ``neighbour`` array.
    """
    n = fleet.n_sat
    r = np.asarray(r_teme_km, dtype=np.float64)
    v = np.asarray(v_teme_km_s, dtype=np.float64)
    for name, value in (("r_teme_km", r), ("v_teme_km_s", v)):
        if value.shape != (3, n):
            raise ValueError(f"{name}: shape {value.shape} must be (3, {n}) for this fleet")
    terminals = np.broadcast_to(np.asarray(terminals), (n,))
    if n == 0:
        return Grid(np.empty((0, 4), dtype=np.intp))
    h = np.cross(r, v, axis=0)
    h_norm = np.linalg.norm(h, axis=0)
    valid = np.isfinite(h_norm) & (h_norm > 0.0)
    h_hat = np.where(valid, h, [[0.0], [0.0], [1.0]])
    h_hat = h_hat / np.linalg.norm(h_hat, axis=0)
    u_rad = np.where(valid, _argument_of_latitude_rad(np.where(valid, r, 0.0), h_hat), 0.0)

    # Satellites sorted by shell, plane, u: each plane a contiguous run ("group") in `order`.
    order = np.lexsort((u_rad, fleet.plane, fleet.shell))
    plane_s, shell_s, u_s = fleet.plane[order], fleet.shell[order], u_rad[order]
    first = np.r_[True, (plane_s[1:] != plane_s[:-1]) | (shell_s[1:] != shell_s[:-1])]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    counts = np.diff(np.r_[starts, n])

    pos = np.arange(n)
    start, count = starts[group], counts[group]
    k = pos - start
    fore_ok = (count >= 3) | ((count == 2) & (k == 0))
    aft_ok = (count >= 3) | ((count == 2) & (k == 1))
    fore_s = np.where(fore_ok, start + (k + 1) % count, -1)
    aft_s = np.where(aft_ok, start + (k - 1) % count, -1)

    right_group = _right_planes(
        shell_s[starts],
        np.bincount(group, (h_hat[0] * valid)[order], starts.shape[0]),
        np.bincount(group, (h_hat[1] * valid)[order], starts.shape[0]),
    )
    has_right = right_group >= 0
    left_group = np.full_like(right_group, -1)
    left_group[right_group[has_right]] = np.flatnonzero(has_right)
    right_offset, left_offset = _lattice_offsets_rad(
        u_s, group, valid[order], starts, counts, right_group
    )
    right_s = _closest_u(u_s, group, starts, counts, right_offset, right_group, True)
    left_s = _closest_u(u_s, group, starts, counts, left_offset, left_group, False)
    right_s = np.where((right_s >= 0) & (left_s[right_s] == pos), right_s, -1)
    left_s = np.where((left_s >= 0) & (right_s[left_s] == pos), left_s, -1)

    sorted_columns = np.stack([fore_s, aft_s, left_s, right_s], axis=1)
    neighbour = np.empty((n, 4), dtype=np.intp)
    neighbour[order] = np.where(sorted_columns >= 0, order[sorted_columns], -1)

    allowed = (np.arange(4) < terminals[:, None]) & valid[:, None]
    exists = neighbour >= 0
    far = np.where(exists, neighbour, 0)
    keep = exists & allowed & allowed[far, PEER_COLUMN]
    return Grid(np.where(keep, neighbour, -1))


def _argument_of_latitude_rad(r_km: np.ndarray, h_hat: np.ndarray) -> np.ndarray:
    """Angle of r (3, n) about the unit normal h_hat (3, n) from the ascending node z × h,
    in [0, 2π]; equatorial orbits measure from the x axis."""
    node = np.stack([-h_hat[1], h_hat[0], np.zeros_like(h_hat[0])])
    node_norm = np.hypot(node[0], node[1])
    equatorial = node_norm < 1e-12
    node = np.where(equatorial, [[1.0], [0.0], [0.0]], node / np.where(equatorial, 1.0, node_norm))
    along = np.cross(h_hat, node, axis=0)
    return np.arctan2(np.sum(r_km * along, axis=0), np.sum(r_km * node, axis=0)) % TWO_PI


def _right_planes(shell_g: np.ndarray, hx_g: np.ndarray, hy_g: np.ndarray) -> np.ndarray:
    """For each plane (group), the next plane of its shell in RAAN order, or -1.

    RAAN = atan2(h_x, -h_y) from the plane's summed unit normal (Vallado, "Fundamentals of
    Astrodynamics and Applications", 4th ed., Algorithm 9). The ring is cut at the largest
    gap unless the shell has at least three planes and no gap exceeds ``SEAM_GAP_FACTOR``
    × 360°/planes; on equal gaps the wrap-around link is cut.
    """
    n_planes = shell_g.shape[0]
    raan_rad = np.arctan2(hx_g, -hy_g) % TWO_PI
    porder = np.lexsort((raan_rad, shell_g))
    shell_p, raan_p = shell_g[porder], raan_rad[porder]
    first = np.r_[True, shell_p[1:] != shell_p[:-1]]
    sid = np.cumsum(first) - 1
    sstart = np.flatnonzero(first)
    n_in_shell = np.diff(np.r_[sstart, n_planes])[sid]
    ppos = np.arange(n_planes)
    nxt = sstart[sid] + (ppos - sstart[sid] + 1) % n_in_shell
    gap = np.where(n_in_shell > 1, (raan_p[nxt] - raan_p) % TWO_PI, TWO_PI)
    max_gap = np.maximum.reduceat(gap, sstart)[sid]
    cut = np.maximum.reduceat(np.where(gap == max_gap, ppos, -1), sstart)[sid]
    closed = (n_in_shell >= 3) & (max_gap <= SEAM_GAP_FACTOR * TWO_PI / n_in_shell)
    link = (n_in_shell >= 2) & (closed | (ppos != cut))
    right = np.empty(n_planes, dtype=np.intp)
    right[porder] = np.where(link, porder[nxt], -1)
    return right


def _lattice_offsets_rad(u_s, group, valid_s, starts, counts, right_group):
    """Phase offset (rad) from each plane's slot lattice to its right plane's, and the
    opposite offset for each plane's left plane; 0 where a plane has no such neighbour.

    Two planes of n evenly spaced satellites differ by one phase offset, known modulo a slot
    (2π/n): the circular mean of n·(u_b − u_a) over the plane's closest-u pairs (Mardia &
    Jupp, "Directional Statistics", 2000, §2.2). Decided once per plane pair, it keeps a
    phasing near half a slot (Starlink's 72/22/39 is 0.54 slot) from splitting the pair's
    choices on osculating noise. Planes of unequal counts or uneven spacing (mean resultant
    below 0.5) get offset 0: plain closest u.
    """
    n_groups = starts.shape[0]
    zero = np.zeros(n_groups)
    nearest = _closest_u(u_s, group, starts, counts, zero, right_group, True)
    weight = valid_s & (nearest >= 0) & valid_s[nearest]
    n_phase = counts[group] * (u_s[nearest] - u_s)
    cos_sum = np.bincount(group, np.cos(n_phase) * weight, n_groups)
    sin_sum = np.bincount(group, np.sin(n_phase) * weight, n_groups)
    n_pairs = np.bincount(group, weight, n_groups)
    q = np.where(right_group >= 0, right_group, 0)
    regular = (counts == counts[q]) & (n_pairs > 0) & (np.hypot(cos_sum, sin_sum) >= 0.5 * n_pairs)
    offset = np.where(regular & (right_group >= 0), np.arctan2(sin_sum, cos_sum) / counts, 0.0)
    left_offset = zero.copy()
    has = right_group >= 0
    left_offset[right_group[has]] = -offset[has]
    return offset, left_offset


def _closest_u(u_s, group, starts, counts, offset, target, behind_on_tie) -> np.ndarray:
    """For each satellite (sorted position), the sorted position of the satellite of plane
    ``target[group]`` whose u is circularly closest to its own u + ``offset[group]``; -1
    where the plane has no target plane.

    On a tie right links take the satellite behind and left links the one ahead, so that both
    ends choose each other.
    """
    key_s = group * 8.0 + u_s  # nondecreasing: u in [0, 2π] < 8
    target_group = target[group]
    target_u = (u_s + offset[group]) % TWO_PI
    q = np.where(target_group >= 0, target_group, 0)
    i = np.searchsorted(key_s, q * 8.0 + target_u)
    q_start = starts[q]
    q_end = q_start + counts[q]
    hi = np.where(i < q_end, i, q_start)
    lo = np.where(i > q_start, i - 1, q_end - 1)
    d_hi = np.abs(u_s[hi] - target_u) % TWO_PI
    d_lo = np.abs(u_s[lo] - target_u) % TWO_PI
    d_hi = np.minimum(d_hi, TWO_PI - d_hi)
    d_lo = np.minimum(d_lo, TWO_PI - d_lo)
    take_lo = d_lo < d_hi + U_TIE_RAD if behind_on_tie else d_lo < d_hi - U_TIE_RAD
    return np.where(target_group >= 0, np.where(take_lo, lo, hi), -1)


def chord_min_radius_km(r_a_km: np.ndarray, r_b_km: np.ndarray) -> np.ndarray:
    """Least distance from the Earth's centre to the segment a–b.

    The origin is projected on the line, the parameter clamped to [0, 1] (closest point on a
    segment: Ericson, "Real-Time Collision Detection", 2005, §5.1.2).

    Parameters
    ----------
    r_a_km, r_b_km : (3, ...) broadcastable end points, km.

    Returns
    -------
    (...) km; NaN where an end point is NaN.
    """
    d_km = r_b_km - r_a_km
    dd_km2 = np.sum(d_km * d_km, axis=0)
    t = np.clip(-np.sum(r_a_km * d_km, axis=0) / np.where(dd_km2 > 0.0, dd_km2, 1.0), 0.0, 1.0)
    return np.linalg.norm(r_a_km + t * d_km, axis=0)


def per_link(grid: Grid, value: np.ndarray | float, combine=np.minimum) -> np.ndarray:
    """A per-satellite value (n_sat,) or scalar combined over both ends of each link,
    (n_sat, 4); absent links combine the row with itself."""
    value = np.broadcast_to(np.asarray(value, dtype=np.float64), (grid.n_sat,))
    far = np.where(grid.neighbour >= 0, grid.neighbour, np.arange(grid.n_sat)[:, None])
    return combine(value[:, None], value[far])


def feasible(
    grid: Grid,
    r_km: np.ndarray,
    max_range_km: np.ndarray | float,
    grazing_altitude_km: np.ndarray | float,
) -> np.ndarray:
    """Which links of the grid can close: in range and above the atmosphere.

    A link closes when its neighbour exists, its length is at most the lesser ``max_range_km``
    of its ends, and the chord passes higher than ``EARTH_RADIUS_KM`` + the greater
    ``grazing_altitude_km`` of its ends (margin for atmospheric refraction and absorption).

    Parameters
    ----------
    grid : topology of n_sat satellites.
    r_km : (3, n_sat[, ...]) positions, km, any one frame; trailing axes (e.g. time) broadcast.
    max_range_km : (n_sat,) or scalar, terminal range, km.
    grazing_altitude_km : (n_sat,) or scalar, least chord altitude, km (e.g. 80).

    Returns
    -------
    (n_sat, 4[, ...]) bool; False where either position is NaN. Symmetric like the grid.
    """
    r = np.asarray(r_km, dtype=np.float64)
    if r.ndim < 2 or r.shape[:2] != (3, grid.n_sat):
        raise ValueError(f"r_km: shape {r.shape} must be (3, {grid.n_sat}, ...)")
    exists = grid.neighbour >= 0
    far = np.where(exists, grid.neighbour, np.arange(grid.n_sat)[:, None])
    trailing = (1,) * (r.ndim - 2)
    r_a, r_b = r[:, :, None], r[:, far]  # (3, n_sat, 1, ...), (3, n_sat, 4, ...)
    range_km = np.linalg.norm(r_b - r_a, axis=0)
    limit_km = per_link(grid, max_range_km, np.minimum).reshape(grid.n_sat, 4, *trailing)
    floor_km = EARTH_RADIUS_KM + per_link(grid, grazing_altitude_km, np.maximum)
    return (
        exists.reshape(grid.n_sat, 4, *trailing)
        & (range_km <= limit_km)
        & (chord_min_radius_km(r_a, r_b) > floor_km.reshape(grid.n_sat, 4, *trailing))
    )


def initial_links(n_sat: int) -> LinkState:
    """Every link down and unacquired."""
    return LinkState(np.zeros((n_sat, 4), dtype=np.float64))


def step_links(
    state: LinkState,
    feasible_now: np.ndarray,
    setup_s: np.ndarray | float,
    dt_s: float,
) -> tuple[LinkState, np.ndarray]:
    """Advance link acquisition by one step of ``dt_s``.

    Feasibility sampled at the end of the step is taken to hold over the step, so a link's
    ``acquired_s`` grows by ``dt_s`` per feasible tick and returns to 0 on any infeasible
    tick; the link is up once ``acquired_s >= setup_s`` (acquisition and pointing). With
    ``setup_s <= dt_s`` a link is up on its first feasible tick.

    Parameters
    ----------
    state : acquisition state, (n_sat, 4).
    feasible_now : (n_sat, 4) bool, from ``feasible``.
    setup_s : scalar, (n_sat,) (each row's own value) or (n_sat, 4), s. Unequal per-satellite
        values make a link's two ends come up apart; pass ``per_link(grid, setup_s,
        np.maximum)`` to keep ``up`` symmetric.
    dt_s : step, s.

    Returns
    -------
    new state, and up: (n_sat, 4) bool. Symmetric feasibility and setup give symmetric ``up``.
    """
    feasible_now = np.asarray(feasible_now, dtype=bool)
    setup = np.asarray(setup_s, dtype=np.float64)
    if setup.ndim == 1:
        setup = setup[:, None]
    acquired_s = np.where(feasible_now, state.acquired_s + dt_s, 0.0)
    up = feasible_now & (acquired_s >= setup - SETUP_TOLERANCE_S)
    return LinkState(acquired_s), up


def hops_to_ground(
    grid: Grid, up: np.ndarray, in_contact: np.ndarray, max_hops: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hop count and next hop from every satellite to the nearest satellite in ground contact.

    Breadth-first Bellman–Ford relaxation with unit link weights (Bellman, "On a routing
    problem", Q. Appl. Math. 16, 1958): iteration k marks every unreached satellite with an up
    link to a satellite at k − 1 hops. The loop runs over hops, not satellites; ties go to the
    lowest column.

    Parameters
    ----------
    grid : topology of n_sat satellites.
    up : (n_sat, 4) bool, links up (from ``step_links``).
    in_contact : (n_sat,) bool, satellites with a ground-station contact.
    max_hops : largest hop count searched (0..32767).

    Returns
    -------
    hops : (n_sat,) int16, 0 in contact, k for k up-links away (k <= max_hops), -1 beyond.
    next_hop : (n_sat,) intp, neighbour row one hop closer; -1 where hops is 0 or -1.
    """
    if not 0 <= max_hops <= np.iinfo(np.int16).max:
        raise ValueError(f"max_hops: {max_hops!r} must be within 0..32767")
    exists = grid.neighbour >= 0
    usable = np.asarray(up, dtype=bool) & exists
    far = np.where(exists, grid.neighbour, 0)
    hops = np.where(np.asarray(in_contact, dtype=bool), 0, -1).astype(np.int16)
    next_hop = np.full(grid.n_sat, -1, dtype=np.intp)
    for k in range(1, max_hops + 1):  # over hop counts
        reach = usable & (hops[far] == k - 1)
        new = (hops < 0) & reach.any(axis=1)
        if not new.any():
            break
        hops[new] = k
        next_hop[new] = grid.neighbour[new, np.argmax(reach[new], axis=1)]
    return hops, next_hop


def link_counts(up: np.ndarray) -> np.ndarray:
    """Links up per satellite: (n_sat, 4[, ...]) bool -> (n_sat[, ...]) int16."""
    return np.count_nonzero(up, axis=1).astype(np.int16)

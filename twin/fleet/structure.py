"""A real catalogue's structure recovered from its element sets: shells and planes.

Element sets carry no shell or plane label, yet laser links, frame groups and rules that
compare a satellite with its plane need them. A **shell** is a dense cluster of satellites
in (inclination, altitude): the modes of a 2-D histogram (``INCLINATION_BIN_DEG`` ×
``ALTITUDE_BIN_KM`` bins) holding at least ``MIN_SHELL_SATELLITES`` (a quarter of a catalogue
smaller than 80, at least two), each satellite joining
the nearest mode within ``INCLINATION_TOLERANCE_DEG`` and ``ALTITUDE_TOLERANCE_KM``. A
satellite near no mode (raising its orbit after launch, lowering it before re-entry) is in
transit: a shell of its own, so it has no laser neighbour by design. A **plane** is a run of
a shell's satellites in right ascension of the node, split where the next node is more than
``PLANE_GAP_DEG`` further round (circularly: the run across 0° is one plane).

Altitudes are the semi-major axis of the element set's (Kozai) mean motion less the WGS72
equatorial radius: within a few km of the mean altitude, the same for every satellite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sgp4.api import Satrec

from twin.fleet.constellation import MU_EARTH_KM3_S2, R_EARTH_WGS72_KM

INCLINATION_BIN_DEG = 0.1
ALTITUDE_BIN_KM = 2.5
MIN_SHELL_SATELLITES = 20  # a mode holding fewer is not a shell (in a small catalogue: a quarter)
INCLINATION_TOLERANCE_DEG = 0.1
ALTITUDE_TOLERANCE_KM = 5.0
PLANE_GAP_DEG = 1.5  # satellites of one plane lie well within this in node (Starlink: < 0.5°)


@dataclass(frozen=True)
class Structure:
    """Each satellite's shell and plane, (n_sat,) each, and each shell's centre.

    ``shell`` int16 (shells by inclination then altitude first, then one shell per satellite
    in transit); ``plane`` int32, unique across the fleet; ``inclination_deg``,
    ``altitude_km`` (n_shell,) each shell's mode (the satellite's own for one in transit);
    ``in_transit`` (n_shell,) bool."""

    shell: np.ndarray
    plane: np.ndarray
    inclination_deg: np.ndarray
    altitude_km: np.ndarray
    in_transit: np.ndarray

    def names(self, prefix: str) -> list[str]:
        """A name per shell: ``prefix`` with its inclination and altitude, e.g.
        ``starlink-53.0deg-550km`` (``-transit`` for a satellite in transit)."""
        return [
            f"{prefix}-{inc:.1f}deg-{alt:.0f}km{'-transit' if transit else ''}"
            for inc, alt, transit in zip(
                self.inclination_deg.tolist(),
                self.altitude_km.tolist(),
                self.in_transit.tolist(),
                strict=True,
            )
        ]


def mean_elements(sats: list[Satrec]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inclination deg, mean altitude km, right ascension of the node deg in 0..360), each
    (n_sat,), of each element set at its epoch (one attribute read per set)."""
    inclination = np.degrees(np.fromiter((s.inclo for s in sats), np.float64, len(sats)))
    node = np.degrees(np.fromiter((s.nodeo for s in sats), np.float64, len(sats))) % 360.0
    motion_rad_s = np.fromiter((s.no_kozai for s in sats), np.float64, len(sats)) / 60.0
    a_km = np.cbrt(MU_EARTH_KM3_S2 / motion_rad_s**2)
    return inclination, a_km - R_EARTH_WGS72_KM, node


def recover(
    inclination_deg: np.ndarray, altitude_km: np.ndarray, node_deg: np.ndarray
) -> Structure:
    """Shells and planes of satellites with these mean elements, (n_sat,) each (see the
    module docstring)."""
    n = inclination_deg.shape[0]
    modes_inc, modes_alt = _modes(inclination_deg, altitude_km)
    shell = np.full(n, -1, np.int64)
    if modes_inc.size:  # the nearest mode within tolerance, in units of the tolerances
        d_inc = (inclination_deg[:, None] - modes_inc[None, :]) / INCLINATION_TOLERANCE_DEG
        d_alt = (altitude_km[:, None] - modes_alt[None, :]) / ALTITUDE_TOLERANCE_KM
        distance = np.maximum(np.abs(d_inc), np.abs(d_alt))  # (n_sat, n_mode)
        nearest = np.argmin(distance, axis=1)
        shell = np.where(distance[np.arange(n), nearest] <= 1.0, nearest, -1)
    transit = np.flatnonzero(shell < 0)
    shell[transit] = modes_inc.size + np.arange(transit.size)
    plane = np.empty(n, np.int32)
    next_plane = 0
    for k in range(modes_inc.size):  # over shells: a handful
        mine = np.flatnonzero(shell == k)
        runs = _plane_runs(node_deg[mine])
        plane[mine] = next_plane + runs
        next_plane += int(runs.max()) + 1 if runs.size else 0
    plane[transit] = next_plane + np.arange(transit.size)  # in transit: alone in its plane
    return Structure(
        shell.astype(np.int16),
        plane,
        np.r_[modes_inc, inclination_deg[transit]],
        np.r_[modes_alt, altitude_km[transit]],
        np.r_[np.zeros(modes_inc.size, bool), np.ones(transit.size, bool)],
    )


def _modes(inclination_deg: np.ndarray, altitude_km: np.ndarray) -> tuple[np.ndarray, ...]:
    """The shells' centres (inclination deg, altitude km), each (n_mode,), sorted by
    inclination then altitude: the densest 3 × 3 neighbourhood of histogram bins among the
    satellites not yet in a shell, refined to the mean of those within tolerance of it, which
    form the shell; repeated while the densest holds enough satellites."""
    left = np.ones(inclination_deg.shape[0], bool)
    least = min(MIN_SHELL_SATELLITES, max(2, inclination_deg.shape[0] // 4))
    inc, alt = [], []
    while left.sum() >= least:  # over shells: a handful
        i_bin = np.floor(inclination_deg[left] / INCLINATION_BIN_DEG).astype(np.int64)
        a_bin = np.floor(altitude_km[left] / ALTITUDE_BIN_KM).astype(np.int64)
        i0, a0 = i_bin.min() - 1, a_bin.min() - 1
        counts = np.zeros((i_bin.max() - i0 + 2, a_bin.max() - a0 + 2))
        np.add.at(counts, (i_bin - i0, a_bin - a0), 1.0)
        padded = np.pad(counts, 1)
        around = sum(
            padded[1 + di : padded.shape[0] - 1 + di, 1 + da : padded.shape[1] - 1 + da]
            for di in (-1, 0, 1)
            for da in (-1, 0, 1)
        )
        best_i, best_a = np.unravel_index(np.argmax(around), around.shape)
        if around[best_i, best_a] < least:
            break
        # The neighbourhood's satellites, then those within tolerance of their mean.
        i_low, a_low = (best_i + i0 - 1) * INCLINATION_BIN_DEG, (best_a + a0 - 1) * ALTITUDE_BIN_KM
        close = left & (inclination_deg >= i_low) & (altitude_km >= a_low)
        close &= inclination_deg < i_low + 3 * INCLINATION_BIN_DEG
        close &= altitude_km < a_low + 3 * ALTITUDE_BIN_KM
        for _ in range(2):  # the centre refined to its satellites' mean
            centre = (inclination_deg[close].mean(), altitude_km[close].mean())
            close = left & _within(inclination_deg, altitude_km, *centre)
            if not close.any():
                break
        close = left & _within(inclination_deg, altitude_km, *centre)
        if close.sum() < least:
            break
        inc.append(centre[0])
        alt.append(centre[1])
        left &= ~close
    inc, alt = np.array(inc), np.array(alt)
    order = np.lexsort((alt, inc))
    return inc[order], alt[order]


def _within(inclination_deg, altitude_km, centre_inc, centre_alt) -> np.ndarray:
    return (np.abs(inclination_deg - centre_inc) <= INCLINATION_TOLERANCE_DEG) & (
        np.abs(altitude_km - centre_alt) <= ALTITUDE_TOLERANCE_KM
    )


def _plane_runs(node_deg: np.ndarray) -> np.ndarray:
    """(m,) plane numbers 0.. of one shell's satellites: nodes in circular order, cut at the
    widest gap, a new plane wherever the next node is more than ``PLANE_GAP_DEG`` on."""
    m = node_deg.shape[0]
    if m == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(node_deg)
    sorted_deg = node_deg[order]
    gaps = np.diff(np.r_[sorted_deg, sorted_deg[0] + 360.0])  # gap after each, circularly
    cut = (int(np.argmax(gaps)) + 1) % m  # start at the satellite after the widest gap
    rolled = np.roll(order, -cut)
    unwrapped = (node_deg[rolled] - node_deg[rolled[0]]) % 360.0
    runs = np.r_[0, np.cumsum(np.diff(unwrapped) > PLANE_GAP_DEG)]
    plane = np.empty(m, np.int64)
    plane[rolled] = runs
    return plane

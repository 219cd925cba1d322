"""A real catalogue's structure recovered from its element sets: shells found as clusters in
inclination and altitude (two shells 0.2° and 10 km apart kept apart), planes as runs in
node (across 0°/360° too), satellites raising or lowering their orbits alone in transit,
and every laser link of the +Grid built on them between satellites of one true shell."""

import numpy as np
import pytest

from twin.core.clock import parse_start
from twin.fleet.constellation import circular_elements, make_fleet, walker_delta
from twin.fleet.elements import catalogue_fleet
from twin.fleet.structure import mean_elements, recover
from twin.physics.links import grid_topology
from twin.physics.orbit import propagate

T0 = parse_start("2026-03-20T12:00:00Z")


def _catalogue(seed: int):
    """Four Starlink-like shells with the scatter of real element sets, and 60 satellites
    in transit; returns (satellites, true shell per satellite (-1: transit), true plane)."""
    rng = np.random.default_rng(seed)
    shells = [  # total, planes, km, deg, first node
        (1_584, 72, 550.0, 53.0, 0.0),
        (1_584, 72, 540.0, 53.2, 2.5),
        (720, 36, 570.0, 70.0, 1.0),
        (348, 6, 560.0, 97.6, 358.0),  # a plane across 0°/360°
    ]
    sats, shell, plane = [], [], []
    for k, (total, planes, km, deg, node0) in enumerate(shells):
        fleet = walker_delta(total, planes, 1, km, deg, T0, raan0_deg=node0)
        n = fleet.n_sat
        node = np.degrees([s.nodeo for s in fleet.elements]) + rng.normal(0, 0.15, n)
        anomaly = np.degrees([s.mo for s in fleet.elements])
        sats += circular_elements(
            np.arange(len(sats), len(sats) + n), T0, km + rng.normal(0, 1.0, n),
            deg + rng.normal(0, 0.02, n), node % 360.0, anomaly,
        )  # fmt: skip
        shell += [k] * n
        plane += (fleet.plane + 1_000 * k).tolist()
    n = 60  # raising from 300 km, or lowering: anywhere between, any node
    sats += circular_elements(
        np.arange(len(sats), len(sats) + n), T0, rng.uniform(290.0, 525.0, n),
        53.0 + rng.normal(0, 0.02, n), rng.uniform(0, 360, n), rng.uniform(0, 360, n),
    )  # fmt: skip
    shell += [-1] * n
    plane += list(range(-n, 0))
    return sats, np.array(shell), np.array(plane)


@pytest.mark.parametrize("seed", [1, 2])
def test_shells_and_planes_are_recovered_from_scattered_elements(seed):
    sats, true_shell, true_plane = _catalogue(seed)
    found = recover(*mean_elements(sats))
    operational = true_shell >= 0
    # Each true shell is one recovered shell, distinct, not in transit.
    for k in range(4):
        assert np.unique(found.shell[true_shell == k]).size == 1
    assert np.unique(found.shell[operational]).size == 4
    assert not found.in_transit[found.shell[operational]].any()
    np.testing.assert_allclose(
        np.sort(found.altitude_km[~found.in_transit]), [540, 550, 560, 570], atol=1.0
    )
    # Satellites in transit: almost all alone (one raising through a shell may join it).
    alone = found.in_transit[found.shell[~operational]]
    assert alone.mean() >= 0.9
    # Planes: the partition of the truth, one to one.
    pairs = set(
        zip(true_plane[operational].tolist(), found.plane[operational].tolist(), strict=True)
    )
    assert len(pairs) == np.unique(true_plane[operational]).size == 186
    assert np.unique(found.plane[operational]).size == 186
    assert found.names("starlink")[0] == "starlink-53.0deg-550km"


def test_laser_links_of_a_recovered_catalogue_stay_within_one_true_shell():
    sats, true_shell, _ = _catalogue(3)
    fleet, _ = catalogue_fleet(sats)
    orbit = propagate(fleet.satrecs, np.array([T0], np.int64))
    grid = grid_topology(fleet, orbit.r_teme_km[:, :, 0], orbit.v_teme_km_s[:, :, 0], 4)
    a, column = np.nonzero(grid.neighbour >= 0)
    b = grid.neighbour[a, column]
    assert a.size > 4 * 4_000 * 0.9  # nearly every operational satellite has four links
    assert (true_shell[a] == true_shell[b]).all() and (true_shell[a] >= 0).all()
    # The one-shell grouping of before links across shells: the contrast is real.
    flat = make_fleet(fleet.sat_id, (np.degrees([s.nodeo for s in sats]) // 10).astype(int), sats)
    grid = grid_topology(flat, orbit.r_teme_km[:, :, 0], orbit.v_teme_km_s[:, :, 0], 4)
    a, column = np.nonzero(grid.neighbour >= 0)
    assert (true_shell[a] != true_shell[grid.neighbour[a, column]]).mean() > 0.2


def test_a_small_catalogue_is_one_shell_and_scattered_satellites_are_in_transit():
    # Eight satellites in two planes: a shell of a small catalogue.
    sats = circular_elements(np.arange(8), T0, 550.0, 53.0, np.repeat([0.0, 30.0], 4), np.zeros(8))
    found = recover(*mean_elements(list(sats)))
    assert not found.in_transit.any() and np.unique(found.plane).size == 2
    # Five at five altitudes: no shell at all.
    sats = circular_elements(np.arange(5), T0, 400.0 + 30 * np.arange(5), 53.0, 0.0, np.zeros(5))
    found = recover(*mean_elements(list(sats)))
    assert found.in_transit.all() and np.unique(found.plane).size == 5
    empty = recover(np.zeros(0), np.zeros(0), np.zeros(0))
    assert empty.shell.size == 0 and empty.plane.size == 0

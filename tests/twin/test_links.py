"""Laser links: +Grid topology on Walker shells, line of sight against closed forms,
acquisition, and hop counts to the ground on hand-made grids."""

import numpy as np
import pytest

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.cluster import formation_cluster
from twin.fleet.constellation import make_fleet, subset, walker_delta, walker_star
from twin.physics.links import (
    AFT,
    EARTH_RADIUS_KM,
    FORE,
    LEFT,
    PEER_COLUMN,
    RIGHT,
    Grid,
    chord_min_radius_km,
    feasible,
    grid_topology,
    hops_to_ground,
    initial_links,
    link_counts,
    per_link,
    step_links,
)
from twin.physics.orbit import propagate

START_NS = parse_start("2026-03-20T00:00:00Z")
T_NS = START_NS + 1234 * NS_PER_S


def snapshot(fleet):
    """Positions and velocities (3, n_sat) at T_NS."""
    orbit = propagate(fleet.satrecs, np.array([T_NS]))
    return orbit.r_teme_km[:, :, 0], orbit.v_teme_km_s[:, :, 0]


def links_of(grid):
    """Every directed link as arrays (a, column, b)."""
    a, k = np.nonzero(grid.neighbour >= 0)
    return a, k, grid.neighbour[a, k]


def assert_symmetric(grid):
    a, k, b = links_of(grid)
    np.testing.assert_array_equal(grid.neighbour[b, PEER_COLUMN[k]], a)


def hand_grid(n_sat, links):
    """A grid of ``n_sat`` from undirected links (a, column at a, b)."""
    neighbour = np.full((n_sat, 4), -1, dtype=np.intp)
    for a, k, b in links:
        neighbour[a, k] = b
        neighbour[b, PEER_COLUMN[k]] = a
    return Grid(neighbour)


@pytest.fixture(scope="module")
def delta():
    fleet = walker_delta(60, 6, 1, 550.0, 53.0, START_NS)
    r_km, v_km_s = snapshot(fleet)
    return fleet, r_km, v_km_s, grid_topology(fleet, r_km, v_km_s)


def test_delta_in_plane_links_are_the_two_nearest_of_the_plane(delta):
    fleet, r_km, v_km_s, grid = delta
    fore, aft = grid.neighbour[:, FORE], grid.neighbour[:, AFT]
    assert np.all(fore >= 0) and np.all(aft >= 0)
    np.testing.assert_array_equal(fleet.plane[fore], fleet.plane)
    np.testing.assert_array_equal(fleet.plane[aft], fleet.plane)
    np.testing.assert_array_equal(aft[fore], np.arange(60))
    distance_km = np.linalg.norm(r_km[:, :, None] - r_km[:, None, :], axis=0)
    distance_km[fleet.plane[:, None] != fleet.plane[None, :]] = np.inf
    np.fill_diagonal(distance_km, np.inf)
    nearest_two = np.sort(np.argsort(distance_km, axis=1)[:, :2], axis=1)
    np.testing.assert_array_equal(np.sort(np.stack([fore, aft], axis=1), axis=1), nearest_two)
    # Fore is ahead in the direction of motion.
    assert np.all(np.sum((r_km[:, fore] - r_km) * v_km_s, axis=0) > 0.0)


def test_delta_cross_links_are_symmetric_and_join_adjacent_planes(delta):
    fleet, _, _, grid = delta
    assert_symmetric(grid)
    left, right = grid.neighbour[:, LEFT], grid.neighbour[:, RIGHT]
    assert np.all(left >= 0) and np.all(right >= 0)  # delta: the ring of planes closes
    np.testing.assert_array_equal((fleet.plane[right] - fleet.plane) % 6, 1)
    np.testing.assert_array_equal((fleet.plane[left] - fleet.plane) % 6, 5)
    # Every satellite of a shell advances in u at one rate: the grid is the same later on.
    later = propagate(fleet.satrecs, np.array([T_NS + 2833 * NS_PER_S]))
    again = grid_topology(fleet, later.r_teme_km[:, :, 0], later.v_teme_km_s[:, :, 0])
    np.testing.assert_array_equal(again.neighbour, grid.neighbour)


def test_star_has_no_cross_links_across_the_seam():
    fleet = walker_star(60, 6, 1, 780.0, 86.4, START_NS)
    grid = grid_topology(fleet, *snapshot(fleet))
    assert_symmetric(grid)
    a, k, b = links_of(grid)
    cross = k >= LEFT
    pair = {tuple(p) for p in np.sort(np.stack([fleet.plane[a], fleet.plane[b]]), axis=0).T[cross]}
    assert pair == {(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)}
    n_cross = np.count_nonzero(grid.neighbour[:, LEFT:] >= 0, axis=1)
    np.testing.assert_array_equal(n_cross, np.where(np.isin(fleet.plane, [0, 5]), 1, 2))
    assert np.all(grid.neighbour[:, :LEFT] >= 0)


def test_fewer_terminals_drop_columns_symmetrically(delta):
    fleet, r_km, v_km_s, full = delta
    terminals = np.random.default_rng(7).integers(0, 5, fleet.n_sat)
    grid = grid_topology(fleet, r_km, v_km_s, terminals)
    assert_symmetric(grid)
    column = np.arange(4)
    far = full.neighbour
    expected = (column < terminals[:, None]) & (terminals[far] > PEER_COLUMN)
    np.testing.assert_array_equal(grid.neighbour, np.where(expected, far, -1))
    three = grid_topology(fleet, r_km, v_km_s, 3)
    np.testing.assert_array_equal(three.neighbour[:, :LEFT], full.neighbour[:, :LEFT])
    assert np.all(three.neighbour[:, LEFT:] == -1)


@pytest.mark.parametrize("pattern", [(60, 6, 3), (1584, 72, 39)])
def test_phasing_near_half_a_slot_keeps_every_cross_link(pattern):
    # 60/6/3 is exactly half a slot between planes, Starlink's 72/22/39 is 0.54 slot: the
    # closest u is nearly tied and osculating noise must not split the pair's choices.
    fleet = walker_delta(*pattern, 550.0, 53.0, START_NS)
    grid = grid_topology(fleet, *snapshot(fleet))
    assert_symmetric(grid)
    assert np.all(grid.neighbour >= 0)


def test_uneven_planes_link_symmetrically():
    base = walker_delta(60, 6, 1, 550.0, 53.0, START_NS)
    fleet = subset(base, np.setdiff1d(np.arange(60), [3, 4, 25, 41]))
    grid = grid_topology(fleet, *snapshot(fleet))
    assert_symmetric(grid)
    assert np.all(grid.neighbour[:, :LEFT] >= 0)
    assert np.count_nonzero(grid.neighbour[:, LEFT:] >= 0) >= 2 * (56 - 8)


def test_two_satellite_planes_and_two_planes_link_once():
    # Phasing 1 puts plane 1 half a slot off plane 0: closest-u ties, broken symmetrically.
    fleet = walker_delta(4, 2, 1, 550.0, 53.0, START_NS)
    grid = grid_topology(fleet, *snapshot(fleet))
    assert_symmetric(grid)
    np.testing.assert_array_equal(link_counts(grid.neighbour >= 0), [2, 2, 2, 2])
    a, k, b = links_of(grid)
    assert np.all((fleet.plane[a] == fleet.plane[b]) == (k < LEFT))


def test_cluster_is_one_along_track_ring_without_cross_links():
    fleet = formation_cluster(81, 1000.0, 150.0, 650.0, 97.99, START_NS)
    r_km, v_km_s = snapshot(fleet)
    grid = grid_topology(fleet, r_km, v_km_s)
    assert_symmetric(grid)
    assert np.all(grid.neighbour[:, :LEFT] >= 0) and np.all(grid.neighbour[:, LEFT:] == -1)
    # One ring: following fore visits every satellite once.
    visited = np.zeros(81, dtype=bool)
    row = 0
    for _ in range(81):
        visited[row] = True
        row = grid.neighbour[row, FORE]
    assert visited.all() and row == 0
    assert feasible(grid, r_km, 5.0, 80.0)[:, :LEFT].all()  # all within 2 km


def test_own_plane_per_satellite_and_nan_state_do_not_crash():
    base = walker_delta(60, 6, 1, 550.0, 53.0, START_NS)
    fleet = make_fleet(base.sat_id, np.arange(60), base.elements)
    r_km, v_km_s = snapshot(fleet)
    r_km[:, 5] = np.nan
    grid = grid_topology(fleet, r_km, v_km_s)
    assert_symmetric(grid)
    assert np.all(grid.neighbour[:, :LEFT] == -1)
    assert np.all(grid.neighbour[5] == -1) and not np.any(grid.neighbour == 5)
    ok = feasible(grid, r_km, 1e5, 80.0)
    assert not ok[5].any()
    assert not np.any(ok & (grid.neighbour == -1))


def test_chord_min_radius_matches_line_distance_closed_form():
    rng = np.random.default_rng(11)
    a_km = rng.uniform(-20_000.0, 20_000.0, (3, 2000))
    b_km = rng.uniform(-20_000.0, 20_000.0, (3, 2000))
    b_km[:, :500] = a_km[:, :500] + rng.normal(0.0, 500.0, (3, 500))  # short chords too
    d_km = b_km - a_km
    foot_inside = (np.sum(a_km * -d_km, axis=0) > 0) & (np.sum(b_km * d_km, axis=0) > 0)
    to_line_km = np.linalg.norm(np.cross(a_km, b_km, axis=0), axis=0) / np.linalg.norm(d_km, axis=0)
    ends_km = np.minimum(np.linalg.norm(a_km, axis=0), np.linalg.norm(b_km, axis=0))
    expected_km = np.where(foot_inside, to_line_km, ends_km)
    assert 200 < foot_inside.sum() < 1800
    np.testing.assert_allclose(chord_min_radius_km(a_km, b_km), expected_km, atol=1e-6, rtol=0)


def test_chord_min_radius_broadcasts():
    rng = np.random.default_rng(3)
    a_km = rng.uniform(-9000.0, 9000.0, (3, 5, 4))
    b_km = rng.uniform(-9000.0, 9000.0, (3, 5, 4))
    many = chord_min_radius_km(a_km, b_km)
    assert many.shape == (5, 4)
    assert chord_min_radius_km(a_km[:, 2, 1], b_km[:, 2, 1]) == pytest.approx(many[2, 1])
    np.testing.assert_allclose(chord_min_radius_km(a_km[:, 3], b_km[:, 3]), many[3])
    assert chord_min_radius_km(a_km[:, :1, :1], b_km).shape == (5, 4)


PAIR = hand_grid(2, [(0, FORE, 1)])


def pair_at(half_chord_km, altitude_km):
    """Two satellites at ``altitude_km`` placed symmetrically, ``2 × half_chord_km`` apart."""
    radius_km = EARTH_RADIUS_KM + altitude_km
    x_km = np.sqrt(radius_km**2 - half_chord_km**2)
    return np.array([[x_km, x_km], [half_chord_km, -half_chord_km], [0.0, 0.0]])


def test_opposite_sides_of_the_earth_are_blocked():
    r_km = np.array([[EARTH_RADIUS_KM + 550.0, -EARTH_RADIUS_KM - 550.0], [0, 0], [0, 0]])
    assert chord_min_radius_km(r_km[:, 0], r_km[:, 1]) == pytest.approx(0.0, abs=1e-9)
    assert not feasible(PAIR, r_km, 1e6, 80.0).any()


@pytest.mark.parametrize("altitude_km, grazing_km", [(550.0, 80.0), (1200.0, 100.0)])
def test_maximum_unobstructed_range_is_twice_the_tangent_length(altitude_km, grazing_km):
    # Tangent from radius R + h to the sphere R + g: 2·sqrt((R+h)² − (R+g)²).
    max_km = 2 * np.sqrt((EARTH_RADIUS_KM + altitude_km) ** 2 - (EARTH_RADIUS_KM + grazing_km) ** 2)
    inside = feasible(PAIR, pair_at(max_km / 2 - 0.01, altitude_km), 1e5, grazing_km)
    outside = feasible(PAIR, pair_at(max_km / 2 + 0.01, altitude_km), 1e5, grazing_km)
    np.testing.assert_array_equal(inside[:, :2], [[True, False], [False, True]])
    assert not outside.any()


def test_feasible_range_uses_the_shorter_terminal_and_higher_grazing():
    r_km = pair_at(1000.0, 550.0)  # 2000 km apart, well clear of the atmosphere
    assert feasible(PAIR, r_km, [2000.5, 5000.0], 80.0)[0, FORE]
    assert not feasible(PAIR, r_km, [5000.0, 1999.5], 80.0).any()
    chord_altitude_km = np.sqrt((EARTH_RADIUS_KM + 550.0) ** 2 - 1000.0**2) - EARTH_RADIUS_KM
    grazing_km = [80.0, chord_altitude_km + 1.0]
    assert not feasible(PAIR, r_km, 5000.0, grazing_km).any()


def test_feasible_on_one_pair_and_many_agree():
    rng = np.random.default_rng(5)
    n_pairs = 300
    half_km = rng.uniform(100.0, 5000.0, n_pairs)
    altitude_km = rng.uniform(300.0, 1500.0, n_pairs)
    r_km = np.concatenate([pair_at(h, alt) for h, alt in zip(half_km, altitude_km, strict=True)], 1)
    angle = rng.uniform(0.0, 2 * np.pi, n_pairs).repeat(2)  # rotate each pair about z
    r_km = np.stack(
        [
            np.cos(angle) * r_km[0] - np.sin(angle) * r_km[1],
            np.sin(angle) * r_km[0] + np.cos(angle) * r_km[1],
            r_km[2],
        ]
    )
    r_km[:, 7] = np.nan
    grid = hand_grid(2 * n_pairs, [(2 * i, FORE, 2 * i + 1) for i in range(n_pairs)])
    max_range_km = rng.uniform(1000.0, 8000.0, 2 * n_pairs)
    grazing_km = rng.uniform(50.0, 300.0, 2 * n_pairs)
    many = feasible(grid, r_km, max_range_km, grazing_km)
    one = [
        feasible(
            PAIR,
            r_km[:, 2 * i : 2 * i + 2],
            max_range_km[2 * i : 2 * i + 2],
            grazing_km[2 * i : 2 * i + 2],
        )
        for i in range(n_pairs)
    ]
    np.testing.assert_array_equal(many, np.concatenate(one))
    assert 0.2 < many[:, FORE].sum() / n_pairs < 0.9  # both outcomes occur
    assert not many[6:8].any()  # the pair with a NaN position
    # A trailing time axis: (3, n_sat, n_time) gives (n_sat, 4, n_time), per time the same.
    stacked = np.stack([r_km, r_km * 1.05], axis=-1)
    both = feasible(grid, stacked, max_range_km, grazing_km)
    assert both.shape == (2 * n_pairs, 4, 2)
    np.testing.assert_array_equal(both[..., 0], many)
    np.testing.assert_array_equal(
        both[..., 1], feasible(grid, stacked[..., 1], max_range_km, grazing_km)
    )


def test_acquisition_takes_setup_time_and_an_interruption_resets_it():
    grid = hand_grid(3, [(0, FORE, 1), (1, FORE, 2)])
    exists = grid.neighbour >= 0
    schedule = [True, True, True, True, False, True, True, True]
    state = initial_links(3)
    ups = []
    for ok in schedule:
        state, up = step_links(state, exists & ok, 30.0, 10.0)
        ups.append(up[0, FORE])
        np.testing.assert_array_equal(up, up[grid.neighbour.clip(0), PEER_COLUMN] & exists)
    assert ups == [False, False, True, True, False, False, False, True]
    np.testing.assert_allclose(state.acquired_s[exists], 30.0)
    assert np.all(state.acquired_s[~exists] == 0.0)
    # Float time steps summing to the setup time count as reaching it.
    state = initial_links(3)
    for _ in range(3):
        state, up = step_links(state, exists, 0.3, 0.1)
    assert up[exists].all()
    # Per-satellite setup: each end its own, or both ends the longer through per_link.
    setup_s = np.array([10.0, 30.0, 30.0])
    state, up = step_links(initial_links(3), exists, setup_s, 10.0)
    assert up[0, FORE] and not up[1, AFT]
    state, up = step_links(initial_links(3), exists, per_link(grid, setup_s, np.maximum), 10.0)
    assert not up.any()


# Chain 0-1-2-3-4 (fore = next), a shortcut 0 right <-> 3 left, and 5 alone.
CHAIN = hand_grid(6, [(0, FORE, 1), (1, FORE, 2), (2, FORE, 3), (3, FORE, 4), (0, RIGHT, 3)])


def test_hops_to_ground_on_a_chain_with_a_shortcut():
    up = CHAIN.neighbour >= 0
    contact = np.array([True, False, False, False, False, False])
    hops, next_hop = hops_to_ground(CHAIN, up, contact, max_hops=5)
    assert hops.dtype == np.int16
    np.testing.assert_array_equal(hops, [0, 1, 2, 1, 2, -1])
    # Satellite 2 is two hops via 1 (aft) or 3 (fore): the lowest column (fore) wins.
    np.testing.assert_array_equal(next_hop, [-1, 0, 3, 0, 3, -1])
    hops, next_hop = hops_to_ground(CHAIN, up, contact, max_hops=1)
    np.testing.assert_array_equal(hops, [0, 1, -1, 1, -1, -1])
    np.testing.assert_array_equal(next_hop, [-1, 0, -1, 0, -1, -1])
    hops, _ = hops_to_ground(CHAIN, up, contact, max_hops=0)
    np.testing.assert_array_equal(hops, [0, -1, -1, -1, -1, -1])


def test_hops_to_ground_follow_only_links_that_are_up():
    up = CHAIN.neighbour >= 0
    up[0, RIGHT] = up[3, LEFT] = False  # shortcut down
    contact = np.array([True, False, False, False, False, False])
    hops, next_hop = hops_to_ground(CHAIN, up, contact, max_hops=10)
    np.testing.assert_array_equal(hops, [0, 1, 2, 3, 4, -1])
    np.testing.assert_array_equal(next_hop, [-1, 0, 1, 2, 3, -1])
    contact[4] = True  # two ground contacts: each satellite routes to the nearer
    hops, next_hop = hops_to_ground(CHAIN, up, contact, max_hops=10)
    np.testing.assert_array_equal(hops, [0, 1, 2, 1, 0, -1])
    np.testing.assert_array_equal(next_hop, [-1, 0, 3, 4, -1, -1])
    np.testing.assert_array_equal(link_counts(up), [1, 2, 2, 2, 1, 0])
    with pytest.raises(ValueError, match=r"^max_hops: -1 must be"):
        hops_to_ground(CHAIN, up, contact, max_hops=-1)


def test_grid_rejects_positions_of_the_wrong_shape(delta):
    fleet, r_km, v_km_s, _ = delta
    with pytest.raises(ValueError, match=r"^r_teme_km: shape \(3, 59\) must be \(3, 60\)"):
        grid_topology(fleet, r_km[:, 1:], v_km_s)

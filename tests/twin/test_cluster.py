"""Formation clusters: Suncatcher-like geometry holds over a day of SGP4 propagation."""

import numpy as np
import pytest

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.cluster import formation_cluster, hexagonal_pattern_m
from twin.physics.orbit import propagate

START_NS = parse_start("2026-03-20T12:00:00Z")


def test_hexagonal_pattern_spacing_and_extent():
    points = hexagonal_pattern_m(81, 150.0)
    d = np.linalg.norm(points[:, :, None] - points[:, None, :], axis=0)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(d.min(axis=1), 150.0)
    assert np.hypot(*points).max() < 1000.0


@pytest.mark.parametrize("hours", [0.0, 6.0, 24.0])
def test_81_satellites_stay_within_1_km_with_neighbours_100_to_200_m(hours):
    fleet = formation_cluster(81, 1000.0, 150.0, 650.0, 97.99, START_NS)
    t = START_NS + (np.arange(0, 5900, 60) + int(hours * 3600)).astype(np.int64) * NS_PER_S
    r_m = propagate(fleet.satrecs, t).r_teme_km * 1e3  # (3, 81, n_time)
    centre = r_m[:, :1]  # the reference satellite at the pattern's centre
    assert np.linalg.norm(r_m - centre, axis=0).max() < 1000.0
    d = np.linalg.norm(r_m[:, :, None] - r_m[:, None, :], axis=0)
    d[np.arange(81), np.arange(81)] = np.inf
    nearest = d.min(axis=1)
    assert nearest.min() > 100.0 and nearest.max() < 200.0


def test_cluster_that_does_not_fit_names_radius():
    with pytest.raises(ValueError, match=r"^radius_m: 500.0 is too small for 81 satellites"):
        formation_cluster(81, 500.0, 150.0, 650.0, 97.99, START_NS)

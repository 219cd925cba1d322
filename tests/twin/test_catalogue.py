"""A real catalogue (6,409 Starlink element sets, October 2024) keeps its structure: the
shells its operator flies are found (43°, 53°, 53.2°, 70° and 97.6° near 540-570 km), every
planned laser link joins two satellites of one physical shell, and the satellites raising or
lowering their orbits are in transit, alone."""

from pathlib import Path

import numpy as np

from twin.fleet.elements import catalogue_fleet, epochs_ns, read_elements
from twin.fleet.structure import mean_elements
from twin.physics.links import grid_topology
from twin.physics.orbit import propagate

DATA = Path(__file__).resolve().parent.parent / "data" / "catalogues"


def test_a_real_catalogues_shells_planes_and_laser_neighbours():
    sats = read_elements(DATA / "starlink-2024-10-17.tle.gz")[0]
    fleet, found = catalogue_fleet(sats)
    operational = ~found.in_transit
    centres = set(
        zip(
            np.round(found.inclination_deg[operational]).tolist(),
            (np.round(found.altitude_km[operational] / 10) * 10).tolist(),
            strict=True,
        )
    )
    for shell in ((43, 560), (53, 550), (53, 540), (70, 570), (98, 560)):  # published shells
        assert shell in centres, centres
    big = [k for k in np.flatnonzero(operational) if (fleet.shell == k).sum() >= 1_000]
    assert len(big) == 3  # 43°/559 km, 53.05°/547 km, 53.2°/540 km: over a thousand each
    assert 0 < found.in_transit.sum() < 0.05 * fleet.n_sat
    epoch_ns = int(np.median(epochs_ns(sats)))
    orbit = propagate(fleet.satrecs, np.array([epoch_ns], np.int64))
    grid = grid_topology(fleet, orbit.r_teme_km[:, :, 0], orbit.v_teme_km_s[:, :, 0], 4)
    inclination, altitude, _ = mean_elements(sats)
    a, column = np.nonzero(grid.neighbour >= 0)
    b = grid.neighbour[a, column]
    assert a.size > 2 * fleet.n_sat  # most satellites have three or four neighbours
    same_shell = (np.abs(inclination[a] - inclination[b]) <= 0.2) & (
        np.abs(altitude[a] - altitude[b]) <= 10.0
    )
    assert same_shell.mean() >= 0.99
    assert (grid.neighbour[found.in_transit[fleet.shell]] < 0).all()  # alone in transit


def test_satellites_in_transit_fly_with_their_laser_terminals_idle():
    # No laser mesh to join while raising or lowering: no laser power, no lasers_down rule.
    from argparse import Namespace

    from twin.app.cli.run import load_fleet

    path = DATA / "starlink-2024-10-17.tle.gz"
    args = Namespace(preset="threebody-12", walker=None, elements=str(path))
    fleet, hw, shells = load_fleet(args, 1_729_200_000 * 10**9)
    transit = np.array(["-transit" in shells[k] for k in fleet.shell])
    assert 0 < transit.sum() < 0.05 * fleet.n_sat
    assert (hw.laser_terminals[transit] == 0).all() and (hw.laser_terminals[~transit] > 0).all()
    assert shells[0].startswith("starlink-2024-10-17-43.0deg-")

"""A real catalogue's structure and its update, from two snapshots of public element sets.

Reads the two committed Starlink snapshots (``tests/data/catalogues``, six days apart; or
``--before``/``--after`` files), recovers shells and planes from the first
(``twin.fleet.structure``, timed against the SGP4 propagation of the same fleet at one
instant, the reference), builds the +Grid laser topology on them and prints:

- the shells (inclination, altitude, satellites, planes) and the satellites in transit;
- the laser links planned, and the share joining two satellites of one physical shell
  (inclination within 0.2°, mean altitude within 10 km: the element sets' own measure,
  not the recovered labels);
- the change of each satellite's predicted position at the update: the first snapshot's
  set flown to the second's epoch against the second's set there (median, p95, max km).

Run: ``python bench/bench_catalogue.py [--before FILE --after FILE]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from twin.fleet.elements import catalogue_fleet, epochs_ns, read_elements
from twin.fleet.structure import mean_elements
from twin.physics.links import grid_topology
from twin.physics.orbit import propagate

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "catalogues"
SAME_SHELL_DEG, SAME_SHELL_KM = 0.2, 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, default=DATA / "starlink-2024-10-17.tle.gz")
    parser.add_argument("--after", type=Path, default=DATA / "starlink-2024-10-23.tle.gz")
    args = parser.parse_args()
    before, after = read_elements(args.before)[0], read_elements(args.after)[0]

    t0 = time.perf_counter()
    fleet, found = catalogue_fleet(before)
    recover_s = time.perf_counter() - t0
    epoch_ns = int(np.median(epochs_ns(before)))
    t0 = time.perf_counter()
    orbit = propagate(fleet.satrecs, np.array([epoch_ns], np.int64))
    sgp4_s = time.perf_counter() - t0
    print(
        f"{args.before.name}: {fleet.n_sat} satellites | structure recovered in "
        f"{1e3 * recover_s:.1f} ms ({recover_s / sgp4_s:.1f}x one propagation of the fleet)"
    )
    for k in np.flatnonzero(~found.in_transit):
        mine = fleet.shell == k
        print(
            f"  shell {found.names('starlink')[k]}: {int(mine.sum())} satellites in "
            f"{np.unique(fleet.plane[mine]).size} planes"
        )
    print(f"  in transit (alone, no laser neighbour by design): {int(found.in_transit.sum())}")

    grid = grid_topology(fleet, orbit.r_teme_km[:, :, 0], orbit.v_teme_km_s[:, :, 0], 4)
    inclination, altitude, _ = mean_elements(before)
    a, column = np.nonzero(grid.neighbour >= 0)
    b = grid.neighbour[a, column]
    same = (np.abs(inclination[a] - inclination[b]) <= SAME_SHELL_DEG) & (
        np.abs(altitude[a] - altitude[b]) <= SAME_SHELL_KM
    )
    print(
        f"  laser links planned: {a.size // 2} | joining one physical shell "
        f"(within {SAME_SHELL_DEG}° and {SAME_SHELL_KM:g} km): {100 * same.mean():.2f} %"
    )

    by_number = {s.satnum: s for s in before}
    change_km = []
    for new in after:  # one SGP4 call per satellite and epoch: a measurement, not a hot path
        old = by_number.get(new.satnum)
        if old is None:
            continue
        _, r_new, _ = new.sgp4(new.jdsatepoch, new.jdsatepochF)
        error, r_old, _ = old.sgp4(new.jdsatepoch, new.jdsatepochF)
        if error == 0:
            change_km.append(float(np.linalg.norm(np.subtract(r_new, r_old))))
    change_km = np.array(change_km)
    print(
        f"{args.after.name}: {len(after)} satellites, {change_km.size} in both | predicted "
        f"position change at the update: median {np.median(change_km):.2f} km, p95 "
        f"{np.percentile(change_km, 95):.2f} km, max {change_km.max():.1f} km"
    )


if __name__ == "__main__":
    main()

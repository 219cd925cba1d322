"""Contacts through the cone prefilter against every satellite-station pair, same instants.

For Walker fleets of each ``--sizes`` (three shells, 550 to 1,200 km) and the bundled
stations (or ``--stations N`` spread over the globe), times one tick's contacts both ways:
the reference computes every pair's elevation (``elevation_deg``, ``visible``,
``assign_contacts``); the prefilter bins satellites in cells and computes only the pairs
in a station's cone (``visible_pairs``, ``assign_pairs``, and the dense visibility matrix
the scheduler keeps). Prints ms per tick both ways, the ratio, the pairs in view, and checks
that both found the same pairs.

Run: ``python bench/bench_contacts.py [--sizes 2800,30000,300000] [--stations 0] [--repeats 5]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of  # bench/ is on the path when a benchmark runs

from twin.core.clock import parse_start
from twin.fleet.constellation import R_EARTH_WGS72_KM, concat, walker_delta
from twin.payload import ground
from twin.physics.orbit import propagate

START_NS = parse_start("2026-03-20T12:00:00Z")
SHELLS = ((0.5, 550.0, 53.0), (0.3, 800.0, 97.6), (0.2, 1_200.0, 70.0))  # share, km, deg


def walker_fleet(n_sat: int):
    """Three shells of about ``n_sat`` satellites together."""
    shells = []
    first = 1
    for share, altitude_km, inclination_deg in SHELLS:
        planes = max(1, int(np.sqrt(n_sat * share)))
        total = planes * max(1, round(n_sat * share / planes))
        shells.append(
            walker_delta(
                total, planes, 1, altitude_km, inclination_deg, START_NS, first_sat_id=first
            )
        )
        first += total
    return concat(shells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2800,30000,300000")
    parser.add_argument("--stations", type=int, default=0, help="0: the bundled stations")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.stations:
        rng = np.random.default_rng(1)
        stations = ground.stations_from_arrays(
            np.degrees(np.arcsin(rng.uniform(-1, 1, args.stations))),
            rng.uniform(-180, 180, args.stations),
            antennas=4,
        )
    else:
        stations = ground.load_stations()
    for n_sat in (int(x) for x in args.sizes.split(",")):
        measure(walker_fleet(n_sat), stations, args.repeats)


def measure(fleet, stations: ground.Stations, repeats: int) -> None:
    """Time one instant's contacts both ways and print the line."""
    r = propagate(fleet.satrecs, np.array([START_NS], np.int64)).r_itrs_km[:, :, 0]
    reach = ground.make_reach(stations, R_EARTH_WGS72_KM + 1_250.0)

    def every_pair():
        elevation = ground.elevation_deg(r, stations)
        in_view = ground.visible(elevation, stations)
        return ground.assign_contacts(elevation, stations, in_view), in_view

    def prefilter():
        sat, st, elevation = ground.visible_pairs(r, stations, reach)
        in_view = np.zeros((fleet.n_sat, stations.n_st), dtype=bool)
        in_view[sat, st] = True
        return ground.assign_pairs(sat, st, elevation, stations, fleet.n_sat), in_view

    (want, want_view), (got, got_view) = every_pair(), prefilter()
    same = np.array_equal(want_view, got_view) and np.array_equal(want.station_row, got.station_row)
    full_s = best_of(every_pair, repeats)
    cone_s = best_of(prefilter, repeats)
    print(
        f"{fleet.n_sat:>9,} satellites x {stations.n_st} stations "
        f"({fleet.n_sat * stations.n_st:,} pairs, {int(got_view.sum()):,} in view): every "
        f"pair {1e3 * full_s:8.2f} ms/tick | cone prefilter {1e3 * cone_s:7.2f} ms/tick | "
        f"prefilter/every pair {cone_s / full_s:.3f} | same pairs and grants: {same}"
    )


if __name__ == "__main__":
    main()

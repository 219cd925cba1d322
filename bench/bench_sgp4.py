"""One SGP4 step of the whole fleet: SatrecArray vs a per-satellite skyfield loop.

Prints, for 2,800 and 30,000 satellites, the time of one tick through
``SatrecArray.sgp4`` (one C call), through the twin's ``orbit.propagate`` (SGP4 plus TEME →
ITRS → WGS84, vectorised) and through skyfield's ``EarthSatellite.at()`` called once per
satellite, all in this process, with the ratios. Run: ``python bench/bench_sgp4.py``.
"""

from __future__ import annotations

import argparse

import numpy as np
from skyfield.api import EarthSatellite
from timing import best_of  # bench/ is on the path when a benchmark runs

from twin.core.clock import julian, parse_start, skyfield_time
from twin.fleet.constellation import walker_delta
from twin.physics.orbit import propagate

START_NS = parse_start("2026-03-20T12:00:00Z")


def bench(n_sat: int, repeats: int) -> None:
    planes = 100 if n_sat % 100 == 0 else 1
    fleet = walker_delta(n_sat, planes, 1, 550.0, 53.0, START_NS)
    t_ns = np.array([START_NS + 3_600_000_000_000], dtype=np.int64)
    jt = julian(t_ns)
    t_sky = skyfield_time(t_ns[0])
    sky_sats = [EarthSatellite.from_satrec(s, t_sky.ts) for s in fleet.elements]

    bare_s = best_of(lambda: fleet.satrecs.sgp4(jt.jd_utc, jt.fr_utc), repeats)
    ours_s = best_of(lambda: propagate(fleet.satrecs, t_ns), repeats)
    loop_s = best_of(lambda: [s.at(t_sky) for s in sky_sats], max(1, repeats // 10))
    print(
        f"{n_sat:>7} satellites | SatrecArray.sgp4 {bare_s * 1e3:8.2f} ms"
        f" | twin propagate {ours_s * 1e3:8.2f} ms ({ours_s / bare_s:4.2f}x bare)"
        f" | skyfield loop {loop_s * 1e3:9.1f} ms"
        f" | SatrecArray is {loop_s / bare_s:6.0f}x faster, twin propagate "
        f"{loop_s / ours_s:5.0f}x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2800,30000")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        bench(n, args.repeats)


if __name__ == "__main__":
    main()

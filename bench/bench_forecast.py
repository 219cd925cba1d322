"""Forecast windows against simulated time: how much faster than real time the eclipse and
contact windows of a fleet are found, and against the plain SGP4 propagation of the same
grid (the reference, measured in the same run).

For a preset's fleet and the bundled stations, ``twin.forecast.windows.windows`` over
``--hours`` on a ``--step`` grid (timed), and ``SatrecArray.sgp4`` over the same grid in the
same chunks (timed). Prints both, the windows found, the forecast's speed as simulated time
over wall time, and its cost as a ratio to the bare propagation.

Run: ``python bench/bench_forecast.py [--preset threebody-2800] [--hours 24] [--step 10s]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from twin.core.clock import NS_PER_S, julian, parse_duration_ns, parse_start
from twin.forecast import windows as forecast
from twin.payload.ground import load_stations
from twin.sim.presets import build, load_preset

START_NS = parse_start("2026-03-20T12:00:00Z")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="threebody-2800")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--step", default="10s")
    args = parser.parse_args()
    step_ns = parse_duration_ns("--step", args.step)
    horizon_ns = int(args.hours * 3600 * NS_PER_S)
    fleet, _ = build(load_preset(args.preset), START_NS)
    stations = load_stations()

    t0 = time.perf_counter()
    eclipses, contacts = forecast.windows(fleet, stations, START_NS, horizon_ns, step_ns)
    forecast_s = time.perf_counter() - t0

    grid = START_NS + np.arange(horizon_ns // step_ns + 1, dtype=np.int64) * step_ns
    chunk = max(4, forecast.MAX_VALUES_PER_CHUNK // (fleet.n_sat * stations.n_st))
    t0 = time.perf_counter()
    for a in range(0, grid.shape[0], chunk):  # over chunks of times, as the forecast does
        times = julian(grid[a : a + chunk])
        fleet.satrecs.sgp4(times.jd_utc, times.fr_utc)
    sgp4_s = time.perf_counter() - t0
    print(
        f"{args.preset}: {fleet.n_sat} satellites x {stations.n_st} stations, {args.hours:g} h "
        f"at {step_ns / NS_PER_S:g} s: {eclipses.sat_row.size:,} eclipses, "
        f"{contacts.sat_row.size:,} contacts | forecast {forecast_s:.2f} s "
        f"({horizon_ns / NS_PER_S / forecast_s:,.0f}x real time) | bare SGP4 {sgp4_s:.2f} s | "
        f"forecast/SGP4 {forecast_s / sgp4_s:.2f}"
    )


if __name__ == "__main__":
    main()

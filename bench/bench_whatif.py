"""What-if forks against simulated time: how much faster than real time a shell's baseline
and branch are flown and judged, and against one plain run of the same shell (the
reference, measured in the same run).

For one shell of a preset, forked from its initial state: ``twin.forecast.whatif.fly`` with
a change that adds a training job on every satellite of the shell (timed: both runs, in two
processes, and their outcomes), and ``twin.sim.engine.run`` of the same shell, plan and seed
into a sink that drops everything (timed). Prints both, the what-if's speed as simulated
time over wall time, and its cost as a ratio to the one plain run (two runs on two cores
cost about one, plus judging the telemetry).

Run: ``python bench/bench_whatif.py [--preset threebody-2800] [--shell training-sso-1000]
[--hours 6] [--step 1s]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from twin.core.clock import NS_PER_S, parse_duration_ns, parse_start
from twin.fleet.constellation import subset
from twin.forecast import whatif
from twin.payload import schedule as payload
from twin.sim import engine
from twin.sim.presets import build, load_preset
from twin.wire import jobs

START_NS = parse_start("2026-03-20T12:00:00Z")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="threebody-2800")
    parser.add_argument("--shell", default="training-sso-1000")
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--step", default="1s")
    args = parser.parse_args()
    step_ns = parse_duration_ns("--step", args.step)
    horizon_ns = int(args.hours * 3600 * NS_PER_S)
    preset = load_preset(args.preset)
    shells = [s.name for s in preset.shells]
    fleet, hw = build(preset, START_NS)
    rows = np.flatnonzero(fleet.shell == shells.index(args.shell))
    fleet, hw = subset(fleet, rows), hw.subset(rows)
    ctx = payload.make_context(fleet, hw, START_NS)
    fork = whatif.Fork(START_NS, step_ns, 0, engine.initial_twin(ctx))
    change = whatif.Change(
        submissions=tuple(
            (1800 * NS_PER_S, jobs.Submission(f"train.{s}", 1, 1e6, 0.0, 1.0, 5, 6 * 3600.0, s))
            for s in fleet.sat_id.tolist()
        )
    )

    t0 = time.perf_counter()
    result = whatif.fly(fleet, ctx, fork, horizon_ns, change)
    whatif_s = time.perf_counter() - t0

    plan = engine.RunPlan(START_NS, step_ns, max(1, horizon_ns // step_ns))
    t0 = time.perf_counter()
    engine.run(fleet, hw, plan, engine.FramesTo(lambda frame: None), ctx=ctx)
    run_s = time.perf_counter() - t0
    print(
        f"{args.preset} shell {args.shell}: {fleet.n_sat} satellites, {args.hours:g} h at "
        f"{step_ns / NS_PER_S:g} s, {len(change.submissions)} jobs added, "
        f"{len(result.new_violations)} new violations | what-if {whatif_s:.2f} s "
        f"({horizon_ns / NS_PER_S / whatif_s:,.0f}x real time) | one plain run {run_s:.2f} s | "
        f"what-if/run {whatif_s / run_s:.2f}"
    )


if __name__ == "__main__":
    main()

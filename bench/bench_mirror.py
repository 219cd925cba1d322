"""The mirror's estimation against the twin's own step, for the same fleet and span.

A preset's fleet is flown by the twin for ``--hours`` at ``--step`` (the reference: the
plain twin's engine for every tick, timed); the same run, with hidden parameters, is sensed as
a ground segment would receive it (``twin.sim.reality.sensed``, every sample delivered); then
``twin.mirror.estimate`` estimates every satellite's array efficiency, battery capacity and
radiator emissivity from those samples (timed). Prints both, per satellite-sample, the
mirror's cost as a ratio to the twin's step, and the estimates' error against the hidden
truth (median and p95, %).

Run: ``python bench/bench_mirror.py [--preset threebody-2800] [--hours 6] [--step 10s]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from twin.core.clock import NS_PER_S, parse_duration_ns, parse_start
from twin.mirror import estimate
from twin.sim import reality
from twin.sim.engine import Collected, FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset

START_NS = parse_start("2026-03-20T12:00:00Z")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="threebody-2800")
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--step", default="10s")
    args = parser.parse_args()
    step_ns = parse_duration_ns("--step", args.step)
    n_ticks = int(args.hours * 3600 * NS_PER_S // step_ns)
    fleet, hw = build(load_preset(args.preset), START_NS)
    hidden = reality.hidden_parameters(fleet.sat_id, 1, "bench")
    truth = reality.truth_hardware(hw, hidden)
    plan = RunPlan(START_NS, step_ns, n_ticks)

    t0 = time.perf_counter()
    run(fleet, truth, plan, FramesTo(lambda f: None), seed=1)
    twin_s = time.perf_counter() - t0

    collected = Collected()
    run(fleet, truth, plan, collected, seed=1)
    samples = estimate.Samples(
        *reality.sensed_run(collected.frames, fleet.sat_id, START_NS, step_ns, seed=1)
    )
    del collected
    t0 = time.perf_counter()
    env = estimate.sample_environment(fleet, samples.row, samples.t_ns)
    found = {
        "array_cell_efficiency": estimate.array_efficiency(fleet, hw, samples, env),
        "battery_capacity_wh": estimate.battery_capacity(hw, samples),
        "radiator_emissivity": estimate.radiator_emissivity(fleet, hw, samples, env),
    }
    mirror_s = time.perf_counter() - t0
    n = samples.row.shape[0]
    print(
        f"{args.preset}: {fleet.n_sat} satellites x {n_ticks} ticks = {n:,} samples | twin "
        f"step {twin_s:.2f} s ({1e6 * twin_s / n:.2f} us/sample) | mirror estimate "
        f"{mirror_s:.2f} s ({1e6 * mirror_s / n:.2f} us/sample) | mirror/twin "
        f"{mirror_s / twin_s:.2f}"
    )
    for name, est in found.items():
        ok = np.isfinite(est.multiplier)
        error = np.abs(est.multiplier[ok] / hidden[name][ok] - 1.0) * 100.0
        print(
            f"  {name}: {int(ok.sum())} of {fleet.n_sat} estimated | error median "
            f"{np.median(error):.3f} % p95 {np.percentile(error, 95):.3f} %"
        )


if __name__ == "__main__":
    main()

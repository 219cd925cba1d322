"""A full physics step (orbit, Sun, shadow, power, thermal) of the whole fleet.

This measures the physics step alone: the accelerators ask for a fixed duty
(``payload_utilisation`` of their dynamic power, none in safe mode) instead of what
``twin.payload.schedule.plan`` schedules. The payload's own cost is in ``bench/bench_payload.py``.

For 2,800 and 30,000 satellites, prints in one run:
- the bare ``SatrecArray.sgp4`` call for the same fleet and tick (the reference);
- our full step for one tick alone, and per tick inside a 60-tick block (orbit and Sun
  computed for the block at once, as ``twin run --speed max`` does), as ratios to the bare call;
- a per-satellite skyfield loop doing the comparable work (``EarthSatellite.at`` plus
  ``is_sunlit``) and how many times faster our step is;
- peak memory of a 30,000-satellite twin, measured in a child process (max RSS, and the
  peak of Python/numpy allocations by tracemalloc).

Run: ``python bench/bench_step.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from skyfield.api import EarthSatellite
from timing import best_of  # bench/ is on the path when a benchmark runs

from twin.core.clock import NS_PER_S, julian, parse_start, skyfield_time
from twin.fleet.constellation import walker_delta
from twin.fleet.hardware import Hardware, hardware_arrays
from twin.physics.state import FleetState, environment, initial_state, step
from twin.physics.sun import _ephemeris
from twin.sim.engine import FramesTo, block_ticks
from twin.sim.presets import load_preset

START_NS = parse_start("2026-03-20T12:00:00Z")


def twin_fleet(n_sat: int):
    fleet = walker_delta(n_sat, 100, 1, 550.0, 53.0, START_NS)
    spec = next(iter(load_preset("threebody-12").hardware.values()))
    return fleet, hardware_arrays([spec], [n_sat])


def fixed_duty_w(hw: Hardware, state: FleetState) -> np.ndarray:
    """Accelerator power above idle at the nominal duty, zero in safe mode; (n_sat,) W."""
    duty_w = hw.payload_utilisation * (hw.accelerator_peak_w - hw.accelerator_idle_w)
    return np.where(state.safe_mode, 0.0, duty_w)


def bench(n_sat: int, repeats: int, loop_sample: int) -> None:
    fleet, hw = twin_fleet(n_sat)
    state = initial_state(hw)
    t_one = np.array([START_NS + 3_600 * NS_PER_S], dtype=np.int64)
    block = block_ticks(n_sat, paced=False)  # as twin run --speed max blocks this fleet
    t_block = t_one[0] + np.arange(block, dtype=np.int64) * NS_PER_S
    jt = julian(t_one)

    def one_tick():
        step(state, hw, environment(fleet, t_one).at(0), 1.0, fixed_duty_w(hw, state))

    def block_of_ticks():
        env = environment(fleet, t_block)
        s = state
        for k in range(block):
            s, _ = step(s, hw, env.at(k), 1.0, fixed_duty_w(hw, s))

    bare_s = best_of(lambda: fleet.satrecs.sgp4(jt.jd_utc, jt.fr_utc), repeats)
    one_s = best_of(one_tick, repeats)
    per_tick_s = best_of(block_of_ticks, max(1, repeats // 5)) / block

    eph = _ephemeris()
    t_sky = skyfield_time(t_one[0])
    sample = [EarthSatellite.from_satrec(s, t_sky.ts) for s in fleet.elements[:loop_sample]]
    loop_s = best_of(lambda: [s.at(t_sky).is_sunlit(eph) for s in sample], 2)
    loop_s *= n_sat / len(sample)  # per-satellite cost is constant: scale to the fleet
    print(
        f"{n_sat:>6} sats | bare SatrecArray.sgp4 {bare_s * 1e3:7.2f} ms"
        f" | full step: one tick {one_s * 1e3:7.2f} ms ({one_s / bare_s:4.1f}x bare),"
        f" per tick in a {block}-tick block {per_tick_s * 1e3:7.2f} ms"
        f" ({per_tick_s / bare_s:4.1f}x bare)"
        f" | skyfield loop (at + is_sunlit) {loop_s * 1e3:8.0f} ms:"
        f" one tick {loop_s / one_s:5.0f}x, block {loop_s / per_tick_s:5.0f}x faster"
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: reset at exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_child(n_sat: int) -> None:
    """Run a ``n_sat``-satellite twin for 120 ticks (frames built, not sent); print the peak
    resident memory, and the peak after imports alone."""
    import tracemalloc

    from twin.sim.engine import RunPlan, run

    after_imports = peak_rss_mb()
    fleet, hw = twin_fleet(n_sat)
    run(fleet, hw, RunPlan(START_NS, NS_PER_S, 120), FramesTo(lambda frame: None))
    resident = peak_rss_mb()
    tracemalloc.start()  # a second run, traced: the peak of the arrays themselves
    run(fleet, hw, RunPlan(START_NS, NS_PER_S, 120), FramesTo(lambda frame: None))
    _, peak = tracemalloc.get_traced_memory()
    print(
        json.dumps(
            {
                "peak_rss_mb": resident,
                "imports_rss_mb": after_imports,
                "python_peak_mb": peak / 2**20,
            }
        )
    )


def memory(n_sat: int) -> None:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n_sat)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out)
    print(
        f"{n_sat:>6} sats | peak memory of a twin run: {figures['peak_rss_mb']:.0f} MB resident"
        f" ({figures['imports_rss_mb']:.0f} MB of it the interpreter and libraries),"
        f" peak of Python/numpy allocations {figures['python_peak_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2800,30000")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--loop-sample",
        type=int,
        default=1000,
        help="satellites timed in the skyfield loop (scaled to the fleet)",
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        bench(n, args.repeats, min(args.loop_sample, n))
    memory(max(sizes))


if __name__ == "__main__":
    main()

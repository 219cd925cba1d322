"""The bundled anomaly rules evaluated in ingest, against decoding the same frames.

A fleet's telemetry over ``--ticks`` ticks (frames of every channel, as ``twin run`` sends
them) is decoded once to time the reference, ``twin.wire.telemetry.decode`` of every frame, which
ingest does for every message anyway; then ``ingest.rules.detect.Detector.evaluate`` runs the
bundled rules over the same frames, in batches as ingest polls them. Prints both, per tick
and per satellite-sample, and the rules' cost as a ratio to decoding.

Run: ``python bench/bench_rules.py [--sizes 2800 30000] [--ticks 120]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of  # bench/ is on the path when a benchmark runs

from ingest.rules.definitions import load_rules
from ingest.rules.detect import Detector, Satellites
from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.constellation import walker_delta
from twin.fleet.hardware import hardware_arrays
from twin.sim import engine
from twin.sim.presets import load_preset
from twin.wire import telemetry

START_NS = parse_start("2026-03-20T12:00:00Z")


def frames_of(n_sat: int, n_ticks: int) -> tuple[list[bytes], Satellites]:
    """Encoded frames of a Walker fleet's first ticks, and the satellites as ingest reads them."""
    fleet = walker_delta(n_sat, 100, 1, 550.0, 53.0, START_NS)
    spec = next(iter(load_preset("threebody-12").hardware.values()))
    hw = hardware_arrays([spec], [n_sat])
    frames: list[bytes] = []
    plan = engine.RunPlan(START_NS, NS_PER_S, n_ticks)
    engine.run(fleet, hw, plan, engine.FramesTo(lambda f: frames.append(telemetry.encode(f))))
    a = hw.arrays
    nominal_w = a["array_area_m2"] * a["array_cell_efficiency"] * a["array_packing_factor"]
    sats = Satellites(
        sat_id=fleet.sat_id.astype(np.int32),
        family=fleet.plane.astype(np.int32),
        interval_s=np.ones(n_sat),
        array_nominal_w=nominal_w,
        capacity_wh=a["battery_capacity_wh"],
    )
    return frames, sats


def bench(n_sat: int, n_ticks: int, batch: int, repeats: int) -> None:
    frames, sats = frames_of(n_sat, n_ticks)
    decoded = [(0, telemetry.decode(f)) for f in frames]
    rules = load_rules()

    def decode_all() -> None:
        for f in frames:
            telemetry.decode(f)

    def evaluate_all() -> None:
        detector = Detector(rules.satellite, sats)
        for i in range(0, len(decoded), batch):
            _, detector.state = detector.evaluate(decoded[i : i + batch])

    t_decode = best_of(decode_all, repeats)
    t_rules = best_of(evaluate_all, repeats)
    samples = n_sat * n_ticks
    print(
        f"{n_sat} satellites × {n_ticks} ticks ({len(frames)} frames, batches of {batch}) | "
        f"decode {t_decode / n_ticks * 1e3:.2f} ms/tick | {len(rules.satellite)} rules "
        f"{t_rules / n_ticks * 1e3:.2f} ms/tick ({samples / t_rules:,.0f} samples/s) | "
        f"rules / decode = {t_rules / t_decode:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2800, 30000])
    parser.add_argument("--ticks", type=int, default=120)
    parser.add_argument("--batch", type=int, default=2000, help="frames per evaluate call")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for n in args.sizes:
        bench(n, args.ticks, args.batch, args.repeats)


if __name__ == "__main__":
    main()

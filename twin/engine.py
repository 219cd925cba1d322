"""The twin's run loop: step the fleet through time and hand telemetry frames to a sink.

Physics is vectorised over satellites and over a block of ticks; the loop here runs over
blocks of ticks and over frame groups (planes), never over satellites.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from twin.fleet import Fleet
from twin.orbit import OrbitState, propagate
from twin.telemetry import CHANNELS, Frame, group_name

MAX_BLOCK_TICKS = 120  # ticks propagated per SGP4 call when running faster than real time


@dataclass(frozen=True)
class RunPlan:
    """When to simulate: ``n_ticks`` ticks from ``start_ns`` every ``step_ns``.

    ``speed`` is simulated seconds per wall-clock second, or ``None`` for as fast as possible.
    """

    start_ns: int
    step_ns: int
    n_ticks: int
    speed: float | None = None

    def tick_times_ns(self) -> np.ndarray:
        """(n_ticks,) int64 tick times."""
        return self.start_ns + np.arange(self.n_ticks, dtype=np.int64) * self.step_ns


@dataclass
class RunStats:
    ticks: int = 0
    frames: int = 0
    samples: int = 0
    wall_s: float = 0.0


def telemetry_channels(orbit: OrbitState) -> dict[str, np.ndarray]:
    """Telemetry channel arrays (n_sat, n_time) taken from the fleet state."""
    return {"lat_deg": orbit.lat_deg, "lon_deg": orbit.lon_deg, "alt_km": orbit.alt_km}


def frames_at(fleet: Fleet, t_ns: np.ndarray, channels: dict[str, np.ndarray]) -> Iterator[Frame]:
    """Split a block of ticks into frames, one per (tick, plane).

    ``channels`` maps names to (n_sat, n_time) arrays for the times ``t_ns`` (n_time,).
    """
    order = np.argsort(fleet.plane, kind="stable")
    planes, starts = np.unique(fleet.plane[order], return_index=True)
    bounds = [*starts.tolist(), fleet.n_sat]
    for k, t in enumerate(t_ns.tolist()):
        for g, plane in enumerate(planes.tolist()):
            rows = order[bounds[g] : bounds[g + 1]]
            yield Frame(
                time_unix_ns=t,
                group=group_name(plane),
                sat_id=fleet.sat_id[rows],
                channels={name: channels[name][rows, k] for name in CHANNELS},
            )


def run(
    fleet: Fleet,
    plan: RunPlan,
    sink: Callable[[Frame], None],
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RunStats:
    """Simulate ``plan`` and pass every frame to ``sink``.

    Paced runs publish tick ``k`` at ``wall_start + k * step / speed`` on an absolute
    schedule, so lateness never accumulates into drift.
    """
    stats = RunStats()
    wall_start = monotonic()
    times = plan.tick_times_ns()
    block = MAX_BLOCK_TICKS if plan.speed is None else 1
    for first in range(0, plan.n_ticks, block):
        t_block = times[first : first + block]
        if plan.speed is not None:
            due = wall_start + (first * plan.step_ns / 1e9) / plan.speed
            delay = due - monotonic()
            if delay > 0:
                sleep(delay)
        orbit = propagate(fleet.satrecs, t_block)
        for frame in frames_at(fleet, t_block, telemetry_channels(orbit)):
            sink(frame)
            stats.frames += 1
            stats.samples += int(frame.sat_id.shape[0])
        stats.ticks += int(t_block.shape[0])
    stats.wall_s = monotonic() - wall_start
    return stats

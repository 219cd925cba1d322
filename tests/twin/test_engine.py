import numpy as np

from twin.clock import NS_PER_S, parse_start
from twin.engine import RunPlan, run
from twin.fleet import walker_delta
from twin.orbit import propagate

START_NS = parse_start("2026-03-20T12:00:00Z")


def test_frames_cover_every_satellite_once_per_tick_with_step_values():
    fleet = walker_delta(12, 3, 1, 500.0, 97.4, START_NS)
    plan = RunPlan(START_NS, NS_PER_S, n_ticks=250)  # spans more than one propagation block
    frames = []
    stats = run(fleet, plan, frames.append)
    assert stats.ticks == 250 and stats.frames == 750 and stats.samples == 3000
    expected = propagate(fleet.satrecs, plan.tick_times_ns())
    for frame in frames:
        k = (frame.time_unix_ns - START_NS) // NS_PER_S
        rows = frame.sat_id - 1
        assert frame.group == f"plane-{(rows[0] // 4):04d}"
        np.testing.assert_array_equal(frame.channels["lat_deg"], expected.lat_deg[rows, k])
        np.testing.assert_array_equal(frame.channels["alt_km"], expected.alt_km[rows, k])
    keys = {(f.time_unix_ns, int(s)) for f in frames for s in f.sat_id}
    assert len(keys) == 3000


class FakeClock:
    """Wall clock whose sleeps advance time; each tick's work costs ``work_s``."""

    def __init__(self, work_s: float) -> None:
        self.now = 100.0
        self.work_s = work_s
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_paced_run_follows_an_absolute_schedule_without_drift():
    fleet = walker_delta(3, 1, 0, 500.0, 97.4, START_NS)
    clock = FakeClock(work_s=0.3)
    published_at = []

    def sink(frame):
        published_at.append(clock.now)
        clock.now += clock.work_s  # publishing takes time

    plan = RunPlan(START_NS, 2 * NS_PER_S, n_ticks=50, speed=4.0)  # one tick every 0.5 s
    run(fleet, plan, sink, monotonic=clock.monotonic, sleep=clock.sleep)
    np.testing.assert_allclose(np.array(published_at) - 100.0, np.arange(50) * 0.5, atol=1e-9)

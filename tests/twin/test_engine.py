import numpy as np

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.constellation import walker_delta
from twin.fleet.hardware import Hardware, hardware_arrays
from twin.physics.orbit import propagate
from twin.physics.state import environment, initial_state, step
from twin.sim.engine import Collected, FramesTo, Pacing, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.wire.telemetry import CHANNELS

START_NS = parse_start("2026-03-20T12:00:00Z")


def _walker_fleet(total, planes):
    fleet = walker_delta(total, planes, planes - 1, 500.0, 97.4, START_NS)
    spec = next(iter(load_preset("threebody-12").hardware.values()))
    return fleet, hardware_arrays([spec], [fleet.n_sat])


def test_frames_cover_every_satellite_once_per_tick_with_step_values():
    fleet, hw = _walker_fleet(12, 3)
    plan = RunPlan(START_NS, NS_PER_S, n_ticks=150)  # spans more than one environment block
    frames = []
    stats = run(fleet, hw, plan, FramesTo(frames.append))
    # 12 satellites in 3 planes make one frame group.
    assert stats.ticks == 150 and stats.frames == 150 and stats.samples == 1800
    expected = propagate(fleet.satrecs, plan.tick_times_ns())
    for frame in frames:
        k = (frame.time_unix_ns - START_NS) // NS_PER_S
        rows = frame.sat_id - 1
        assert frame.group == "planes-0000-0002"
        assert set(frame.channels) == set(CHANNELS)
        np.testing.assert_array_equal(frame.channels["lat_deg"], expected.lat_deg[rows, k])
        np.testing.assert_array_equal(frame.channels["alt_km"], expected.alt_km[rows, k])
    keys = {(f.time_unix_ns, int(s)) for f in frames for s in f.sat_id}
    assert len(keys) == 1800


def test_run_is_deterministic_and_matches_stepping_by_hand():
    fleet, hw = build(load_preset("threebody-12"), START_NS)
    # No workload, so that the accelerators idle and the power step can be repeated by hand.
    hw = Hardware({**hw.arrays, "payload_utilisation": 0 * hw.payload_utilisation})
    hw = Hardware({**hw.arrays, "imagery_per_pass": 0 * hw.imagery_per_pass})
    plan = RunPlan(START_NS, 30 * NS_PER_S, n_ticks=200)
    first, second = [], []
    run(fleet, hw, plan, FramesTo(first.append))
    run(fleet, hw, plan, FramesTo(second.append))
    for a, b in zip(first, second, strict=True):
        for name in CHANNELS:
            np.testing.assert_array_equal(a.channels[name], b.channels[name])
    # By hand: the battery reported at the last tick is the state after 199 steps.
    env = environment(fleet, plan.tick_times_ns())
    state = initial_state(hw)
    for k in range(199):
        state, _ = step(state, hw, env.at(k), 30.0, np.zeros(fleet.n_sat))
    last_tick = [f for f in first if f.time_unix_ns == plan.tick_times_ns()[-1]]
    reported = np.concatenate([f.channels["battery_wh"] for f in last_tick])
    np.testing.assert_allclose(reported, state.battery_wh, rtol=1e-12)


class FakeClock:
    """Wall clock whose sleeps advance time."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_paced_run_follows_an_absolute_schedule_without_drift():
    fleet, hw = _walker_fleet(3, 1)
    clock = FakeClock()
    published_at = []

    def sink(frame):
        published_at.append(clock.now)
        clock.now += 0.3  # publishing takes time

    plan = RunPlan(START_NS, 2 * NS_PER_S, n_ticks=50, speed=4.0)  # one tick every 0.5 s
    run(fleet, hw, plan, FramesTo(sink), pacing=Pacing(None, clock.monotonic, clock.sleep))
    np.testing.assert_allclose(np.array(published_at) - 100.0, np.arange(50) * 0.5, atol=1e-9)


def test_resuming_between_blocks_gives_the_same_frames():
    fleet, hw = _walker_fleet(12, 3)
    plan = RunPlan(START_NS, NS_PER_S, n_ticks=130)  # blocks of 60 ticks at full speed
    whole, resumed = [], []
    stats = run(fleet, hw, plan, FramesTo(whole.append))
    middle = []
    state = run(fleet, hw, RunPlan(START_NS, NS_PER_S, 47), FramesTo(middle.append)).final_state
    run(fleet, hw, plan, FramesTo(resumed.append), state=state, start_tick=47)  # not a multiple
    assert stats.frames == 130 and len(resumed) == 130 - 47
    for a, b in zip(whole[47:], resumed, strict=True):
        assert a.time_unix_ns == b.time_unix_ns
        for name in CHANNELS:
            np.testing.assert_allclose(
                b.channels[name], a.channels[name], rtol=1e-12, atol=1e-12, err_msg=name
            )


def test_a_satellite_sgp4_loses_is_masked_everywhere_and_frozen():
    """SGP4 error 6 (decayed) returns a finite position under the ground: every failure code
    must null the satellite's computed channels (not only the orbit), stop its power and
    thermal, and raise no eclipse events while it is lost."""
    from sgp4.api import WGS72, Satrec

    from twin.fleet.constellation import make_fleet
    from twin.wire import events as ev

    t0 = parse_start("2026-03-20T12:00:00Z")
    fleet, hw = build(load_preset("threebody-12"), t0)
    decaying = Satrec()
    epoch_days = (t0 / NS_PER_S) / 86400.0 + 2440587.5 - 2433281.5  # days since 1949-12-31
    decaying.sgp4init(WGS72, "i", 99999, epoch_days, 0.05, 0.0, 0.0, 1e-4, 0.0,
                      np.radians(51.6), 0.0, 2 * np.pi * 16.2 / 1440, 0.0)  # fmt: skip
    fleet = make_fleet(fleet.sat_id, fleet.plane, [*fleet.elements[:11], decaying])
    start = t0 + 9 * 3600 * NS_PER_S  # it decays about 10 h after its epoch
    sink = Collected()
    run(fleet, hw, RunPlan(start, 60 * NS_PER_S, 120), sink)
    frames, found = sink.frames, sink.event_batches
    lost_id = int(fleet.sat_id[11])
    rows = [(f.time_unix_ns, f.sat_id.tolist().index(lost_id), f) for f in frames]
    codes = np.array([f.channels["sgp4_error"][i] for _, i, f in rows])
    assert codes[0] == 0 and 6 in codes and (np.diff((codes != 0).astype(int)) >= 0).all()
    lost_at = rows[int(np.argmax(codes != 0))][0]
    for t, i, f in rows:
        floats = {n: v[i] for n, v in f.channels.items() if v.dtype.kind == "f"}
        others = {n: np.delete(v, i) for n, v in f.channels.items() if v.dtype.kind == "f"}
        if t >= lost_at:
            assert all(np.isnan(x) for x in floats.values()), t
        else:
            assert np.isfinite(floats["alt_km"]) and np.isfinite(floats["temp_payload_c"])
        assert np.isfinite(others["alt_km"]).all() and np.isfinite(others["temp_payload_c"]).all()
    eclipses = [
        (batch.time_unix_ns, ev.KINDS[k])
        for batch in found
        for s, k in zip(batch.sat_id.tolist(), batch.kind.tolist(), strict=True)
        if s == lost_id and ev.KINDS[k].startswith("eclipse") and batch.time_unix_ns >= lost_at
    ]
    assert eclipses == []


def test_a_run_resumed_from_a_checkpoint_mid_fault_sends_what_the_whole_run_sent():
    """Stuck sensors hold the value of their fault's first tick; the held values travel in
    the checkpoint, so a resumed run re-sends exactly the frames it sent before (ingest would
    otherwise see conflicting duplicates)."""
    from twin.sim import checkpoint
    from twin.sim.faults import bind, generate

    t0 = parse_start("2026-03-20T12:00:00Z")
    fleet, hw = build(load_preset("threebody-12"), t0)
    scenario = generate("threebody-12", fleet.sat_id, seed=3, duration_s=7200, per_kind=1)
    bound = bind(scenario, fleet.sat_id)
    plan = RunPlan(t0, 10 * NS_PER_S, 720)
    sink = Collected()
    run(fleet, hw, plan, sink, faults=bound)
    whole, states = sink.frames, sink.states
    resumed_ticks = 0
    for k in sorted(states)[1:-1]:  # every block boundary inside the run
        saved = checkpoint.Checkpoint("r", k, fleet.sat_id, states[k])
        state = checkpoint.decode(checkpoint.encode(saved)).state
        resumed = []
        run(fleet, hw, plan, FramesTo(resumed.append), state=state, start_tick=k, faults=bound)
        by_time = {f.time_unix_ns: f for f in whole}
        for frame in resumed:
            first = by_time[frame.time_unix_ns]
            for name, values in frame.channels.items():
                np.testing.assert_array_equal(values, first.channels[name], err_msg=name)
        resumed_ticks += len(resumed)
    assert resumed_ticks > 0
    assert any(states[k].held is not None and states[k].held.held.any() for k in states)


def test_a_checkpoint_written_before_jobs_had_input_to_receive_resumes_with_input_on_board():
    import io

    from twin.sim import checkpoint

    t0 = parse_start("2026-03-20T12:00:00Z")
    fleet, hw = build(load_preset("threebody-12"), t0)
    sink = Collected()
    run(fleet, hw, RunPlan(t0, 10 * NS_PER_S, 120), sink)
    k = sorted(sink.states)[-1]
    saved = checkpoint.Checkpoint("r", k, fleet.sat_id, sink.states[k])
    with np.load(io.BytesIO(checkpoint.encode(saved))) as data:
        arrays = {name: data[name] for name in data.files if name != "jobs.input_left_mb"}
    assert arrays["jobs.key"].shape[0] > 0  # jobs in flight to restore
    older = io.BytesIO()
    np.savez(older, **arrays)
    restored = checkpoint.decode(older.getvalue()).state.payload.jobs
    np.testing.assert_array_equal(restored.input_left_mb, np.zeros(restored.n))
    np.testing.assert_array_equal(restored.key, sink.states[k].payload.jobs.key)

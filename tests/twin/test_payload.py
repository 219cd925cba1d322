"""The payload's tick: conservation of jobs and energy, power and heat limits, radiation,
deadlines, relays and submissions."""

import dataclasses

import numpy as np
import pytest

from twin.core.clock import NS_PER_S, parse_start
from twin.core.dice import Dice
from twin.fleet.hardware import hardware_arrays
from twin.payload import schedule as payload
from twin.physics import links
from twin.physics.state import environment
from twin.sim.engine import advance, initial_twin
from twin.sim.presets import build, load_preset
from twin.wire import jobs

START_NS = parse_start("2026-03-20T12:00:00Z")


def _hardware(preset="threebody-12", **changes):
    fleet, _ = build(load_preset(preset), START_NS)
    specs = [dataclasses.replace(s, **changes) for s in load_preset(preset).hardware.values()]
    counts = [int((fleet.shell == k).sum()) for k in range(len(specs))]
    return fleet, hardware_arrays(specs, counts)


def _ticks(fleet, hw, n_ticks, dt_s, hook=None, seed=0):
    """Yield (state before, tick, state after) for ``n_ticks`` ticks from the preset's start;
    ``hook(k, state)`` may replace the state before tick ``k`` (to hold a condition)."""
    ctx = payload.make_context(fleet, hw, START_NS)
    state = initial_twin(ctx)
    block = 60
    for first in range(0, n_ticks, block):
        t_ns = START_NS + (first + np.arange(min(block, n_ticks - first))) * int(dt_s * 1e9)
        env = environment(fleet, t_ns)
        for k, t in enumerate(t_ns.tolist()):
            if hook is not None:
                state = hook(first + k, state)
            new, tick = advance(ctx, state, env.at(k), t, dt_s, Dice(seed, first + k, fleet.sat_id))
            yield state, tick, new
            state = new


def _count(steps, name):
    return int((steps.step == jobs.STEPS.index(name)).sum())


def test_jobs_are_conserved_and_compute_energy_is_accounted_for_at_every_tick():
    fleet, hw = build(load_preset("threebody-12"), START_NS)
    accepted = downlinked = failed = 0
    energy_power_side = energy_payload_side = 0.0
    for _, tick, after in _ticks(fleet, hw, 720, 10.0):
        accepted += _count(tick.steps, "accepted")
        downlinked += _count(tick.steps, "downlinked")
        failed += _count(tick.steps, "failed")
        live = after.payload.jobs
        in_flight = {s: int((live.status == s).sum()) for s in range(jobs.FAILED + 1)}
        assert in_flight[jobs.DOWNLINKED] == in_flight[jobs.FAILED] == 0  # ended jobs leave
        # submitted = completed (on board or on the ground) + failed + queued + running
        assert (
            accepted
            == (in_flight[jobs.QUEUED] + in_flight[jobs.RUNNING] + in_flight[jobs.COMPUTED])
            + downlinked
            + failed
        )
        assert after.payload.total("accepted") == accepted
        energy_power_side += float((tick.plan.compute_w * tick.outputs.served_share).sum()) * 10.0
        energy_payload_side += tick.payload.compute_energy_j
        jobs_energy = after.payload.total("closed_energy_j") + float(live.energy_j.sum())
        assert jobs_energy == pytest.approx(energy_power_side, rel=1e-9, abs=1e-6)
    assert energy_payload_side == pytest.approx(energy_power_side, rel=1e-9)
    assert downlinked > 100 and energy_power_side > 1e6  # the day did real work


def test_a_low_battery_starts_no_work_until_sunlight_recharges_it():
    fleet, hw = _hardware(payload_utilisation=0.9)
    floor = hw.compute_soc_floor[0]
    hold_ticks = 200

    def hold_low(k, state):
        # The battery is held just under the floor (above safe mode) for the first ticks.
        if k >= hold_ticks:
            return state
        physical = dataclasses.replace(
            state.physical, battery_wh=(floor - 0.02) * state.physical.battery_capacity_wh
        )
        return dataclasses.replace(state, physical=physical)

    starts = np.zeros(1000, int)
    for k, (before, tick, _) in enumerate(_ticks(fleet, hw, 1000, 10.0, hook=hold_low)):
        soc = before.physical.battery_wh / before.physical.battery_capacity_wh
        started = tick.steps.sat_id[tick.steps.step == jobs.STEPS.index("started")]
        rows = np.searchsorted(fleet.sat_id, started)
        assert (soc[rows] >= floor).all(), f"tick {k}: a job started below the floor"
        assert not before.physical.safe_mode.any()
        starts[k] = rows.size
        if k == hold_ticks - 1:
            queued = before.payload.jobs.status == jobs.QUEUED
            assert queued.sum() >= 12  # work waits while the battery is low
    assert starts[:hold_ticks].sum() == 0
    assert starts[hold_ticks:].sum() > 12  # the arrays recharge the battery and work resumes


def test_low_battery_gate_and_eclipse_budget_in_one_plan():
    fleet, hw = build(load_preset("threebody-12"), START_NS)
    ctx = payload.make_context(fleet, hw, START_NS)
    ps = initial_twin(ctx).payload
    ones, zeros = np.ones(12, bool), np.zeros(12, bool)
    lat = lon = np.zeros(12)
    temp = np.full(12, 20.0)
    dice = Dice(0, 0, fleet.sat_id)
    submitted = [
        jobs.decode_submission(jobs.encode_submission(job_id=f"j{i}", kind="inference", sat_id=i))
        for i in range(1, 13)
    ]

    def plan(soc, safe, sunlit):
        return payload.plan(
            ctx, ps, np.full(12, soc), safe, temp, lat, lon, sunlit, START_NS, 10.0, dice,
            (submitted, []),
        )  # fmt: skip

    low = plan(0.40, zeros, zeros)
    assert low.state.jobs.n >= 12 and (low.planned_tera_ops == 0).all()
    assert (low.compute_w == 0).all()
    dark = plan(0.9, zeros, zeros)
    np.testing.assert_allclose(dark.compute_w, hw.eclipse_compute_w)  # capped in eclipse
    lit = plan(0.9, zeros, ones)
    np.testing.assert_allclose(lit.compute_w, hw.accelerator_peak_w - hw.accelerator_idle_w)
    safe = plan(0.9, ones, ones)
    assert (safe.compute_w == 0).all()


def test_a_hot_payload_throttles_and_cools_then_speeds_up_again():
    # A small radiator: at full clock the payload would settle near 96 °C, above the 70 °C
    # limit; in the slowest state near 41 °C, below the 60 °C at which the clock speeds up.
    fleet, hw = _hardware(radiator_area_m2=1.2, payload_utilisation=1.0)
    levels, temps, tops = [], [], []
    throttled_steps = 0
    for before, tick, _ in _ticks(fleet, hw, 2000, 30.0):  # 16.7 h: the payload is slow
        levels.append(tick.payload.throttle_level[0])
        temps.append(before.physical.temp_payload_k[0] - 273.15)
        tops.append(tick.payload.throughput_tops[0])
        throttled_steps += _count(tick.steps, "throttled")
    levels, temps, tops = map(np.array, (levels, temps, tops))
    first_hot = np.argmax(levels > 0)
    assert levels.max() > 0 and temps[first_hot] > hw.throttle_above_c[0]
    assert throttled_steps > 0
    assert temps.max() < hw.throttle_above_c[0] + 5.0  # throttling holds the temperature
    assert tops[levels > 0].max() < 420.0  # a throttled accelerator is slower
    # Each tick's state follows the temperature at its start: speeding up at tick k + 1
    # means the payload had cooled below the lower limit by then.
    faster = np.nonzero(levels[1:] < levels[:-1])[0] + 1
    assert faster.size > 0 and (temps[faster] < hw.throttle_below_c[0]).all()
    slower = np.nonzero(levels[1:] > levels[:-1])[0] + 1
    assert (temps[slower] > hw.throttle_above_c[0]).all()


def test_radiation_upsets_restart_jobs_and_fail_them_once_retries_run_out():
    fleet, hw = _hardware(upset_rate_per_day=2_000.0, max_job_retries=2, upset_reset_fraction=0.5)
    retried = failed = 0
    resets = []
    for _, tick, after in _ticks(fleet, hw, 400, 10.0):
        retried += _count(tick.steps, "retried")
        why = np.array(tick.steps.reason)[tick.steps.step == jobs.STEPS.index("failed")]
        failed += int((why == jobs.REASONS[jobs.UPSETS_EXHAUSTED]).sum())
        resets.append(after.payload.reset_left_s.copy())
        assert (after.payload.jobs.retries <= 2).all()
    assert retried > 0 and failed > 0
    assert np.max(resets) == pytest.approx(hw.accelerator_reset_s[0], abs=1e-9)


def test_late_jobs_fail_with_the_reason():
    fleet, hw = _hardware(payload_utilisation=0.0, imagery_per_pass=0.0)
    sub = jobs.decode_submission(
        jobs.encode_submission(
            job_id="too-big", kind="inference", work_tera_ops=1e7, deadline_s=60, sat_id=1
        )
    )
    ctx = payload.make_context(fleet, hw, START_NS)
    state = initial_twin(ctx)
    env = environment(fleet, START_NS + np.arange(10) * 10 * NS_PER_S)
    reasons = []
    for k in range(10):
        taken = ([sub], []) if k == 0 else ([], [])
        t = START_NS + k * 10 * NS_PER_S
        state, tick = advance(ctx, state, env.at(k), t, 10.0, Dice(0, k, fleet.sat_id), taken)
        reasons += [
            (jobs.STEPS[s], r) for s, r in zip(tick.steps.step, tick.steps.reason, strict=True)
        ]
    assert ("failed", jobs.REASONS[jobs.LATE_COMPUTE]) in reasons
    assert state.payload.total("failed") == 1 and state.payload.jobs.n == 0


def test_bad_submissions_are_rejected_and_unpinned_ones_go_to_the_shortest_queue():
    fleet, hw = _hardware(payload_utilisation=0.0, imagery_per_pass=0.0)
    ctx = payload.make_context(fleet, hw, START_NS)
    ps = initial_twin(ctx).payload
    make = jobs.encode_submission
    subs = [
        jobs.decode_submission(make(job_id="a", kind="inference", sat_id=5)),
        jobs.decode_submission(make(job_id="a", kind="inference", sat_id=6)),
        jobs.decode_submission(make(job_id="b", kind="inference", sat_id=999)),
        jobs.decode_submission(make(job_id="c", kind="inference")),
    ]
    safe = np.zeros(12, bool)
    safe[0] = True  # the satellite the least-loaded rule would pick first is in safe mode
    p = payload.plan(
        ctx,
        ps,
        np.full(12, 0.9),
        safe,
        np.full(12, 20.0),
        np.zeros(12),
        np.zeros(12),
        np.ones(12, bool),
        START_NS,
        10.0,
        Dice(0, 0, fleet.sat_id),
        (subs, [("x", "why")]),
    )
    steps = p.log.steps(p.state.submitted_ids)
    rejected = {
        j: r
        for j, s, r in zip(steps.job_id, steps.step, steps.reason, strict=True)
        if s == jobs.STEPS.index("rejected")
    }
    assert set(rejected) == {"a", "b", "x"}
    assert "already submitted" in rejected["a"] and "999 is not in the fleet" in rejected["b"]
    placed = dict(zip(p.state.submitted_ids, fleet.sat_id[p.state.jobs.sat].tolist(), strict=True))
    assert placed == {"a": 5, "c": 2}
    assert p.state.total("accepted") == 2 and p.state.total("rejected") == 3


def test_results_relay_hop_by_hop_to_a_satellite_in_contact_and_then_to_the_ground():
    # A chain 0 - 1 - 2 of fore/aft links; only satellite 2 sees a station.
    neighbour = np.array([[1, -1, -1, -1], [2, 0, -1, -1], [-1, 1, -1, -1]])
    grid = links.Grid(neighbour)
    up = neighbour >= 0
    in_contact = np.array([False, False, True])
    hops, next_hop = links.hops_to_ground(grid, up, in_contact, payload.MAX_RELAY_HOPS)
    np.testing.assert_array_equal(hops, [2, 1, 0])
    hw3 = build(load_preset("threebody-12"), START_NS)[1].subset(np.arange(3))
    table = jobs.make_jobs(
        key=np.array([0]),
        sat=np.array([0]),
        kind=0,
        origin=0,
        priority=5,
        work_tera_ops=1.0,
        input_mb=1.0,
        result_mb=50.0,
        submitted_ns=0,
        deadline_ns=10**18,
        status=jobs.COMPUTED,
    )
    holders = []
    downlink = np.array([0.0, 0.0, 100.0])  # Mbit/s: 50 MB takes 4 s
    for _ in range(4):
        table, down = payload._transfer(table, in_contact, downlink, next_hop, hw3, 1.0)
        holders.append((int(table.holder[0]), down.tolist()))
    # One hop per tick over 100 Gbit/s lasers, then 4 s of downlink (1 s ticks).
    assert holders == [(1, []), (2, []), (2, []), (2, [])]
    # The station is lost mid-downlink, then back: the transfer starts over.
    dark = np.zeros(3, bool)
    hops, no_route = links.hops_to_ground(grid, up, dark, payload.MAX_RELAY_HOPS)
    table, down = payload._transfer(table, dark, downlink * 0, no_route, hw3, 1.0)
    assert down.size == 0 and table.result_left_mb[0] == 50.0
    for k in range(4):
        table, down = payload._transfer(table, in_contact, downlink, next_hop, hw3, 1.0)
        assert down.tolist() == ([0] if k == 3 else [])


def test_a_jobs_input_sent_up_over_the_link_arrives_before_it_starts():
    # madari-pilot processes client scenes: each inference job's 50 MB input arrives over
    # its crosslink first, the jobs sharing the link in service order. Small jobs (18 s of
    # the module each) make the link the bottleneck at 5 Mbit/s.
    input_mb = jobs.JOB_KINDS["inference"].input_mb
    done = {}
    for link_mbps in (0.0, 20.0, 5.0):
        fleet, hw = _hardware(
            "madari-pilot", input_link_mbps=link_mbps, background_job_tera_ops=5_000.0
        )
        accepted, started = {}, {}
        for _, tick, _ in _ticks(fleet, hw, 1_800, 1.0):
            s = tick.steps
            for job_id, step, t in zip(s.job_id, s.step, s.time_unix_ns.tolist(), strict=True):
                if jobs.STEPS[step] == "accepted":
                    accepted[job_id] = t
                elif jobs.STEPS[step] == "started" and job_id not in started:
                    started[job_id] = t
        assert len(started) >= 10
        wait_s = [(started[j] - accepted[j]) / NS_PER_S for j in started]
        done[link_mbps] = len(started)
        if link_mbps == 0.0:  # input on board: a job waits only for the accelerator
            assert min(wait_s) <= 1.0
            continue
        assert min(wait_s) >= input_mb * 8.0 / link_mbps  # never before its input is on board
        # The link is a queue: it carried no more than its rate allows.
        span_s = (max(started.values()) - min(accepted.values())) / NS_PER_S
        assert len(started) * input_mb <= link_mbps / 8.0 * span_s + input_mb
    assert done[5.0] < done[20.0] <= done[0.0]

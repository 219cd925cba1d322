"""What-if forks: continuation of the run forked, cause and effect, and change files."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.constellation import subset
from twin.forecast import whatif
from twin.payload import schedule as payload
from twin.sim import engine
from twin.sim.presets import build, load_preset
from twin.wire import jobs

T0 = parse_start("2026-03-20T12:00:00Z")
STEP_NS = 5 * NS_PER_S
SEED = 3
FLEET = build(load_preset("threebody-12"), T0)[0]


@pytest.fixture(scope="module")
def flown():
    """threebody-12 flown 30 minutes at 5 s ticks: the fleet, its context, what the run
    gave (frames, steps, the state after each block)."""
    fleet, hw = build(load_preset("threebody-12"), T0)
    ctx = payload.make_context(fleet, hw, T0)
    collected = engine.Collected()
    engine.run(fleet, hw, engine.RunPlan(T0, STEP_NS, 360), collected, ctx=ctx, seed=SEED)
    return fleet, ctx, collected


def fork_at(flown, tick: int) -> whatif.Fork:
    """The run forked at ``tick``: its state after a block, or its initial state."""
    _, ctx, collected = flown
    state = engine.initial_twin(ctx) if tick == 0 else collected.states[tick]
    return whatif.Fork(T0, STEP_NS, tick, state, SEED)


def test_an_empty_change_continues_the_run_it_forked_bit_for_bit(flown):
    fleet, ctx, collected = flown
    tick = sorted(collected.states)[2]
    assert 0 < tick < 360
    result = whatif.fly(fleet, ctx, fork_at(flown, tick), (360 - tick) * STEP_NS, whatif.Change())
    # What the run itself gave after the fork, judged the same way.
    fork_ns = T0 + tick * STEP_NS
    seen = whatif.Outcome(fleet.sat_id, STEP_NS / NS_PER_S, result.baseline.limits, {})
    for frame in collected.frames:
        if frame.time_unix_ns >= fork_ns:
            seen.frame(frame)
    for steps in collected.steps:
        if steps.time_unix_ns.size and steps.time_unix_ns[0] >= fork_ns:
            seen.job_steps(steps)
    seen.flush()
    for name in ("min_soc", "max_temp_payload_c", "energy_wh", "tera_ops", "jobs_completed"):
        assert np.array_equal(getattr(result.baseline, name), getattr(seen, name)), name
        assert np.array_equal(getattr(result.branch, name), getattr(seen, name)), name
    assert result.branch.totals() == result.baseline.totals()
    assert not result.violates and result.added_jobs == {}


def energy_per_tera_op_j(ctx: payload.Context, row: int) -> float:
    hw = ctx.hw
    return float(
        (hw.accelerator_peak_w[row] - hw.accelerator_idle_w[row]) / hw.accelerator_peak_tops[row]
    )


def test_added_work_costs_its_work_times_the_energy_per_operation(flown):
    fleet, ctx, _ = flown
    sat = int(fleet.sat_id[3])
    work = 50_000.0  # tera-operations: about two minutes of the accelerator
    pinned = jobs.Submission("extra-1", 0, work, 0.0, 1.0, 9, 7200.0, sat)
    placed = jobs.Submission("extra-2", 0, work, 0.0, 1.0, 9, 7200.0, None)
    change = whatif.Change(submissions=((0, pinned), (60 * NS_PER_S, placed)))
    result = whatif.fly(fleet, ctx, fork_at(flown, 0), 2 * 3600 * NS_PER_S, change)
    assert result.branch.max_temp_payload_c.max() < ctx.hw.throttle_above_c.min()  # full clock
    epo = energy_per_tera_op_j(ctx, 3)
    fates = result.added_jobs
    assert set(fates) == {"extra-1", "extra-2"}
    assert fates["extra-1"].sat_id == sat
    assert fates["extra-2"].sat_id in set(fleet.sat_id.tolist())  # the scheduler placed it
    for fate in fates.values():
        assert fate.step == "downlinked"
        assert fate.energy_j == pytest.approx(work * epo, rel=1e-9)
    base, branch = result.baseline.totals(), result.branch.totals()
    extra_j = branch["compute_energy_j"] - base["compute_energy_j"]
    assert extra_j == pytest.approx((branch["tera_ops"] - base["tera_ops"]) * epo, rel=1e-6)
    assert extra_j > 0


def test_a_floor_the_baseline_keeps_and_a_heavier_policy_breaks_is_a_new_violation(flown):
    fleet, ctx, _ = flown
    fork = fork_at(flown, 0)
    horizon_ns = 3 * 3600 * NS_PER_S
    kept = whatif.fly(fleet, ctx, fork, horizon_ns, whatif.Change()).baseline
    floor = float(kept.min_soc.min()) - 0.005
    heavy = whatif.Change(
        policy=(
            (None, "compute_soc_floor", 0.0),
            (None, "eclipse_compute_w", 1000.0),
            (None, "payload_utilisation", 1.0),
        ),
        soc_min=floor,
    )
    result = whatif.fly(fleet, ctx, fork, horizon_ns, heavy)
    assert result.baseline.totals() == kept.totals()  # the baseline ignores the change
    broken = {v.sat_id for v in result.new_violations if v.constraint == "soc_min"}
    expected = set(fleet.sat_id[result.branch.min_soc < floor].tolist())
    assert broken == expected and broken, "the heavier policy drains some battery below the floor"
    assert result.violates
    for v in result.new_violations:
        if v.constraint == "soc_min":
            row = int(np.flatnonzero(fleet.sat_id == v.sat_id)[0])
            assert v.worst == result.branch.min_soc[row] < floor
            assert fork.time_ns <= v.first_ns < fork.time_ns + horizon_ns


def test_a_battery_capacity_loss_lowers_that_satellites_minimum(flown, tmp_path):
    fleet, ctx, collected = flown
    sat = int(fleet.sat_id[5])
    path = tmp_path / "loss.toml"
    path.write_text(
        f'[[faults]]\nkind = "battery_capacity_loss"\nsat_id = {sat}\nonset_s = 0\n'
        "magnitude = 0.15\n"
    )
    tick = sorted(collected.states)[1]
    change = whatif.load_change(path, fleet, ["batch-1"], "threebody-12", 3 * 3600 * NS_PER_S)
    result = whatif.fly(fleet, ctx, fork_at(flown, tick), 3 * 3600 * NS_PER_S, change)
    lower = result.branch.min_soc < result.baseline.min_soc - 1e-9
    assert fleet.sat_id[lower].tolist() == [sat]


def test_a_shell_job_becomes_one_pinned_job_per_satellite(flown, tmp_path):
    fleet, *_ = flown
    path = tmp_path / "train.toml"
    path.write_text(
        '[[jobs]]\njob_id = "train"\nkind = "training_step"\nwork_tera_ops = 1e6\n'
        'at = "30m"\nshell = "batch-1"\n'
    )
    change = whatif.load_change(path, fleet, ["batch-1"], "threebody-12", 6 * 3600 * NS_PER_S)
    assert [s.sat_id for _, s in change.submissions] == fleet.sat_id.tolist()
    assert {s.job_id for _, s in change.submissions} == {f"train.{s}" for s in fleet.sat_id}
    assert {d for d, _ in change.submissions} == {1800 * NS_PER_S}
    assert all(s.work_tera_ops == 1e6 and s.kind == 1 for _, s in change.submissions)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string


KEYS = st.sampled_from(
    [
        *whatif.JOB_KEYS,
        *whatif.POLICY_FIELDS,
        *whatif.OUTAGE_KEYS,
        "kind",
        "onset_s",
        "magnitude",
        "x",
        "shell",
    ]
)
VALUES = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["batch-1", "inference", "training_step", "battery_capacity_loss", "5m"]),
    st.lists(st.integers(0, 20), max_size=3),
)
TABLES = st.dictionaries(KEYS, VALUES, max_size=6)


@given(
    section=st.sampled_from(["jobs", "policy", "faults", "outages", "constraints", "other"]),
    entries=st.lists(TABLES, min_size=1, max_size=3),
)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_change_file_is_read_or_refused_with_a_reason(tmp_path, section, entries):
    fleet = FLEET
    if section == "constraints":
        text = "[constraints]\n" + "".join(
            f"{k} = {toml_value(v)}\n" for k, v in entries[0].items()
        )
    else:
        text = "".join(
            f"[[{section}]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in e.items())
            for e in entries
        )
    path = tmp_path / "change.toml"
    path.write_text(text, encoding="utf-8")
    try:
        change = whatif.load_change(path, fleet, ["batch-1"], "threebody-12", 3600 * NS_PER_S)
    except whatif.ChangeError as exc:
        assert str(exc).startswith(str(path)) and len(str(exc)) < 2000
        return
    assert isinstance(change, whatif.Change)
    for _, sub in change.submissions:
        assert sub.sat_id is None or sub.sat_id in set(fleet.sat_id.tolist())
    for _, name, value in change.policy:
        assert name in whatif.POLICY_FIELDS and math.isfinite(value)


def test_sensor_faults_are_refused(flown, tmp_path):
    fleet, *_ = flown
    path = tmp_path / "stuck.toml"
    path.write_text(
        '[[faults]]\nkind = "stuck_sensor"\nsat_id = 1\nonset_s = 0\nmagnitude = 0\n'
        'channel = "alt_km"\n'
    )
    with pytest.raises(whatif.ChangeError, match="changes what is reported"):
        whatif.load_change(path, fleet, ["batch-1"], "threebody-12", 3600 * NS_PER_S)


def test_policy_applies_to_its_shell_only(flown):
    fleet, ctx, _ = flown
    change = whatif.Change(policy=((0, "compute_soc_floor", 0.1),))
    hw = whatif.changed_hardware(ctx.hw, fleet, change)
    assert np.all(hw.compute_soc_floor[fleet.shell == 0] == 0.1)
    other = replace(fleet, shell=np.ones_like(fleet.shell))
    assert np.array_equal(
        whatif.changed_hardware(ctx.hw, other, change).compute_soc_floor, ctx.hw.compute_soc_floor
    )


def test_one_planes_state_keeps_its_jobs_renumbered_and_flies(flown):
    fleet, ctx, collected = flown
    tick = max(collected.states)
    state = collected.states[tick]
    everyone = state.take(np.arange(fleet.n_sat))
    for name in ("sat", "holder", "sending_to", "remaining_tera_ops", "key"):
        before, after = state.payload.jobs, everyone.payload.jobs
        assert np.array_equal(getattr(after, name), getattr(before, name))
    rows = np.flatnonzero(fleet.plane == fleet.plane[-1])
    part = state.take(rows)
    table, kept = state.payload.jobs, part.payload.jobs
    inside = np.isin(table.sat, rows) & np.isin(table.holder, rows)
    assert kept.n == int(inside.sum()) > 0
    assert np.array_equal(rows[kept.sat], table.sat[inside])
    assert np.array_equal(rows[kept.holder], table.holder[inside])
    assert np.array_equal(kept.remaining_tera_ops, table.remaining_tera_ops[inside])
    assert np.all((kept.sending_to < rows.shape[0]) & (kept.sending_to >= jobs.GROUND))
    assert np.array_equal(part.physical.battery_wh, state.physical.battery_wh[rows])
    assert np.array_equal(part.payload.visible, state.payload.visible[rows])
    sub_fleet = subset(fleet, rows)
    sub_ctx = payload.make_context(sub_fleet, ctx.hw.subset(rows), T0)
    fork = whatif.Fork(T0, STEP_NS, tick, part, SEED)
    result = whatif.fly(sub_fleet, sub_ctx, fork, 600 * NS_PER_S, whatif.Change())
    assert result.baseline.sat_id.tolist() == fleet.sat_id[rows].tolist()
    assert result.baseline.totals() == result.branch.totals()
    assert np.all(result.baseline.tera_ops > 0)


def test_a_run_flown_in_segments_is_the_run_flown_whole(flown):
    """Outages cut the branch into segments: with a station that serves nobody anyway, the
    segmented run is the whole run, bit for bit."""
    fleet, ctx, collected = flown
    antennas = ctx.stations.antennas.copy()
    antennas[0] = 0
    quiet = replace(ctx, stations=replace(ctx.stations, antennas=antennas))
    fork = fork_at(flown, sorted(collected.states)[1])
    plan = engine.RunPlan(T0, STEP_NS, fork.tick + 500)
    outcomes = []
    for out in ((), [(0, 7 * STEP_NS + 1, 333 * STEP_NS)]):
        sink = whatif.Outcome(fleet.sat_id, STEP_NS / NS_PER_S, {}, {})
        outcomes.append(whatif._flown(fleet, quiet, fork, plan, sink, None, None, out))
    whole, cut = outcomes
    for name in ("min_soc", "max_temp_payload_c", "energy_wh", "tera_ops", "jobs_completed"):
        assert np.array_equal(getattr(whole, name), getattr(cut, name)), name
    assert whole.compute_energy_j == pytest.approx(cut.compute_energy_j, rel=1e-12)


def test_with_every_station_out_no_result_reaches_the_ground(flown, tmp_path):
    fleet, ctx, _ = flown
    outages = "".join(
        f'[[outages]]\nstation = "{name}"\nduration = "3h"\n' for name in ctx.stations.name
    )
    job = '[[jobs]]\njob_id = "j"\nkind = "inference"\nsat_id = 3\nwork_tera_ops = 1e4\n'
    results = {}
    for name, text in (("open", job), ("closed", job + outages)):
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        change = whatif.load_change(path, fleet, ["batch-1"], "threebody-12", 3 * 3600 * NS_PER_S)
        results[name] = whatif.fly(fleet, ctx, fork_at(flown, 0), 3 * 3600 * NS_PER_S, change)
    assert results["open"].added_jobs["j"].step == "downlinked"
    closed = results["closed"].added_jobs["j"]
    assert (closed.step, closed.reason) == ("failed", jobs.REASONS[jobs.LATE_DOWNLINK])
    assert [v.constraint for v in results["closed"].new_violations] == ["job j"]
    assert not results["open"].violates
    bad = tmp_path / "bad.toml"
    bad.write_text('[[outages]]\nstation = "Atlantis"\nduration = "1h"\n')
    change = whatif.load_change(bad, fleet, ["batch-1"], "threebody-12", 3600 * NS_PER_S)
    with pytest.raises(whatif.ChangeError, match="station 'Atlantis' is not one of the run's"):
        whatif.fly(fleet, ctx, fork_at(flown, 0), 3600 * NS_PER_S, change)

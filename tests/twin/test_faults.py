"""Fault scenarios: files, generation, binding, and each kind's effect on a run.

Effects are checked against the same run without the fault, on the 12 satellites of
threebody-12 with 10 s ticks (no services needed).
"""

import functools
import math
from pathlib import Path

import numpy as np
import pytest

from twin.app.cli import main
from twin.core.clock import NS_PER_S, parse_start
from twin.core.settings import PACKAGE_DATA, ConfigError, InputError
from twin.fleet.hardware import Hardware
from twin.payload import compute
from twin.physics.state import initial_state
from twin.sim import presets
from twin.sim.engine import Collected, RunPlan, run
from twin.sim.faults import (
    KINDS,
    STUCK_CHANNELS,
    Scenario,
    apply_onsets,
    bind,
    dump_scenario,
    generate,
    hardware_at,
    load_scenario,
)
from twin.stream.runner import RunConfig, load_run_scenario
from twin.wire import telemetry
from twin.wire.telemetry import CHANNELS

START_NS = parse_start("2026-03-20T12:00:00Z")
STEP_S = 10
BUNDLED = PACKAGE_DATA / "scenarios" / "threebody-2800.toml"

GOOD_FAULT = """
[[faults]]
kind = "solar_string_failure"
sat_id = 1
onset_s = 60.0
magnitude = 0.3
"""


@functools.cache
def _fleet():
    return presets.build(presets.load_preset("threebody-12"), START_NS)


def _scenario(*rows: tuple, preset: str = "threebody-12") -> Scenario:
    """A scenario from (kind, sat_id, onset_s, duration_s or None, magnitude[, channel])."""
    rows = [(*r, "") if len(r) == 5 else r for r in rows]
    return Scenario(
        name="test",
        preset=preset,
        seed=0,
        duration_s=7200.0,
        kind=np.array([KINDS.index(r[0]) for r in rows], np.int16),
        sat_id=np.array([r[1] for r in rows], np.int32),
        onset_s=np.array([r[2] for r in rows], np.float64),
        end_s=np.array([math.inf if r[3] is None else r[2] + r[3] for r in rows]),
        magnitude=np.array([r[4] for r in rows], np.float64),
        channel=tuple(r[5] for r in rows),
    )


def _run(scenario: Scenario | None, n_ticks: int = 60, hw: Hardware | None = None):
    """Frames by (time since start in s, sat_id) → channels, the events, and the stats."""
    fleet, nominal_hw = _fleet()
    sink = Collected()
    stats = run(
        fleet,
        nominal_hw if hw is None else hw,
        RunPlan(START_NS, STEP_S * NS_PER_S, n_ticks),
        sink,
        faults=None if scenario is None else bind(scenario, fleet.sat_id),
    )
    return sink.frames, sink.event_batches, stats


def _series(frames, sat_id: int, channel: str) -> tuple[np.ndarray, np.ndarray]:
    """(times since start in s, values) of one satellite's channel, over the frames with it."""
    t, v = [], []
    for f in frames:
        hit = np.flatnonzero(f.sat_id == sat_id)
        if hit.size:
            t.append((f.time_unix_ns - START_NS) / 1e9)
            v.append(f.channels[channel][hit[0]])
    return np.array(t), np.array(v)


# --- files -------------------------------------------------------------------------------


def _write(tmp_path, faults_text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(
        'name = "t"\npreset = "threebody-12"\nseed = 3\nduration_s = 7200.0\n'
        + GOOD_FAULT
        + faults_text
    )
    return path


@pytest.mark.parametrize(
    ("second_fault", "field", "value", "accepted"),
    [
        (
            'kind = "meteor_strike"\nsat_id = 2\nonset_s = 0.0\nmagnitude = 0.5',
            "faults[1].kind",
            "meteor_strike",
            "battery_capacity_loss",
        ),
        (
            'kind = "battery_capacity_loss"\nsat_id = 2\nonset_s = 0.0\nmagnitude = 1.5',
            "faults[1].magnitude",
            1.5,
            "(0, 1)",
        ),
        (
            'kind = "laser_terminal_failure"\nsat_id = 2\nonset_s = 0.0\nmagnitude = 0.5',
            "faults[1].magnitude",
            0.5,
            "exactly 1",
        ),
        (
            'kind = "attitude_fault"\nsat_id = 2\nonset_s = 0.0\nmagnitude = 120',
            "faults[1].magnitude",
            120.0,
            "(0, 90]",
        ),
        (
            'kind = "stuck_sensor"\nsat_id = 2\nonset_s = 0.0\nmagnitude = 0.0',
            "faults[1].channel",
            None,
            "temp_payload_c",
        ),
        (
            'kind = "stuck_sensor"\nsat_id = 2\nonset_s = 0.0\nmagnitude = 0.0\nchannel = "soc"',
            "faults[1].channel",
            "soc",
            "alt_km",
        ),
        (
            'kind = "upset_storm"\nsat_id = 2\nonset_s = 0.0\nmagnitude = 100\nchannel = "alt_km"',
            "faults[1].channel",
            "alt_km",
            "stuck_sensor",
        ),
        (
            'kind = "upset_storm"\nsat_id = 2\nonset_s = -5.0\nmagnitude = 100',
            "faults[1].onset_s",
            -5.0,
            "seconds",
        ),
        (
            'kind = "upset_storm"\nsat_id = 2\nonset_s = 5.0\nmagnitude = 100\nseverity = 3',
            "faults[1].severity",
            3,
            "kind",
        ),
    ],
)
def test_load_errors_name_the_fault_field_value_and_what_is_accepted(
    tmp_path, second_fault, field, value, accepted
):
    path = _write(tmp_path, "\n[[faults]]\n" + second_fault + "\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert caught.value.field == field
    assert caught.value.value == value
    assert accepted in caught.value.accepted and field in str(caught.value)


def test_unknown_satellite_and_unreadable_file_are_named(tmp_path):
    path = _write(
        tmp_path,
        '\n[[faults]]\nkind = "telemetry_dropout"\nsat_id = 999\nonset_s = 0\nmagnitude = 0\n',
    )
    scenario = load_scenario(path)
    fleet, _ = _fleet()
    with pytest.raises(ConfigError) as caught:
        bind(scenario, fleet.sat_id)
    assert caught.value.field == "faults[1].sat_id" and caught.value.value == 999
    assert "12 satellites" in caught.value.accepted
    assert bind(scenario, fleet.sat_id, strict=False).n_faults == 1  # another shard's fault
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(InputError, match=r"bad\.toml"):
        load_scenario(bad)


def test_dump_and_load_round_trip(tmp_path):
    fleet, _ = _fleet()
    drawn = generate("threebody-12", fleet.sat_id, seed=7, duration_s=21_600.0, per_kind=1)
    by_hand = _scenario(
        ("stuck_sensor", 3, 12.5, 600.0, 0.0, "alt_km"),
        ("upset_storm", 4, 0.0, 1.5, 36_000.0),
        ("attitude_fault", 5, 100.0, None, 90.0),
    )
    by_hand = Scenario(**{**by_hand.__dict__, "name": 'quote " back\\slash ünï'})
    for scenario in (drawn, by_hand):
        path = tmp_path / "s.toml"
        path.write_text(dump_scenario(scenario))
        assert load_scenario(path) == scenario
    assert load_scenario(path) != drawn


def test_generate_is_deterministic_and_keeps_its_constraints():
    sat_id = np.arange(101, 161, dtype=np.int32)  # 60 satellites for 48 faults
    duration_s = 21_600.0
    s = generate("threebody-2800", sat_id, seed=1, duration_s=duration_s, per_kind=6)
    assert s == generate("threebody-2800", sat_id, seed=1, duration_s=duration_s, per_kind=6)
    assert s != generate("threebody-2800", sat_id, seed=2, duration_s=duration_s, per_kind=6)
    assert s.n_faults == 48 and s.counts() == dict.fromkeys(KINDS, 6)
    assert s.name == "threebody-2800-seed1" and s.preset == "threebody-2800"
    assert np.unique(s.sat_id).shape[0] == 48 and np.isin(s.sat_id, sat_id).all()
    assert (s.onset_s >= 900.0).all() and (s.onset_s <= duration_s - 4500.0).all()
    kind = np.array(KINDS)[s.kind]
    fault_s = s.end_s - s.onset_s
    ranges = {  # magnitude and duration (None: permanent) each kind is drawn from
        "battery_capacity_loss": ((0.3, 0.6), None),
        "solar_string_failure": ((0.2, 0.45), None),
        "radiator_degradation": ((0.55, 0.8), None),
        "upset_storm": ((120.0, 480.0), (600.0, 1800.0)),
        "laser_terminal_failure": ((1.0, 1.0), None),
        "stuck_sensor": ((0.0, 0.0), (1200.0, 3600.0)),
        "telemetry_dropout": ((0.0, 0.0), (300.0, 1200.0)),
        "attitude_fault": ((30.0, 75.0), (900.0, 3600.0)),
    }
    for name, ((m_low, m_high), lasting) in ranges.items():
        mine = kind == name
        assert ((s.magnitude[mine] >= m_low) & (s.magnitude[mine] <= m_high)).all(), name
        if lasting is None:
            assert np.isinf(s.end_s[mine]).all(), name
        else:
            assert ((fault_s[mine] >= lasting[0]) & (fault_s[mine] <= lasting[1])).all(), name
    channel = np.array(s.channel)
    assert np.isin(channel[kind == "stuck_sensor"], STUCK_CHANNELS).all()
    assert (channel[kind != "stuck_sensor"] == "").all()
    with pytest.raises(ConfigError, match="at least 48 satellites"):
        generate("threebody-12", sat_id[:47], seed=1, duration_s=duration_s)
    with pytest.raises(ConfigError) as caught:
        generate("threebody-12", sat_id, seed=1, duration_s=7_199.0)
    assert caught.value.field == "duration_s"


def test_bundled_scenario_is_the_seed_1_draw_for_threebody_2800():
    scenario = load_scenario(BUNDLED)
    fleet, _ = presets.build(presets.load_preset("threebody-2800"), START_NS)
    assert scenario.preset == "threebody-2800" and scenario.counts() == dict.fromkeys(KINDS, 6)
    assert scenario == generate("threebody-2800", fleet.sat_id, 1, 21_600.0, per_kind=6)
    assert bind(scenario, fleet.sat_id).n_faults == 48


def _with_scenario(config: RunConfig, path: Path) -> RunConfig:
    return RunConfig(**{**config.__dict__, "scenario_path": str(path)})


def test_shards_bind_their_own_faults_and_the_whole_fleet_is_checked(tmp_path):
    fleet, _ = _fleet()
    scenario = generate("threebody-12", fleet.sat_id, seed=3, duration_s=7_200.0, per_kind=1)
    halves = [fleet.sat_id[:5], fleet.sat_id[5:]]
    bound = [bind(scenario, ids, strict=False) for ids in halves]
    assert sorted(np.concatenate([b.index for b in bound]).tolist()) == list(range(8))
    for ids, b in zip(halves, bound, strict=True):
        np.testing.assert_array_equal(ids[b.row], scenario.sat_id[b.index])
    config = RunConfig("127.0.0.1:1", {}, "threebody-12", START_NS, NS_PER_S, 10, None)
    path = tmp_path / "s.toml"
    path.write_text(dump_scenario(scenario))
    assert load_run_scenario(_with_scenario(config, path), fleet) == scenario
    elsewhere = Scenario(**{**scenario.__dict__, "sat_id": scenario.sat_id + 100})
    path.write_text(dump_scenario(elsewhere))
    with pytest.raises(ConfigError) as caught:  # in no shard of the whole fleet
        load_run_scenario(_with_scenario(config, path), fleet)
    assert caught.value.field == "faults[0].sat_id"
    other = Scenario(**{**scenario.__dict__, "preset": "threebody-2800"})
    path.write_text(dump_scenario(other))
    with pytest.raises(ConfigError) as caught:
        load_run_scenario(_with_scenario(config, path), fleet)
    assert caught.value.field == "--scenario"


# --- application, unit -------------------------------------------------------------------


def test_battery_loss_applies_once_at_the_first_tick_at_or_after_its_onset():
    fleet, hw = _fleet()
    bound = bind(_scenario(("battery_capacity_loss", 3, 305.0, None, 0.4)), fleet.sat_id)
    state = initial_state(hw)
    capacity = state.battery_capacity_wh.copy()
    ticks_s = np.arange(0, 600, STEP_S) / 1.0
    applied = []
    for since_s, t_s in zip(ticks_s - STEP_S, ticks_s, strict=True):
        after = apply_onsets(bound, state, since_s, t_s)
        if after is not state:
            applied.append(t_s)
        state = after
    assert applied == [310.0]
    expected = capacity.copy()
    expected[2] *= 0.6
    np.testing.assert_array_equal(state.battery_capacity_wh, expected)
    np.testing.assert_allclose(state.battery_wh / state.battery_capacity_wh, 0.8, rtol=1e-15)


def test_hardware_changes_only_while_active_and_is_cached():
    fleet, hw = _fleet()
    bound = bind(
        _scenario(
            ("solar_string_failure", 1, 100.0, None, 0.25),
            ("attitude_fault", 1, 100.0, 50.0, 60.0),
            ("radiator_degradation", 2, 0.0, None, 0.6),
            ("upset_storm", 3, 100.0, 50.0, 240.0),
            ("laser_terminal_failure", 4, 100.0, None, 1.0),
        ),
        fleet.sat_id,
    )
    early, during = hardware_at(bound, hw, 0.0), hardware_at(bound, hw, 120.0)
    assert hardware_at(bound, hw, 130.0) is during  # the same active set
    later = hardware_at(bound, hw, 150.0)
    np.testing.assert_array_equal(early.array_area_m2, hw.array_area_m2)
    np.testing.assert_allclose(during.array_area_m2[0], 4.0 * 0.75 * 0.5, rtol=1e-12)
    np.testing.assert_allclose(later.array_area_m2[0], 4.0 * 0.75, rtol=1e-12)
    np.testing.assert_array_equal(during.array_area_m2[1:], hw.array_area_m2[1:])
    assert early.radiator_emissivity[1] == pytest.approx(hw.radiator_emissivity[1] * 0.4)
    assert (
        during.upset_rate_per_day[2] == 240.0 * 24.0
        and later.upset_rate_per_day[2] == (hw.upset_rate_per_day[2])
    )
    assert during.isl_range_km[3] == 0.0 and early.isl_range_km[3] == hw.isl_range_km[3]
    nothing = bind(_scenario(("upset_storm", 3, 100.0, 50.0, 240.0)), fleet.sat_id)
    assert hardware_at(nothing, hw, 0.0) is hw


# --- effects in a run --------------------------------------------------------------------


def test_battery_loss_takes_cells_and_their_charge_at_onset():
    nominal, _, _ = _run(None)
    faulty, _, _ = _run(_scenario(("battery_capacity_loss", 3, 300.0, None, 0.4)))
    t, wh = _series(faulty, 3, "battery_wh")
    _, wh_nominal = _series(nominal, 3, "battery_wh")
    _, soc = _series(faulty, 3, "soc")
    _, soc_nominal = _series(nominal, 3, "soc")
    before, at = t < 300.0, np.flatnonzero(t == 300.0)[0]
    np.testing.assert_array_equal(wh[before], wh_nominal[before])
    assert wh[at] == pytest.approx(0.6 * wh_nominal[at], rel=1e-12)
    assert soc[at] == pytest.approx(soc_nominal[at], rel=1e-12)
    np.testing.assert_array_equal(
        _series(faulty, 4, "battery_wh")[1], _series(nominal, 4, "battery_wh")[1]
    )


def test_string_failure_and_attitude_fault_scale_array_power_only_while_active():
    nominal, _, _ = _run(None)
    faulty, _, _ = _run(
        _scenario(
            ("solar_string_failure", 1, 200.0, None, 0.3),
            ("attitude_fault", 2, 200.0, 300.0, 60.0),
        )
    )
    for sat, share, end_s in ((1, 0.7, math.inf), (2, math.cos(math.radians(60.0)), 500.0)):
        t, array_w = _series(faulty, sat, "array_w")
        _, array_nominal = _series(nominal, sat, "array_w")
        active = (t >= 200.0) & (t < end_s)
        lit = array_nominal > 0
        assert (active & lit).sum() >= 25 and (~active & lit).sum() >= 10
        np.testing.assert_allclose(
            array_w[active & lit] / array_nominal[active & lit], share, rtol=1e-9
        )
        np.testing.assert_array_equal(array_w[~active], array_nominal[~active])
    np.testing.assert_array_equal(
        _series(faulty, 3, "array_w")[1], _series(nominal, 3, "array_w")[1]
    )


def test_radiator_degradation_runs_the_radiator_hotter():
    nominal, _, _ = _run(None, n_ticks=90)
    faulty, _, _ = _run(_scenario(("radiator_degradation", 7, 60.0, None, 0.7)), n_ticks=90)
    t, temp = _series(faulty, 7, "temp_radiator_c")
    _, temp_nominal = _series(nominal, 7, "temp_radiator_c")
    np.testing.assert_array_equal(temp[t <= 60.0], temp_nominal[t <= 60.0])
    late = t >= 60.0 + 600.0
    assert late.sum() == 24
    assert (temp[late] > temp_nominal[late] + 1.0).all()


def test_upset_storm_raises_upsets_to_its_rate():
    fleet, hw = _fleet()
    # Upsets that hang the accelerator would hide later ones while it resets.
    hw = Hardware({**hw.arrays, "upset_reset_fraction": 0.0 * hw.upset_reset_fraction})
    n_ticks = 120
    per_hour = 360.0
    scenario = _scenario(("upset_storm", 4, 0.0, n_ticks * STEP_S, per_hour))
    nominal, _, _ = _run(None, n_ticks, hw)
    faulty, _, _ = _run(scenario, n_ticks, hw)
    _, upsets = _series(faulty, 4, "upsets")
    _, lat = _series(faulty, 4, "lat_deg")
    _, lon = _series(faulty, 4, "lon_deg")
    effective = hardware_at(bind(scenario, fleet.sat_id), hw, 0.0).subset(np.array([3]))
    rate = compute.upset_rate_per_s(effective, lat, lon)  # the SAA may raise it further
    assert (rate >= per_hour / 3600.0).all()
    p = -np.expm1(-rate * STEP_S)
    mean, sigma = p.sum(), math.sqrt((p * (1.0 - p)).sum())
    assert abs(int(upsets.sum()) - mean) < 5.0 * sigma
    assert int(upsets.sum()) > 10 * max(1, int(_series(nominal, 4, "upsets")[1].sum()))


def test_laser_terminal_failure_closes_no_link_after_a_tick():
    nominal, _, _ = _run(None)
    faulty, _, _ = _run(_scenario(("laser_terminal_failure", 6, 300.0, None, 1.0)))
    t, isl = _series(faulty, 6, "isl_up")
    _, isl_nominal = _series(nominal, 6, "isl_up")
    after = t >= 300.0 + STEP_S
    assert (isl_nominal[after] > 0).all() and (isl[after] == 0).all()
    np.testing.assert_array_equal(isl[t < 300.0], isl_nominal[t < 300.0])
    _, neighbour = _series(faulty, 5, "isl_up")  # its in-plane neighbour lost that link
    assert (neighbour[after] == _series(nominal, 5, "isl_up")[1][after] - 1).all()


@pytest.mark.parametrize("channel", STUCK_CHANNELS)
def test_stuck_sensor_holds_its_onset_value_in_telemetry_only(channel):
    nominal, _, nominal_stats = _run(None)
    faulty, _, faulty_stats = _run(_scenario(("stuck_sensor", 8, 200.0, 300.0, 0.0, channel)))
    t, value = _series(faulty, 8, channel)
    _, value_nominal = _series(nominal, 8, channel)
    window = (t >= 200.0) & (t < 500.0)
    assert window.sum() == 30
    assert (value[window] == value_nominal[t == 200.0]).all()
    assert np.unique(value_nominal[window]).shape[0] > 1  # nominally it moves
    np.testing.assert_array_equal(value[~window], value_nominal[~window])
    for name in CHANNELS:  # nothing else changes, nor the physics behind the statistics
        if name != channel:
            np.testing.assert_array_equal(
                _series(faulty, 8, name)[1], _series(nominal, 8, name)[1], err_msg=name
            )
    assert faulty_stats.max_temp_payload_c == nominal_stats.max_temp_payload_c


def test_dropout_silences_frames_and_events_only_during_its_window():
    nominal, nominal_events, _ = _run(None)
    faulty, faulty_events, _ = _run(_scenario(("telemetry_dropout", 9, 400.0, 100.0, 0.0)))
    t, alt = _series(faulty, 9, "alt_km")
    t_nominal, alt_nominal = _series(nominal, 9, "alt_km")
    window = (t_nominal >= 400.0) & (t_nominal < 500.0)
    np.testing.assert_array_equal(t, t_nominal[~window])
    np.testing.assert_array_equal(alt, alt_nominal[~window])
    for sat in (1, 8, 10):
        np.testing.assert_array_equal(
            _series(faulty, sat, "alt_km")[1], _series(nominal, sat, "alt_km")[1]
        )

    def by_time(batches):
        return [
            (b.time_unix_ns, int(s), int(k))
            for b in batches
            for s, k in zip(b.sat_id, b.kind, strict=True)
        ]

    def silenced(e):
        return e[1] == 9 and 400.0 <= (e[0] - START_NS) / 1e9 < 500.0

    expected = by_time(nominal_events)
    assert any(silenced(e) for e in expected)  # sat 9 has a contact change in the window
    assert by_time(faulty_events) == [e for e in expected if not silenced(e)]


def test_a_frame_with_every_satellite_silent_is_not_sent():
    fleet, _ = _fleet()
    rows = [("telemetry_dropout", int(s), 100.0, 50.0, 0.0) for s in fleet.sat_id]
    frames, _, stats = _run(_scenario(*rows))
    times = [(f.time_unix_ns - START_NS) / 1e9 for f in frames]
    assert len(frames) == stats.frames == 60 - 5
    assert not {100.0, 110.0, 120.0, 130.0, 140.0} & set(times)


def test_no_faults_is_identical_to_no_scenario():
    nominal, nominal_events, _ = _run(None)
    empty = _scenario()
    too_late = _scenario(
        ("battery_capacity_loss", 1, 5000.0, None, 0.5),
        ("stuck_sensor", 2, 5000.0, 10.0, 0.0, "alt_km"),
        ("telemetry_dropout", 3, 5000.0, 10.0, 0.0),
        ("upset_storm", 4, 5000.0, 10.0, 400.0),
    )
    for scenario in (empty, too_late):
        frames, events, _ = _run(scenario)
        assert [telemetry.encode(f) for f in frames] == [telemetry.encode(f) for f in nominal]
        assert [e.sat_id.tolist() for e in events] == [e.sat_id.tolist() for e in nominal_events]


# --- command line ------------------------------------------------------------------------


def test_scenario_generate_writes_a_loadable_file(tmp_path, capsys):
    out = tmp_path / "s.toml"
    argv = ["scenario", "generate", "--preset", "threebody-12", "--seed", "5"]
    assert main([*argv, "--duration", "3h", "--per-kind", "1", "--out", str(out)]) == 0
    assert "8 faults" in capsys.readouterr().out
    fleet, _ = _fleet()
    assert load_scenario(out) == generate("threebody-12", fleet.sat_id, 5, 10_800.0, 1)
    assert main([*argv, "--per-kind", "2", "--out", str(out)]) == 2
    assert "--preset" in capsys.readouterr().err  # 16 faults on 12 satellites
    assert main([*argv, "--per-kind", "1", "--duration", "1h", "--out", str(out)]) == 2
    assert "--duration" in capsys.readouterr().err


def test_run_refuses_a_scenario_of_another_preset(capsys):
    argv = ["run", "--kafka", "127.0.0.1:1", "--preset", "threebody-12", "--speed", "max"]
    assert main([*argv, "--scenario", str(BUNDLED)]) == 2
    err = capsys.readouterr().err
    assert "--scenario" in err and "threebody-2800" in err


def test_a_run_ends_with_the_values_stuck_sensors_hold():
    """A run chained from ``final_state`` keeps reporting what its stuck sensors hold."""
    channel = STUCK_CHANNELS[0]
    _, _, stats = _run(_scenario(("stuck_sensor", 8, 200.0, None, 0.0, channel)))
    held = stats.final_state.held
    row = int(np.flatnonzero(_fleet()[0].sat_id == 8)[0])
    k = STUCK_CHANNELS.index(channel)
    assert held is not None and held.held[k, row] and held.held.sum() == 1
    assert np.isfinite(held.value[k, row])

"""The reality emulator: hidden parameters drawn per satellite from a seed and a salt, a
battery seen as pack voltage and current, and recorders dumped only in contact, every sample
sent once, with the stated noise."""

import numpy as np
import pytest

from twin.core.clock import NS_PER_S, parse_start
from twin.physics import power
from twin.sim import reality
from twin.sim.engine import Collected, RunPlan, run
from twin.sim.presets import build, load_preset

T0 = parse_start("2026-03-20T12:00:00Z")


def test_hidden_parameters_keep_their_spread_and_depend_on_seed_salt_and_satellite_only():
    sat_id = np.arange(1, 2_801)
    drawn = reality.hidden_parameters(sat_id, 7, "pepper")
    for name, (_, spread) in reality.SPREAD.items():
        m = drawn[name]
        assert ((1 - spread <= m) & (m < 1 + spread)).all()
        assert abs(m.mean() - 1.0) < spread / 10 and m.std() > spread / 2  # uniform: σ = s/√3
    again = reality.hidden_parameters(sat_id[100:200], 7, "pepper")  # a shard of the fleet
    for name in drawn:
        np.testing.assert_array_equal(again[name], drawn[name][100:200])
    other = reality.hidden_parameters(sat_id, 7, "salt")
    assert not np.allclose(other["battery_capacity_wh"], drawn["battery_capacity_wh"])


def test_the_pack_voltage_carries_the_power_and_spans_the_cells_range():
    soc = np.array([0.0, 1.0, 0.5, 0.5])
    power_w = np.array([0.0, 0.0, 500.0, -500.0])
    volts, amps = power.pack_voltage_current(soc, power_w, np.full(4, 2000.0))
    assert volts[0] == pytest.approx(8 * 3.0) and volts[1] == pytest.approx(8 * 4.2)
    np.testing.assert_allclose(volts * amps, power_w, atol=1e-9)
    assert volts[2] > 8 * 3.6 > volts[3]  # charging lifts the terminal voltage
    ohms = (volts[2] - 8 * 3.6) / amps[2]
    assert ohms == pytest.approx(power.PACK_RESISTANCE_OHM_KWH / 2.0)


def test_recorders_dump_only_in_contact_and_send_every_sample_once_with_the_stated_noise():
    fleet, hw = build(load_preset("threebody-12"), T0)
    truth = reality.truth_hardware(hw, reality.hidden_parameters(fleet.sat_id, 1, "s"))
    assert not np.allclose(truth.battery_capacity_wh, hw.battery_capacity_wh)
    collected = Collected()
    run(fleet, truth, RunPlan(T0, 10 * NS_PER_S, 1_080), collected, seed=1)  # 3 h
    packets = []
    sink = reality.EmulatorSink(
        reality.Recorder(fleet.sat_id, 1_080), T0, 10 * NS_PER_S, 60 * NS_PER_S, 1, packets.append
    )
    for frame in collected.frames:
        sink.frame(frame)
    recorder = sink.recorder
    assert recorder.recorded == 12 * 1_080 and packets
    assert recorder.sent + recorder.on_board == recorder.recorded and recorder.overwritten == 0
    assert recorder.sent == sum(p.n for p in packets) > recorder.recorded / 2
    truth_by = {}  # (sat, time) -> the truth's frame values
    in_contact = set()
    for frame in collected.frames:
        for k, sat in enumerate(frame.sat_id.tolist()):
            truth_by[(sat, frame.time_unix_ns)] = {n: v[k] for n, v in frame.channels.items()}
            if frame.channels["in_contact"][k]:
                in_contact.add((sat, frame.time_unix_ns // (60 * NS_PER_S)))
    seen, residual_c = set(), []
    for p in packets:
        assert (p.time_unix_ns <= p.received_unix_ns).all() and p.n <= 3_600
        # A dump happens only for a satellite in contact during the minute before it.
        minute = p.received_unix_ns // (60 * NS_PER_S)
        assert (p.sat_id, minute) in in_contact or (p.sat_id, minute - 1) in in_contact
        for k, t in enumerate(p.time_unix_ns.tolist()):
            assert (p.sat_id, t) not in seen
            seen.add((p.sat_id, t))
            residual_c.append(
                p.channels["temp_payload_c"][k] - truth_by[(p.sat_id, t)]["temp_payload_c"]
            )
    assert [p.seq for p in packets if p.sat_id == packets[0].sat_id][:3] == [0, 1, 2]
    residual_c = np.array(residual_c)
    sent_c = np.concatenate([p.channels["temp_payload_c"] for p in packets])
    np.testing.assert_allclose(sent_c * 10, np.round(sent_c * 10), atol=1e-6)  # 0.1 K steps
    assert 0.15 < residual_c.std() < 0.25  # σ 0.2 K with 0.1 K quantisation
    assert "soc" not in packets[0].channels and "battery_v" in packets[0].channels


def test_a_recorder_full_before_a_contact_overwrites_its_oldest_samples_and_counts_them():
    fleet, hw = build(load_preset("threebody-12"), T0)
    collected = Collected()
    run(fleet, hw, RunPlan(T0, 10 * NS_PER_S, 1_080), collected, seed=1)
    packets = []
    sink = reality.EmulatorSink(
        reality.Recorder(fleet.sat_id, 90), T0, 10 * NS_PER_S, 60 * NS_PER_S, 1, packets.append
    )  # 15 minutes of recorder: a satellite out of contact longer loses the oldest
    for frame in collected.frames:
        sink.frame(frame)
    recorder = sink.recorder
    assert recorder.overwritten > 0
    assert recorder.sent + recorder.on_board + recorder.overwritten == recorder.recorded
    for p in packets:  # what a dump sends is at most the recorder's 15 minutes before it
        assert p.received_unix_ns - p.time_unix_ns[0] < 91 * 10 * NS_PER_S


def test_with_many_frame_groups_a_tick_a_dump_leaves_no_hole_in_any_satellites_record():
    from twin.fleet.constellation import walker_delta
    from twin.fleet.hardware import hardware_arrays

    fleet = walker_delta(600, 30, 1, 550.0, 53.0, T0)  # 3 frame groups a tick
    hw = hardware_arrays([next(iter(load_preset("threebody-12").hardware.values()))], [600])
    collected = Collected()
    run(fleet, hw, RunPlan(T0, 10 * NS_PER_S, 540), collected, seed=2)
    assert len({f.group for f in collected.frames}) >= 2
    packets = []
    sink = reality.EmulatorSink(
        reality.Recorder(fleet.sat_id, 540), T0, 10 * NS_PER_S, 60 * NS_PER_S, 2, packets.append
    )
    for frame in collected.frames:
        sink.frame(frame)
    sent = {}
    for p in packets:
        sent.setdefault(p.sat_id, []).append(p.time_unix_ns)
    assert len(sent) > 20
    for sat, times in sent.items():  # each satellite's samples sent: every tick up to its last
        t = np.sort(np.concatenate(times))
        expected = T0 + 10 * NS_PER_S * np.arange(t.shape[0])
        np.testing.assert_array_equal(t, expected, err_msg=f"satellite {sat}")

"""The reality emulator: hidden parameters drawn per satellite from a seed and a salt, a
battery seen as pack voltage and current, and recorders dumped only in contact, every sample
sent once, with the stated noise; element sets refitted at their epochs with the stated fit
error, at the stated cadence."""

import numpy as np
import pytest

from twin.core.clock import JD_UNIX_EPOCH, NS_PER_S, julian, parse_start
from twin.fleet.constellation import circular_elements
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


def _position_km(sat, t_ns: int) -> np.ndarray:
    times = julian(t_ns)
    error, r_km, _ = sat.sgp4(float(times.jd_utc), float(times.fr_utc))
    assert error == 0
    return np.array(r_km)


def test_a_refitted_element_set_flies_the_truth_orbit_but_for_its_fit_error():
    epoch = T0 + 5 * 3600 * NS_PER_S
    truths = circular_elements(
        np.array([1, 2]), T0, 550.0, 53.0, np.array([10.0, 200.0]), np.array([0.0, 90.0]),
        eccentricity=np.array([0.0, 0.01]), arg_perigee_deg=30.0, bstar=2e-4,
    )  # fmt: skip
    for truth in truths:
        exact = reality.refit_elements(truth, epoch, 0.0, 0.0)
        assert exact.jdsatepoch + exact.jdsatepochF == pytest.approx(
            float(julian(epoch).jd_utc) + float(julian(epoch).fr_utc), abs=1e-9
        )
        # Without a fit error: the same orbit at the new epoch and a day later (drag on).
        for later_s in (0, 3600, 86_400):
            t = epoch + later_s * NS_PER_S
            assert np.linalg.norm(_position_km(exact, t) - _position_km(truth, t)) < 0.05
        # A kilometre along track and 200 m across: the position moves by about that much,
        # almost all along the velocity.
        off = reality.refit_elements(truth, epoch, 1.0, 0.2)
        times = julian(epoch)
        _, _, v = truth.sgp4(float(times.jd_utc), float(times.fr_utc))
        moved = _position_km(off, epoch) - _position_km(truth, epoch)
        along = moved @ np.array(v) / np.linalg.norm(v)
        assert 0.9 < along < 1.1 and 0.9 < np.linalg.norm(moved) < 1.2


def test_the_element_feed_publishes_every_satellites_sets_at_its_cadence_with_the_fit_error():
    n = 400
    sat_id = np.arange(1, n + 1)
    truths = circular_elements(sat_id, T0, 550.0, 53.0, np.linspace(0, 360, n), np.zeros(n))
    feed = reality.ElementFeed(truths, sat_id, T0, 8 * 3600 * NS_PER_S, seed=3)
    published: dict[int, list[int]] = {}
    along = []
    for minute in range(0, 24 * 60 + 1, 10):  # a day in 10-minute ticks
        now = T0 + minute * 60 * NS_PER_S
        for s, sat in feed.due(now):
            epoch_ns = round((sat.jdsatepoch - JD_UNIX_EPOCH + sat.jdsatepochF) * 86_400e9)
            assert abs(epoch_ns - now) < 1_000_000  # the set's epoch is when it is published
            published.setdefault(s, []).append(now)
            if s % 10 == 0:  # the fit error, against the truth
                truth = truths[s - 1]
                times = julian(now)
                _, _, v = truth.sgp4(float(times.jd_utc), float(times.fr_utc))
                moved = _position_km(sat, now) - _position_km(truth, now)
                along.append(moved @ np.array(v) / np.linalg.norm(v))
    assert sorted(published) == sat_id.tolist()
    for times_ns in published.values():
        assert times_ns[0] == T0  # every satellite's first set at the start
        assert len(times_ns) in (3, 4)  # then one every 8 h, phased
        gaps = np.diff(times_ns[1:]) / NS_PER_S
        assert np.all(np.abs(gaps - 8 * 3600) <= 600)
    first_later = np.array([t[1] - T0 for t in published.values()]) / NS_PER_S / 3600
    assert first_later.min() < 1.0 and first_later.max() > 7.0  # phases spread over 8 h
    along = np.array(along)
    assert along.size > 100
    assert 0.4 < along.std() < 0.6 and abs(along.mean()) < 0.15  # N(0, 0.5 km)

"""Each rule type on synthetic series: it fires when it should, stays quiet when it should,
and clears only past its hysteresis band; state carried across batches and restarts."""

import numpy as np
import pytest

from ingest.rules.definitions import parse_rules
from ingest.rules.detect import Detector, DetectorState, Satellites
from twin.physics import sun
from twin.wire.telemetry import CHANNELS, Frame

T0_NS = 1_772_323_200 * 10**9  # 2026-03-01T00:00:00Z
N_SAT = 12


def _sats(n: int = N_SAT) -> Satellites:
    return Satellites(
        sat_id=np.arange(1, n + 1, dtype=np.int32),
        family=np.repeat(np.arange(2), n // 2).astype(np.int32),
        interval_s=np.ones(n),
        array_nominal_w=np.full(n, 300.0),
        capacity_wh=np.full(n, 2000.0),
    )


def _nominal(n: int = N_SAT) -> dict[str, np.ndarray]:
    """Every channel of a quiet fleet at one tick."""
    values = {n_: np.zeros(n, dtype=c.dtype) for n_, c in CHANNELS.items()}
    values |= {"illumination": np.ones(n), "soc": np.full(n, 0.8)}
    values |= {"battery_wh": np.full(n, 1600.0), "isl_up": np.full(n, 4, np.int16)}
    values |= {"temp_payload_c": np.full(n, 30.0), "temp_radiator_c": np.full(n, 10.0)}
    return values


def _flux(t_ns: int) -> float:
    d = np.linalg.norm(sun.sun_teme_km(np.array([t_ns], np.int64)), axis=0)[0]
    return sun.SOLAR_CONSTANT_W_M2 * (sun.AU_KM / d) ** 2


def _series(n_ticks: int, change, drop=None, dt_s: float = 1.0) -> list[tuple[int, Frame]]:
    """Frames of ``n_ticks`` ticks; ``change(k, values)`` edits tick k's values, ``drop(k)``
    gives the satellite ids silent at tick k. The array gets its nominal output."""
    frames = []
    ids = np.arange(1, N_SAT + 1, dtype=np.int32)
    for k in range(n_ticks):
        t_ns = T0_NS + int(k * dt_s * 1e9)
        values = _nominal()
        values["array_w"] = values["illumination"] * _flux(t_ns) * 300.0
        values["temp_payload_c"] = 30.0 + 0.01 * np.sin(k / 7.0 + ids)  # never still
        values["temp_radiator_c"] = 10.0 + 0.01 * np.cos(k / 5.0 + ids)
        values["alt_km"] = 500.0 + 1e-3 * k + 0.1 * ids
        change(k, values)
        keep = ~np.isin(ids, drop(k) if drop else [])
        frames.append((0, Frame(t_ns, "g", ids[keep], {c: v[keep] for c, v in values.items()})))
    return frames


def _run(rule: dict, frames, sats=None, batches: int = 1):
    rules = parse_rules({"version": 1, "rules": [rule]})
    detector = Detector(rules.satellite, sats or _sats())
    rows = []
    for part in np.array_split(np.arange(len(frames)), batches):
        out, state = detector.evaluate([frames[i] for i in part])
        rows += out
        detector.state = state
    return [(r.state, r.sat_id, (r.time_us * 1000 - T0_NS) // 10**9) for r in rows], rows


def _rule(**fields) -> dict:
    return {"name": "r", "severity": "warning", **fields}


def test_threshold_with_context_for_duration_and_hysteresis():
    def change(k, v):
        v["temp_payload_c"][2] = {True: 80.0, False: 30.0}[20 <= k < 60]
        v["temp_payload_c"][3] = 80.0 if 20 <= k < 25 else 30.0  # too short: stays quiet
        v["temp_payload_c"][4] = 80.0 if k >= 20 else 30.0
        v["sunlit"][:] = True
        v["sunlit"][4] = False  # out of context
        v["temp_payload_c"][5] = 80.0 if 20 <= k < 40 else (74.0 if k < 80 else 60.0)

    steps, _ = _run(
        _rule(
            type="threshold",
            channel="temp_payload_c",
            when={"sunlit": True},
            trigger={"above": 75},
            clear={"below": 70},
            for_s=10,
        ),
        _series(100, change),
    )
    assert steps == [
        ("open", 3, 30),
        ("open", 6, 30),
        ("closed", 3, 60),
        ("closed", 6, 80),  # 74 is inside the band: open until below 70
    ]


def test_decayed_count_fires_on_a_burst_not_on_sparse_events():
    def change(k, v):
        v["upsets"][0] = 1 if k % 400 == 0 else 0  # sparse
        v["upsets"][1] = 1 if 100 <= k < 200 and k % 10 == 0 else 0  # a storm

    steps, _ = _run(
        _rule(
            type="threshold",
            channel="upsets",
            count_over_s=300,
            trigger={"above": 3.5},
            clear={"below": 0.5},
            update_every_s=3600,
        ),
        _series(1500, change),
    )
    assert [s[:2] for s in steps] == [("open", 2), ("closed", 2)]
    assert steps[0][2] == 130  # the fourth upset of the storm
    assert 200 + 300 * np.log(4) < steps[1][2] < 200 + 300 * np.log(20)


def test_rate_of_change():
    def change(k, v):
        v["temp_radiator_c"][7] += 0.05 * max(0, min(k, 120) - 40)  # 0.05 K/s for 80 s

    steps, _ = _run(
        _rule(
            type="rate",
            channel="temp_radiator_c",
            trigger={"above": 0.02},
            clear={"below": 0.005},
            for_s=10,
            clear_for_s=5,
        ),
        _series(200, change),
    )
    # Rising from t=41 s: the rate passes 0.02 at t=41, for 10 s: open at 51. Flat from
    # t=121 s, past the clear level for 5 s: closed at 126.
    assert steps == [("open", 8, 51), ("closed", 8, 126)]


def test_stuck_channel():
    def change(k, v):
        if 50 <= k < 120:
            v["temp_payload_c"][9] = 31.25

    steps, _ = _run(
        _rule(type="stuck", channel="temp_payload_c", trigger={"above": 20}, clear={"below": 1}),
        _series(200, change),
    )
    assert steps == [("open", 10, 71), ("closed", 10, 120)]


def test_missing_data_against_the_satellites_own_rate():
    steps, _ = _run(
        _rule(type="missing", group="orbit", trigger={"above": 5}, clear={"below": 1.5}),
        _series(100, lambda k, v: None, drop=lambda k: [4] if 30 <= k < 60 else [], dt_s=10.0),
        batches=7,
    )
    # Ten-second samples: last seen at t=290 s; six intervals missed (above 5) at t=350 s.
    assert steps == [("open", 4, 350), ("closed", 4, 600)]


def test_out_of_family_against_the_plane():
    def change(k, v):
        v["temp_radiator_c"][:6] += 5.0  # plane 0 runs warmer: not an anomaly
        v["temp_radiator_c"][8] += 12.0 if k >= 30 else 0.0  # one of plane 1

    rule = _rule(
        type="out_of_family",
        channel="temp_radiator_c",
        against="plane",
        min_spread=1.0,
        min_members=5,
        trigger={"above": 6},
        clear={"below": 3},
        for_s=5,
    )
    steps, _ = _run(rule, _series(60, change))
    assert steps == [("open", 9, 35)]
    fleet_steps, _ = _run({**rule, "against": "fleet"}, _series(60, change))
    assert fleet_steps == []  # against the fleet, the warmer plane widens the spread


def test_physics_residuals():
    def change(k, v):
        v["array_w"][0] *= 0.8 if k >= 20 else 1.0  # a lost string
        v["illumination"][1] = 0.0 if k >= 20 else 1.0  # eclipse: expected 0, no residual
        v["array_w"][1] = 0.0 if k >= 20 else v["array_w"][1]
        v["battery_wh"][2] = 1000.0 if k >= 40 else 1600.0  # same SoC, less energy: cells lost

    steps, rows = _run(
        _rule(
            type="residual",
            channel="array_w",
            expected="array_power_w",
            when={"illumination": {"above": 0.99}},
            trigger={"below": 0.9},
            clear={"above": 0.95},
            for_s=5,
        ),
        _series(60, change),
    )
    assert steps == [("open", 1, 25)]
    assert rows[0].value == pytest.approx(0.8, rel=1e-9)
    steps, rows = _run(
        _rule(
            type="residual",
            channel="battery_capacity_wh",
            expected="battery_capacity_wh",
            trigger={"below": 0.9},
            clear={"above": 0.95},
        ),
        _series(60, change),
    )
    assert steps == [("open", 3, 40)]
    assert rows[0].value == pytest.approx(1000.0 / 0.8 / 2000.0)


def test_open_anomalies_report_their_worst_value_periodically():
    def change(k, v):
        v["temp_payload_c"][0] = 80.0 + 0.01 * k

    steps, rows = _run(
        _rule(
            type="threshold",
            channel="temp_payload_c",
            trigger={"above": 75},
            clear={"below": 70},
            update_every_s=100,
        ),
        _series(250, change),
    )
    assert steps == [("open", 1, 0), ("updated", 1, 100), ("updated", 1, 200)]
    assert {r.anomaly_id for r in rows} == {f"r:1:{T0_NS // 10**9}"}
    assert rows[2].value == pytest.approx(82.0)


def test_state_restored_from_storage_continues_without_repeat_or_miss():
    """Evaluating in batches with the state stored and restored between each (a restart
    each time) gives exactly the steps of one uninterrupted evaluation."""

    def change(k, v):
        phase = (k + 7 * np.arange(6)) // 40 % 2 == 1
        v["temp_payload_c"][:6] = np.where(phase, 80.0, v["temp_payload_c"][:6])

    rules = parse_rules(
        {
            "version": 1,
            "rules": [
                _rule(
                    type="threshold",
                    channel="temp_payload_c",
                    trigger={"above": 75},
                    clear={"below": 70},
                    for_s=3,
                ),
                _rule(
                    name="s",
                    type="stuck",
                    channel="temp_payload_c",
                    trigger={"above": 20},
                    clear={"below": 1},
                ),
            ],
        }
    )
    frames = _series(400, change)
    whole, _ = Detector(rules.satellite, _sats()).evaluate(frames)
    steps = []
    blob = None
    for part in np.array_split(np.arange(400), 9):
        detector = Detector(rules.satellite, _sats())  # a new process
        if blob is not None:
            detector.state.restore(detector.sats.sat_id, blob)
        out, state = detector.evaluate([frames[i] for i in part])
        steps += out
        blob = state.blob(detector.sats.sat_id, 0)
    assert len(whole) > 10
    assert steps == whole


def test_state_blob_keeps_only_its_partitions_satellites():
    rules = parse_rules(
        {
            "version": 1,
            "rules": [
                _rule(type="stuck", channel="alt_km", trigger={"above": 5}, clear={"below": 1})
            ],
        }
    )
    state = DetectorState(rules.satellite, N_SAT)
    state.arrays["partition"][:] = np.arange(N_SAT) % 3
    state.arrays["r/prev"][:] = np.arange(N_SAT)
    sat_id = _sats().sat_id
    restored = DetectorState(rules.satellite, N_SAT)
    restored.restore(sat_id, state.blob(sat_id, 1))
    assert np.array_equal(np.isfinite(restored.arrays["r/prev"]), np.arange(N_SAT) % 3 == 1)
    assert np.array_equal(restored.arrays["r/prev"][1::3], np.arange(N_SAT)[1::3])


def test_channels_sampled_less_often_neither_reset_nor_flap():
    """Thermal every 5 ticks: the for-duration still runs between samples, and a stuck
    sensor is not seen to change (and clear) on the ticks without a sample."""

    def change(k, v):
        v["temp_payload_c"][0] = 80.0
        v["temp_payload_c"][1] = 31.25 if k >= 20 else v["temp_payload_c"][1]
        if k % 5:
            v["temp_payload_c"][:] = np.nan
            v["temp_radiator_c"][:] = np.nan

    hot = _rule(
        type="threshold", channel="temp_payload_c", trigger={"above": 75}, clear={"below": 70},
        for_s=30,
    )  # fmt: skip
    steps, _ = _run(hot, _series(100, change))
    assert steps == [("open", 1, 30)]
    stuck = _rule(type="stuck", channel="temp_payload_c", trigger={"above": 20},
                  clear={"below": 1})  # fmt: skip
    steps, _ = _run(stuck, _series(100, change))
    # Sat 1 holds 80 from t=0, sat 2 31.25 from t=20: more than 20 s unchanged at the
    # samples of t=25 and t=45.
    assert steps == [("open", 1, 25), ("open", 2, 45)]


def test_a_replayed_tick_is_not_scored_twice():
    def change(k, v):
        v["upsets"][0] = 1 if k in (10, 40, 70) else 0

    rule = _rule(type="threshold", channel="upsets", count_over_s=300, trigger={"above": 3.5},
                 clear={"below": 0.5})  # fmt: skip
    frames = _series(100, change)
    once, _ = _run(rule, frames, batches=2)
    replayed, _ = _run(rule, frames[:80] + frames[30:], batches=3)  # 50 ticks sent again
    assert once == replayed == []


def test_missing_data_counts_only_the_satellites_own_frame_group():
    """Two frame groups on one partition; a poll that ends between the groups' frames of a
    tick after a long gap flags nobody."""
    ids = np.arange(1, N_SAT + 1, dtype=np.int32)
    frames = []
    for k in [*range(10), *range(400, 410)]:  # an hour-long gap in the whole stream
        t_ns = T0_NS + k * 10**9
        values = _nominal()
        for name, rows in (("a", ids <= 6), ("b", ids > 6)):
            frames.append(
                (0, Frame(t_ns, name, ids[rows], {c: v[rows] for c, v in values.items()}))
            )
    rule = _rule(type="missing", group="orbit", trigger={"above": 5}, clear={"below": 1.5})
    detector = Detector(parse_rules({"version": 1, "rules": [rule]}).satellite, _sats())
    steps = []
    for part in (frames[:21], frames[21:]):  # the poll ends after group a of tick 400
        out, detector.state = detector.evaluate(part)
        steps += out
    assert steps == []


def test_a_time_past_the_ephemeris_is_skipped_by_the_physics_residual_not_a_crash():
    # Frames dated 2060 (inside the accepted 1990..2100, past DE421's 2053): the Sun is
    # unknown, so the array-power residual cannot judge; a threshold rule still does.
    late_ns = 2_840_140_800 * 10**9  # 2060-01-01T00:00:00Z
    assert late_ns > sun.EPHEMERIS_LAST_NS
    assert np.isnan(sun.sun_teme_km(np.array([late_ns], np.int64))).all()
    frames = []
    ids = np.arange(1, N_SAT + 1, dtype=np.int32)
    for k in range(30):
        values = _nominal()
        values["array_w"] = np.full(N_SAT, 10.0)  # far below any expectation
        values["temp_payload_c"][0] = 90.0
        frames.append((0, Frame(late_ns + k * 10**9, "g", ids, values)))
    residual = _rule(
        type="residual",
        channel="array_w",
        expected="array_power_w",
        trigger={"below": 0.9},
        clear={"above": 0.95},
    )
    assert _run(residual, frames)[0] == []
    hot = _rule(
        type="threshold", channel="temp_payload_c", trigger={"above": 80.0}, clear={"below": 70.0}
    )
    assert _run(hot, frames)[0] == [("open", 1, late_ns // 10**9 - T0_NS // 10**9)]


def test_a_rule_never_judges_a_channel_the_hardware_cannot_produce():
    # starcloud-1 has no laser terminals: its isl_up is always 0, which is no fault.
    sats = _sats()
    no_lasers = Satellites(
        sats.sat_id,
        sats.family,
        sats.interval_s,
        sats.array_nominal_w,
        sats.capacity_wh,
        laser_terminals=np.where(sats.sat_id <= 6, 0, 4).astype(np.int32),
    )

    def change(k, v):
        v["isl_up"][:] = 0  # no link up anywhere

    lasers_down = _rule(
        type="threshold", channel="isl_up", trigger={"below": 0.5}, clear={"above": 0.5}, for_s=5
    )
    steps, _ = _run(lasers_down, _series(20, change), sats=no_lasers)
    assert sorted(sat for _, sat, _ in steps) == [7, 8, 9, 10, 11, 12]


def test_a_limit_rule_judges_each_satellite_against_its_own_limit():
    # Satellites 1-6 throttle at 70 °C (red above 78), 7-12 at 82 °C (red above 90);
    # satellite 12 was registered without limits and is never judged.
    sats = _sats()
    red_high = np.where(sats.sat_id <= 6, 78.0, 90.0)
    red_high[-1] = np.nan
    table = np.full((N_SAT, 4), np.nan)
    table[:, 3] = red_high
    table[:, 0] = -20.0
    limited = Satellites(
        sats.sat_id,
        sats.family,
        sats.interval_s,
        sats.array_nominal_w,
        sats.capacity_wh,
        limits={"temp_payload_c": table},
    )

    def change(k, v):
        hot = 85.0 if 10 <= k < 40 else (74.0 if k < 60 else 60.0)
        v["temp_payload_c"][[1, 7, 11]] = hot  # satellites 2, 8 and 12
        v["temp_payload_c"][3] = -25.0 if k >= 10 else 30.0  # satellite 4, below red_low

    rule = _rule(type="limit", channel="temp_payload_c", limit="red_high", margin=6, for_s=5)
    steps, rows = _run(rule, _series(80, change), sats=limited)
    # 74 °C is inside the 6 K band below 78: the anomaly stays open until 60 °C.
    assert steps == [("open", 2, 15), ("closed", 2, 60)]
    assert rows[0].value == pytest.approx(7.0)  # how far past the limit, in kelvin
    assert "temp_payload_c 85 Cel, 7 past its red_high limit 78" in rows[0].message
    assert "back inside its red_high limit 78" in rows[1].message

    low = _rule(type="limit", channel="temp_payload_c", limit="red_low", margin=2, for_s=5)
    steps, rows = _run(low, _series(30, change), sats=limited)
    assert steps == [("open", 4, 15)]
    assert rows[0].value == pytest.approx(5.0)
    assert "temp_payload_c -25 Cel, 5 past its red_low limit -20" in rows[0].message

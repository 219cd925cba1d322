"""Streaming evaluation of per-satellite anomaly rules over decoded telemetry frames.

A batch's rows are taken tick by tick (the loop runs over ticks, never over satellites):
at each tick every rule scores the satellites that reported, vectorised over them, and one
state machine per rule raises, updates and clears anomalies. The whole state (per rule and
satellite: pending since, open since, worst score, previous value...) lives in flat arrays
over the known satellites. ``Detector.evaluate`` works on a copy and hands back the new
state; the caller keeps it only once the transaction holding the batch has committed, and
stores it per Kafka partition (a partition always carries the same satellites) in
``rule_state`` within that transaction, so a restart neither repeats nor misses an anomaly.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np
import zstandard

from ingest.rules.definitions import Rule
from twin.core.stats import group_median
from twin.physics import sun
from twin.wire.telemetry import CHANNELS, GROUPS, LIMIT_NAMES, Frame

FLEET = 0  # the satellite id that stands for the whole fleet (real ids start at 1)
NONE = np.iinfo(np.int64).min  # "no time" in the int64 µs state arrays
US_PER_S = 1_000_000
US_PER_MINUTE = 60 * US_PER_S
GROUP_NAMES = tuple(GROUPS)
# Per-rule state arrays: int64 µs times, float64 values.
_TIMES = ("pending_us", "clear_us", "open_us", "reported_us", "prev_us")
_VALUES = ("worst", "prev")
# What each state array holds for a satellite never seen.
_FILL = {"partition": -1, "frame_group": -1, "last_us": NONE, "gap_us": 0}
_FILL |= {name: NONE for name in _TIMES} | {name: np.nan for name in _VALUES}


@dataclass(frozen=True)
class Satellites:
    """What rules need of the registered satellites, each (n,), sorted by ``sat_id``.

    ``family``: an id per orbital plane (shell and plane); ``interval_s``: expected seconds
    between samples; ``array_nominal_w``: array output at 1 AU, normal incidence, today's
    ageing, NaN where the array is not Sun-tracking; ``capacity_wh``: battery nameplate.
    """

    sat_id: np.ndarray
    family: np.ndarray
    interval_s: np.ndarray
    array_nominal_w: np.ndarray
    capacity_wh: np.ndarray
    # laser terminals per satellite; None: every satellite has them
    laser_terminals: np.ndarray | None = None
    # channel -> (n, 4) limits red_low, yellow_low, yellow_high, red_high (NaN: none)
    limits: dict[str, np.ndarray] | None = None

    def limit(self, channel: str, name: str) -> np.ndarray:
        """(n,) each satellite's ``name`` limit of ``channel`` (a ``LIMIT_NAMES`` name), NaN
        where it has none."""
        table = (self.limits or {}).get(channel)
        if table is None:
            return np.full(self.sat_id.shape[0], np.nan)
        return table[:, LIMIT_NAMES.index(name)]

    def produces(self, channels: tuple[str, ...]) -> np.ndarray:
        """(n,) bool: whether each satellite's hardware can produce every one of
        ``channels`` (a satellite without laser terminals has no laser links to report)."""
        able = np.ones(self.sat_id.shape[0], dtype=bool)
        if self.laser_terminals is not None and LASER_CHANNELS.intersection(channels):
            able &= self.laser_terminals > 0
        return able


# Channels only a satellite with laser terminals produces meaningfully.
LASER_CHANNELS = frozenset({"isl_up"})


def load_satellites(conn) -> Satellites:
    """Read the ``satellites`` table and each satellite's ``channel_limits``."""
    rows = conn.execute(
        "SELECT sat_id, shell, plane, telemetry_interval_s, "
        "(hardware->>'array_area_m2')::float8 * (hardware->>'array_cell_efficiency')::float8 "
        "* (hardware->>'array_packing_factor')::float8 "
        "* power(1 - (hardware->>'array_degradation_per_year')::float8, "
        "(hardware->>'array_age_years')::float8), "
        "coalesce((hardware->>'array_tracking')::bool, true), "
        "(hardware->>'battery_capacity_wh')::float8, "
        "coalesce((hardware->>'laser_terminals')::float8, 1) "
        "FROM satellites ORDER BY sat_id"
    ).fetchall()
    if not rows:
        empty = np.empty(0)
        return Satellites(np.empty(0, np.int32), np.empty(0, np.int32), empty, empty, empty)
    sat_id, shell, plane, interval, array_w, tracking, capacity, lasers = zip(*rows, strict=True)
    planes = np.array([f"{s}/{p}" for s, p in zip(shell, plane, strict=True)])
    family = np.unique(planes, return_inverse=True)[1].astype(np.int32)
    ids = np.array(sat_id, dtype=np.int32)
    return Satellites(
        sat_id=ids,
        family=family,
        interval_s=np.array(interval, dtype=np.float64),
        array_nominal_w=np.where(
            np.array(tracking, dtype=bool), np.array(array_w, dtype=np.float64), np.nan
        ),
        capacity_wh=np.array(capacity, dtype=np.float64),
        laser_terminals=np.array(lasers, dtype=np.float64),
        limits=_load_limits(conn, ids),
    )


def _load_limits(conn, sat_id: np.ndarray) -> dict[str, np.ndarray]:
    """``channel_limits`` as channel -> (n, 4) float64 over ``sat_id`` (sorted), NaN where a
    satellite has no such limit."""
    rows = conn.execute(
        "SELECT channel, sat_id, red_low, yellow_low, yellow_high, red_high "
        "FROM channel_limits ORDER BY channel, sat_id"
    ).fetchall()
    limits: dict[str, np.ndarray] = {}
    for channel in dict.fromkeys(r[0] for r in rows):
        limits[channel] = np.full((sat_id.shape[0], len(LIMIT_NAMES)), np.nan)
    if not rows:
        return limits
    channel, row_ids, *values = zip(*rows, strict=True)
    ids = np.array(row_ids, np.int64)
    pos = np.searchsorted(sat_id, ids)
    known = (pos < sat_id.shape[0]) & (sat_id[np.minimum(pos, sat_id.shape[0] - 1)] == ids)
    table = np.array(values, dtype=np.float64).T  # None -> NaN
    names = np.array(channel)
    for name, array in limits.items():
        mine = known & (names == name)
        array[pos[mine]] = table[mine]
    return limits


@dataclass(frozen=True)
class AnomalyRow:
    """One step of an anomaly's lifecycle: ``state`` is open, updated or closed."""

    time_us: int
    anomaly_id: str
    sat_id: int | None
    rule: str
    severity: str
    state: str
    value: float | None
    message: str


class DetectorState:
    """Named state arrays over the known satellites (copyable, storable per partition)."""

    def __init__(self, rules: tuple[Rule, ...], n_sat: int) -> None:
        self.arrays: dict[str, np.ndarray] = {
            "partition": np.full(n_sat, -1, np.int32),
            "frame_group": np.full(n_sat, -1, np.int64),  # crc32 of the frame group's name
            "last_us": np.full((len(GROUP_NAMES), n_sat), NONE, np.int64),
            "gap_us": np.zeros((len(GROUP_NAMES), n_sat), np.int64),
        }
        for rule in rules:
            for name in _TIMES:
                self.arrays[f"{rule.name}/{name}"] = np.full(n_sat, NONE, np.int64)
            for name in _VALUES:
                self.arrays[f"{rule.name}/{name}"] = np.full(n_sat, np.nan)

    def copy(self) -> DetectorState:
        new = DetectorState((), 0)
        new.arrays = {k: v.copy() for k, v in self.arrays.items()}
        return new

    def blob(self, sat_id: np.ndarray, partition: int | None) -> bytes:
        """The state of the satellites last seen on ``partition`` (None: all satellites),
        as zstd-compressed npz."""
        part = self.arrays["partition"]
        rows = np.ones(part.shape, bool) if partition is None else part == partition
        out = io.BytesIO()
        np.savez(out, sat_id=sat_id[rows], **{k: v[..., rows] for k, v in self.arrays.items()})
        return zstandard.ZstdCompressor(level=3).compress(out.getvalue())

    def reset(self, rows: np.ndarray) -> None:
        """Forget the satellites at ``rows`` ((n_sat,) bool): as if never seen."""
        for name, array in self.arrays.items():
            array[..., rows] = _FILL[name.rsplit("/", 1)[-1]]

    def restore(self, sat_id: np.ndarray, blob: bytes) -> None:
        """Put a stored partition state back (rules or satellites no longer known are
        dropped; new rules start empty)."""
        with np.load(io.BytesIO(zstandard.ZstdDecompressor().decompress(blob))) as stored:
            pos = np.searchsorted(sat_id, stored["sat_id"])
            ok = (pos < sat_id.shape[0]) & (
                sat_id[np.minimum(pos, sat_id.shape[0] - 1)] == stored["sat_id"]
            )
            for name in stored.files:
                if name in self.arrays:
                    self.arrays[name][..., pos[ok]] = stored[name][..., ok]


@dataclass(frozen=True)
class _Tick:
    """The rows of one tick: satellite positions, values and present groups."""

    t_us: int
    idx: np.ndarray  # (m,) positions in Satellites
    values: dict[str, np.ndarray]  # channel -> (m,) float64, NaN when absent
    flux_w_m2: float


class Detector:
    """Evaluates a rule set on telemetry frames; see the module docstring."""

    def __init__(self, rules: tuple[Rule, ...], satellites: Satellites) -> None:
        """``rules``: the per-satellite rules of a ``RuleSet`` (or its fleet rules, with the
        fleet as the one satellite ``FLEET`` and scores given to ``evaluate_series``)."""
        self.rules = rules
        self.sats = satellites
        self.state = DetectorState(self.rules, satellites.sat_id.shape[0])
        self.channels = tuple(dict.fromkeys(c for r in self.rules for c in r.channels))

    def evaluate(self, frames: list[tuple[int, Frame]]) -> tuple[list[AnomalyRow], DetectorState]:
        """Run the rules over ``(partition, frame)`` pairs (in consumed order); returns the
        anomaly steps and the new state (the detector's own state is left as it was)."""
        state = self.state.copy()
        rows: list[AnomalyRow] = []
        if not frames:
            return rows, state
        counts = np.array([f.sat_id.shape[0] for _, f in frames])
        t_us = np.repeat([f.time_unix_ns // 1000 for _, f in frames], counts)
        idx = np.searchsorted(self.sats.sat_id, np.concatenate([f.sat_id for _, f in frames]))
        part = np.repeat([p for p, _ in frames], counts).astype(np.int32)
        group = np.repeat([zlib.crc32(f.group.encode()) for _, f in frames], counts)
        present = np.stack(
            [np.repeat([g[0] in f.channels for _, f in frames], counts) for g in GROUPS.values()]
        )
        values = {
            c: np.concatenate(
                [
                    f.channels[c].astype(np.float64) if c in f.channels else np.full(n, np.nan)
                    for (_, f), n in zip(frames, counts, strict=True)
                ]
            )
            for c in self.channels
        }
        order = np.argsort(t_us, kind="stable")
        times, starts = np.unique(t_us[order], return_index=True)
        flux = (
            sun.SOLAR_CONSTANT_W_M2
            * (sun.AU_KM / np.linalg.norm(sun.sun_teme_km(times * 1000), axis=0)) ** 2
        )
        bounds = [*starts[1:], order.shape[0]]
        for k, (t, a, b) in enumerate(zip(times.tolist(), starts, bounds, strict=True)):
            rows_k = order[a:b]
            # A replayed tick (a twin resumed from a checkpoint sends again what followed
            # it) was scored already: only samples newer than each satellite's last count.
            rows_k = rows_k[t > state.arrays["last_us"][:, idx[rows_k]].max(axis=0)]
            if rows_k.shape[0] == 0:
                continue
            tick = _Tick(t, idx[rows_k], {c: v[rows_k] for c, v in values.items()}, flux[k])
            self._track(state, tick, part[rows_k], group[rows_k], present[:, rows_k])
            for rule in self.rules:
                where, score, valid, data = self._score(state, rule, tick)
                rows += self._step(state, rule, t, where, score, valid, data)
        return rows, state

    def evaluate_series(
        self, t_us: np.ndarray, scores: np.ndarray
    ) -> tuple[list[AnomalyRow], DetectorState]:
        """Run the rules over a series of one entity (the fleet): ``t_us`` (m,) int64 times,
        ``scores`` (n_rules, m) float64 (NaN: no value); same contract as ``evaluate``."""
        state = self.state.copy()
        rows: list[AnomalyRow] = []
        where = np.zeros(1, np.int64)
        for k, t in enumerate(t_us.tolist()):
            for r, rule in enumerate(self.rules):
                score = scores[r, k : k + 1]
                data = np.isfinite(score)
                last = state.arrays["last_us"][0, 0]
                if last != NONE and t - last > US_PER_MINUTE:  # a gap: nothing carries over
                    for name in ("pending_us", "clear_us"):
                        state.arrays[f"{rule.name}/{name}"][:] = NONE
                rows += self._step(state, rule, t, where, score, data, data)
            state.arrays["last_us"][0, 0] = t
        return rows, state

    def _track(self, state: DetectorState, tick: _Tick, part, group, present) -> None:
        """Record the partition and frame group each satellite came in, when each channel
        group was last seen and its sample interval (the shortest seen: a silence must not
        stretch it). ``part``, ``group``: (m,) ints; ``present``: (n_groups, m) bool."""
        s = state.arrays
        s["partition"][tick.idx] = part
        s["frame_group"][tick.idx] = group
        last, gap = s["last_us"], s["gap_us"]
        for g in range(len(GROUP_NAMES)):
            seen = tick.idx[present[g]]
            known = last[g, seen] != NONE
            now = tick.t_us - last[g, seen[known]]
            before = gap[g, seen[known]]
            gap[g, seen[known]] = np.where(before > 0, np.minimum(before, now), now)
            last[g, seen] = tick.t_us

    def _score(self, state: DetectorState, rule: Rule, tick: _Tick):
        """``(where, score, valid, data)`` of ``rule`` at this tick, each (m,): positions in
        ``Satellites``, the score, whether it counts (data, context and a finite score), and
        whether the satellite had the rule's data at all (without data a pending or clearing
        anomaly waits; out of context it starts over)."""
        s = state.arrays
        if rule.type == "missing":
            # Every satellite of the frame groups reporting now: samples missed so far.
            groups = np.unique(s["frame_group"][tick.idx])
            where = np.nonzero(np.isin(s["frame_group"], groups))[0]
            g = GROUP_NAMES.index(rule.group)
            last, gap = s["last_us"][g, where], s["gap_us"][g, where]
            expected_us = np.where(gap > 0, gap, self.sats.interval_s[where] * US_PER_S)
            valid = last != NONE
            score = np.where(valid, (tick.t_us - last) / np.maximum(expected_us, 1.0), np.nan)
            return where, score, valid, valid
        where, v = tick.idx, tick.values
        # A channel the satellite's hardware cannot produce is no data: never judged.
        data = np.logical_and.reduce([np.isfinite(v[c]) for c in rule.channels])
        data &= self.sats.produces(rule.channels)[where]
        valid = data.copy()
        for c in rule.when:
            x = v[c.channel]
            valid &= (x == float(c.equals)) if c.level is None else c.level.passed(x)
        if rule.type == "residual":
            if rule.channel == "battery_capacity_wh":
                soc = v["soc"]
                x = np.where(soc > 0.05, v["battery_wh"] / np.where(soc > 0.05, soc, 1.0), np.nan)
            else:
                x = v[rule.channel]
            if rule.expected == "array_power_w":
                expected = v["illumination"] * tick.flux_w_m2 * self.sats.array_nominal_w[where]
            else:
                expected = self.sats.capacity_wh[where]
            ok = np.isfinite(x) & (expected > 0)
            score = np.where(ok, x / np.where(ok, expected, 1.0), np.nan)
            # No expectation (a time outside the ephemeris: NaN flux) is no data: the rule
            # waits rather than judging or starting over.
            return where, score, valid & ok, data & np.isfinite(expected)
        x = v[rule.channel]
        if rule.type == "limit":
            # How far past the satellite's own limit; a satellite without it is never judged.
            bound = self.sats.limit(rule.channel, rule.limit)[where]
            data &= np.isfinite(bound)
            score = x - bound if rule.limit.endswith("_high") else bound - x
            return where, score, valid & data & np.isfinite(score), data
        finite = np.isfinite(x)
        prev, prev_us = s[f"{rule.name}/prev"], s[f"{rule.name}/prev_us"]
        p, p_us = prev[where], prev_us[where]
        seen = p_us != NONE
        if rule.type == "threshold" and rule.count_over_s is not None:
            dt_s = np.where(seen, (tick.t_us - p_us) / US_PER_S, 0.0)
            score = np.where(seen, p, 0.0) * np.exp(-dt_s / rule.count_over_s) + x
        elif rule.type == "rate":
            dt_s = (tick.t_us - p_us) / US_PER_S
            score = np.where(seen & (dt_s > 0), (x - p) / np.where(dt_s > 0, dt_s, 1.0), np.nan)
        elif rule.type == "stuck":
            changed = ~seen | (x != p)
            p_us = np.where(changed, tick.t_us, p_us)
            score = np.where(finite, (tick.t_us - p_us) / US_PER_S, np.nan)
        elif rule.type == "out_of_family":
            score = _robust_z(
                x,
                self.sats.family[where] if rule.against == "plane" else None,
                valid & finite,
                rule.min_spread,
                rule.min_members,
            )
        else:
            score = x
        if rule.type in ("threshold", "rate", "stuck"):
            keep = finite
            prev[where[keep]] = score[keep] if rule.count_over_s is not None else x[keep]
            prev_us[where[keep]] = p_us[keep] if rule.type == "stuck" else tick.t_us
        return where, score, valid & np.isfinite(score), data

    def _step(self, state, rule: Rule, t: int, where, score, valid, data) -> list[AnomalyRow]:
        """The rule's state machine for the satellites at ``where`` (m,) at time ``t`` (µs):
        pending → open (after ``for_s``) → updated (every ``update_every_s``) → closed (after
        ``clear_for_s`` past the clear level). Where ``valid`` (m,) is False an anomaly
        neither rises nor clears; where ``data`` (m,) is False too, the time already spent
        pending or clearing is kept for when data returns."""
        s = {name: state.arrays[f"{rule.name}/{name}"] for name in (*_TIMES, *_VALUES)}
        trig = valid & rule.trigger.passed(score)
        clr = valid & rule.clear.passed(score)
        is_open = s["open_us"][where] != NONE
        pending = s["pending_us"][where]
        pending = np.where(
            data, np.where(trig & ~is_open, np.where(pending == NONE, t, pending), NONE), pending
        )
        rise = trig & ~is_open & (t - pending >= rule.for_s * US_PER_S)
        clearing = s["clear_us"][where]
        clearing = np.where(
            data, np.where(clr & is_open, np.where(clearing == NONE, t, clearing), NONE), clearing
        )
        close = is_open & clr & (t - clearing >= rule.clear_for_s * US_PER_S)
        worst = s["worst"][where]
        worse = np.fmax if rule.trigger.direction == "above" else np.fmin
        worst = np.where(rise, score, np.where(is_open & valid, worse(worst, score), worst))
        reported = s["reported_us"][where]
        update = is_open & ~close & (t - reported >= rule.update_every_s * US_PER_S)
        opened = np.where(rise, t, s["open_us"][where])
        s["pending_us"][where] = np.where(rise, NONE, pending)
        s["clear_us"][where] = np.where(close, NONE, clearing)
        s["open_us"][where] = np.where(close, NONE, opened)
        s["reported_us"][where] = np.where(rise | update, t, np.where(close, NONE, reported))
        s["worst"][where] = np.where(close, np.nan, worst)
        out = []
        for state_name, mask in (("open", rise), ("updated", update), ("closed", close)):
            for i in np.nonzero(mask)[0].tolist():
                out.append(
                    self._row(
                        rule,
                        state_name,
                        t,
                        int(where[i]),
                        int(opened[i]),
                        float(worst[i]),
                        float(score[i]),
                    )
                )
        return out

    def _row(
        self, rule: Rule, state: str, t: int, pos: int, opened_us: int, worst: float, score: float
    ) -> AnomalyRow:
        sat = int(self.sats.sat_id[pos])
        subject = rule.channel or rule.measure or f"{rule.group} telemetry"
        value = worst if state != "closed" else score
        level = rule.trigger if state != "closed" else rule.clear
        message = f"{rule.type} of {subject}: {value:.4g} ({level.direction} {level.value:g})"
        if rule.type == "limit":
            bound = float(self.sats.limit(rule.channel, rule.limit)[pos])
            side = 1.0 if rule.limit.endswith("_high") else -1.0
            unit = CHANNELS[rule.channel].unit
            where = "past" if state != "closed" else "back inside"
            message = (
                f"{rule.channel} {bound + side * value:.4g} {unit}, {abs(value):.4g} {where} "
                f"its {rule.limit} limit {bound:.4g}"
            )
        return AnomalyRow(
            time_us=t,
            anomaly_id=f"{rule.name}:{sat if sat != FLEET else 'fleet'}:{opened_us // US_PER_S}",
            sat_id=sat if sat != FLEET else None,
            rule=rule.name,
            severity=rule.severity,
            state=state,
            value=value if np.isfinite(value) else None,
            message=message,
        )


def _robust_z(x, family, ok, min_spread: float, min_members: int) -> np.ndarray:
    """(x − family median) / max(1.4826 × MAD, min_spread) per family, NaN for rows not
    ``ok`` or in families with fewer than ``min_members`` rows ``ok``."""
    fam = np.zeros(x.shape[0], np.int64) if family is None else family.astype(np.int64)
    fam = np.where(ok, fam, -1)
    med = group_median(x, fam)
    spread = np.maximum(1.4826 * group_median(np.abs(x - med), fam), min_spread)
    members = np.bincount(fam[ok], minlength=fam.max() + 1 if ok.any() else 0)
    enough = ok & (members[np.maximum(fam, 0)] >= min_members) if ok.any() else ok
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(enough & (spread > 0), (x - med) / spread, np.nan)

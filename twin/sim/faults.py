"""Fault injection: scenarios of hardware faults and telemetry faults, applied as arrays.

A ``Scenario`` lists faults, each on one satellite, from an onset (seconds after the run's
start) to an end (``inf`` when permanent), with a magnitude whose meaning depends on the
kind (see ``KINDS`` and ``MAGNITUDE_RANGES``). Scenarios are TOML files (``load_scenario``,
``dump_scenario``) or are drawn from a seed (``generate``).

``bind`` ties a scenario to one fleet's rows (a ``Faults``); then, per tick, with no loop over
faults or satellites:

- ``hardware_at``: the hardware with the active faults' parameter changes (array area,
  radiator emissivity, upset rate, laser range);
- ``apply_onsets``: the battery cells lost at their onset, once;
- ``telemetry_at``: stuck sensors and silent satellites, affecting telemetry only.

A fault is active at tick time ``t_s`` when ``onset_s <= t_s < end_s``: it takes effect at
the first tick whose time is at or after its onset.

File format (TOML)::

    name = "threebody-2800-seed1"
    preset = "threebody-2800"     # the preset's name: the fleet the sat_ids belong to
    seed = 1
    duration_s = 21600.0          # the run length the scenario is meant for
    [[faults]]
    kind = "stuck_sensor"         # one of KINDS
    sat_id = 123
    onset_s = 3600.0              # seconds after the run's start
    duration_s = 1200.0           # optional; absent: permanent
    magnitude = 0.0               # in MAGNITUDE_RANGES for the kind
    channel = "temp_payload_c"    # stuck_sensor only (required there), one of STUCK_CHANNELS

Length: the file format, its checks and the draw are one definition of a fault kind each;
kept together so that adding a kind touches one module.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from twin.core.settings import ConfigError, InputError
from twin.fleet.hardware import Hardware
from twin.physics.state import FleetState

KINDS = (
    "battery_capacity_loss",
    "solar_string_failure",
    "radiator_degradation",
    "upset_storm",
    "laser_terminal_failure",
    "stuck_sensor",
    "telemetry_dropout",
    "attitude_fault",
)
BATTERY, SOLAR, RADIATOR, UPSET, LASER, STUCK, DROPOUT, ATTITUDE = range(len(KINDS))
STUCK_CHANNELS = ("temp_payload_c", "temp_radiator_c", "alt_km")  # never still nominally
NO_CHANNEL = -1
HOURS_PER_DAY = 24.0
MIN_GENERATE_DURATION_S = 7_200.0
FIRST_ONSET_S = 900.0  # generated onsets: not before 15 min into the run ...
LAST_ONSET_BEFORE_END_S = 4_500.0  # ... and at least 75 min before its end
SAT_ID_MAX = 2**31 - 1

# Accepted magnitude of each kind, as (low, high, low_open, high_open), in KINDS order.
MAGNITUDE_RANGES = (
    (0.0, 1.0, True, True),  # battery_capacity_loss: share of cells lost
    (0.0, 1.0, True, True),  # solar_string_failure: share of array strings lost
    (0.0, 1.0, True, True),  # radiator_degradation: share of emissivity lost
    (0.0, 36_000.0, True, False),  # upset_storm: upsets per hour
    (1.0, 1.0, False, False),  # laser_terminal_failure: share of terminals lost (all)
    (0.0, 0.0, False, False),  # stuck_sensor: none
    (0.0, 0.0, False, False),  # telemetry_dropout: none
    (0.0, 90.0, True, False),  # attitude_fault: array off-Sun angle, degrees
)
# What ``generate`` draws, uniformly, in KINDS order: magnitude low/high, and duration
# low/high in seconds (NaN: permanent).
_NAN = math.nan
GENERATE_MAGNITUDE = np.array(
    [[0.3, 0.6], [0.2, 0.45], [0.55, 0.8], [120.0, 480.0], [1.0, 1.0], [0, 0], [0, 0], [30, 75]],
    dtype=np.float64,
)
GENERATE_DURATION_S = np.array(
    [
        [_NAN, _NAN],
        [_NAN, _NAN],
        [_NAN, _NAN],
        [600.0, 1_800.0],
        [_NAN, _NAN],
        [1_200.0, 3_600.0],
        [300.0, 1_200.0],
        [900.0, 3_600.0],
    ],
    dtype=np.float64,
)
MAGNITUDE_DECIMALS = 3  # generated magnitudes are rounded, for readable files
FAULT_KEYS = ("kind", "sat_id", "onset_s", "duration_s", "magnitude", "channel")
TOP_KEYS = ("name", "preset", "seed", "duration_s", "faults")


@dataclass(frozen=True, eq=False)
class Scenario:
    """Faults meant for one preset's fleet over a run of ``duration_s`` seconds.

    Attributes
    ----------
    kind : (n_fault,) int16 index into ``KINDS``.
    sat_id : (n_fault,) int32 satellite of each fault.
    onset_s : (n_fault,) float64, seconds after the run's start.
    end_s : (n_fault,) float64, onset + duration, s; ``inf`` when permanent.
    magnitude : (n_fault,) float64, per kind: share lost (battery, solar, radiator, laser),
        upsets per hour (upset_storm), degrees off the Sun (attitude_fault), 0 otherwise.
    channel : (n_fault,) name in ``STUCK_CHANNELS`` for stuck_sensor, "" otherwise.
    """

    name: str
    preset: str
    seed: int
    duration_s: float
    kind: np.ndarray
    sat_id: np.ndarray
    onset_s: np.ndarray
    end_s: np.ndarray
    magnitude: np.ndarray
    channel: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.kind.shape[0]
        lengths = {a.shape for a in (self.sat_id, self.onset_s, self.end_s, self.magnitude)}
        if lengths - {(n,)} or len(self.channel) != n:
            raise ValueError(f"Scenario: every fault array must have shape ({n},)")

    @property
    def n_faults(self) -> int:
        return int(self.kind.shape[0])

    def kind_name(self, i: int) -> str:
        return KINDS[int(self.kind[i])]

    def counts(self) -> dict[str, int]:
        """Number of faults of each kind, in ``KINDS`` order."""
        n = np.bincount(self.kind.astype(np.intp), minlength=len(KINDS))
        return dict(zip(KINDS, n.tolist(), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        arrays = ("kind", "sat_id", "onset_s", "end_s", "magnitude")
        return (
            (self.name, self.preset, self.seed, self.duration_s, self.channel)
            == (other.name, other.preset, other.seed, other.duration_s, other.channel)
            and all(getattr(self, a).dtype == getattr(other, a).dtype for a in arrays)
            and all(np.array_equal(getattr(self, a), getattr(other, a)) for a in arrays)
        )


def _make(name, preset, seed, duration_s, kind, sat_id, onset_s, end_s, magnitude, channel):
    return Scenario(
        name=name,
        preset=preset,
        seed=int(seed),
        duration_s=float(duration_s),
        kind=np.asarray(kind, np.int16).reshape(-1),
        sat_id=np.asarray(sat_id, np.int32).reshape(-1),
        onset_s=np.asarray(onset_s, np.float64).reshape(-1),
        end_s=np.asarray(end_s, np.float64).reshape(-1),
        magnitude=np.asarray(magnitude, np.float64).reshape(-1),
        channel=tuple(channel),
    )


# --- files -------------------------------------------------------------------------------


def _whole(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field(table: dict, key: str, where: str, check, accepted: str):
    value = table.get(key)
    if not check(value):
        raise ConfigError(f"{where}{key}", value, accepted)
    return value


def _range_text(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if low == high:
        return f"exactly {low:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file (format in the module's docstring).

    Raises ``ConfigError`` naming the field (``faults[i].magnitude`` ...), the value and
    what is accepted; ``InputError`` naming the file when it cannot be read.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: {exc}") from None
    return scenario_from_table(data)


def scenario_from_table(data: dict) -> Scenario:
    """A scenario from its parsed TOML table (the keys ``TOP_KEYS``), validated as
    ``load_scenario`` does; raises ``ConfigError`` naming the field."""
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(unknown[0], data[unknown[0]], f"one of the keys {', '.join(TOP_KEYS)}")
    name = _field(data, "name", "", lambda v: isinstance(v, str) and v != "", "a non-empty string")
    preset = _field(data, "preset", "", lambda v: isinstance(v, str) and v != "", "a preset name")
    seed = _field(
        data, "seed", "", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"
    )
    duration_s = _field(
        data,
        "duration_s",
        "",
        lambda v: _number(v) and 0 < v < math.inf,
        "a positive number of seconds",
    )
    entries = data.get("faults", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("faults", entries, "an array of tables ([[faults]])")
    # Parsing runs over the file's tables; the checks of values run over arrays below.
    parsed = [_parse_fault(entry, f"faults[{i}].") for i, entry in enumerate(entries)]
    columns = list(zip(*parsed, strict=True)) if parsed else [()] * 6
    kind, sat_id, onset_s, fault_s, magnitude, channel = columns
    kind = np.asarray(kind, np.int16)
    magnitude = np.asarray(magnitude, np.float64)
    ranges = np.asarray(MAGNITUDE_RANGES, np.float64)[kind]  # (n_fault, 4)
    low, high = ranges[:, 0], ranges[:, 1]
    low_open, high_open = ranges[:, 2] != 0, ranges[:, 3] != 0
    bad = np.where(low_open, magnitude <= low, magnitude < low) | np.where(
        high_open, magnitude >= high, magnitude > high
    )
    bad |= ~np.isfinite(magnitude)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"faults[{i}].magnitude",
            float(magnitude[i]),
            f"{_range_text(*MAGNITUDE_RANGES[kind[i]])} for {KINDS[kind[i]]}",
        )
    onset = np.asarray(onset_s, np.float64)
    late = onset >= duration_s
    if late.any():
        i = int(np.flatnonzero(late)[0])
        raise ConfigError(
            f"faults[{i}].onset_s", float(onset[i]), f"less than duration_s ({duration_s:g})"
        )
    end = onset + np.asarray(fault_s, np.float64)  # inf for permanent faults
    return _make(name, preset, seed, duration_s, kind, sat_id, onset, end, magnitude, channel)


def _parse_fault(entry: dict, where: str) -> tuple[int, int, float, float, float, str]:
    """One ``[[faults]]`` table: (kind, sat_id, onset_s, duration_s or inf, magnitude,
    channel)."""
    unknown = sorted(set(entry) - set(FAULT_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}{unknown[0]}", entry[unknown[0]], f"one of the keys {', '.join(FAULT_KEYS)}"
        )
    kind = _field(entry, "kind", where, lambda v: v in KINDS, f"one of {', '.join(KINDS)}")
    sat_id = _field(
        entry,
        "sat_id",
        where,
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= SAT_ID_MAX,
        "a satellite id (integer, 0 or more)",
    )
    onset_s = _field(
        entry,
        "onset_s",
        where,
        lambda v: _number(v) and 0 <= v < math.inf,
        "seconds after the run's start (a number, 0 or more)",
    )
    duration_s = math.inf
    if "duration_s" in entry:
        duration_s = _field(
            entry,
            "duration_s",
            where,
            lambda v: _number(v) and 0 < v < math.inf,
            "a positive number of seconds (leave it out for a permanent fault)",
        )
    magnitude = _field(entry, "magnitude", where, _number, "a number")
    channel = ""
    if kind == "stuck_sensor":
        channel = _field(
            entry, "channel", where, lambda v: v in STUCK_CHANNELS, f"one of {STUCK_CHANNELS}"
        )
    elif "channel" in entry:
        raise ConfigError(f"{where}channel", entry["channel"], "no channel except for stuck_sensor")
    return KINDS.index(kind), sat_id, float(onset_s), float(duration_s), float(magnitude), channel


def _toml_string(text: str) -> str:
    escaped = "".join(
        c if c not in '"\\' and 0x1F < ord(c) != 0x7F else f"\\u{ord(c):04x}" for c in text
    )
    return f'"{escaped}"'


def dump_scenario(s: Scenario) -> str:
    """TOML text of ``s`` that ``load_scenario`` reads back equal to ``s``.

    Durations are written as ``end_s - onset_s``; they read back exactly when onsets and
    durations are whole seconds (as ``generate`` draws them), otherwise to within rounding.
    """
    lines = [
        f"name = {_toml_string(s.name)}",
        f"preset = {_toml_string(s.preset)}",
        f"seed = {s.seed}",
        f"duration_s = {float(s.duration_s)!r}",
    ]
    fault_s = s.end_s - s.onset_s
    # Formatting text: one table per fault.
    for i in range(s.n_faults):
        lines += [
            "",
            "[[faults]]",
            f"kind = {_toml_string(KINDS[int(s.kind[i])])}",
            f"sat_id = {int(s.sat_id[i])}",
            f"onset_s = {float(s.onset_s[i])!r}",
        ]
        if np.isfinite(fault_s[i]):
            lines.append(f"duration_s = {float(fault_s[i])!r}")
        lines.append(f"magnitude = {float(s.magnitude[i])!r}")
        if s.channel[i]:
            lines.append(f"channel = {_toml_string(s.channel[i])}")
    return "\n".join(lines) + "\n"


def generate(
    preset: str,
    sat_id: np.ndarray,
    seed: int,
    duration_s: float,
    per_kind: int = 6,
    name: str | None = None,
) -> Scenario:
    """A scenario of ``per_kind`` faults of every kind on distinct satellites of ``sat_id``
    (n_sat,), onsets uniform in [900 s, duration_s − 4500 s] and magnitudes and durations
    uniform in the kinds' ranges (``GENERATE_MAGNITUDE``, ``GENERATE_DURATION_S``).

    Onsets and durations are whole seconds; magnitudes are rounded to
    ``MAGNITUDE_DECIMALS``. The same arguments give the same scenario (PCG64(seed)).
    """
    sat_id = np.asarray(sat_id, np.int32).reshape(-1)
    if not _whole(seed) or seed < 0:
        raise ConfigError("seed", seed, "a whole number, 0 or more")
    if not _whole(per_kind) or per_kind < 1:
        raise ConfigError("per_kind", per_kind, "a whole number of faults of each kind, 1 or more")
    per_kind, seed = int(per_kind), int(seed)
    n = per_kind * len(KINDS)
    if sat_id.shape[0] < n:
        raise ConfigError(
            "sat_id",
            f"{sat_id.shape[0]} satellites",
            f"at least {n} satellites ({per_kind} faults of each of {len(KINDS)} kinds, "
            "no satellite with two)",
        )
    if not MIN_GENERATE_DURATION_S <= duration_s < math.inf:
        raise ConfigError("duration_s", duration_s, "at least 7200 s (2 h)")
    rng = np.random.Generator(np.random.PCG64(seed))
    kind = np.repeat(np.arange(len(KINDS), dtype=np.int16), per_kind)
    sats = rng.choice(sat_id, size=n, replace=False)
    onset = np.floor(rng.uniform(FIRST_ONSET_S, duration_s - LAST_ONSET_BEFORE_END_S, n))
    mag_low, mag_high = GENERATE_MAGNITUDE[kind].T
    magnitude = np.round(rng.uniform(mag_low, mag_high), MAGNITUDE_DECIMALS)
    dur_low, dur_high = GENERATE_DURATION_S[kind].T
    permanent = np.isnan(dur_low)
    lasting = np.floor(rng.uniform(np.where(permanent, 0.0, dur_low), np.nan_to_num(dur_high)))
    end = np.where(permanent, np.inf, onset + lasting)
    pick = rng.integers(0, len(STUCK_CHANNELS), n)
    channel = np.where(kind == STUCK, np.asarray(STUCK_CHANNELS)[pick], "")
    return _make(
        name or f"{preset}-seed{seed}",
        preset,
        seed,
        duration_s,
        kind,
        sats,
        onset,
        end,
        magnitude,
        channel.tolist(),
    )


# --- application -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Faults:
    """A scenario bound to one fleet's rows; faults on satellites outside it are dropped.

    Attributes
    ----------
    n_sat : satellites of the fleet.
    index : (n_bound,) intp, the fault's index in the scenario.
    row : (n_bound,) intp, the satellite's row in the fleet.
    kind : (n_bound,) int16 index into ``KINDS``.
    onset_s, end_s : (n_bound,) float64, s after the run's start (``end_s`` inf: permanent).
    magnitude : (n_bound,) float64, as in ``Scenario``.
    channel : (n_bound,) int16 index into ``STUCK_CHANNELS``, ``NO_CHANNEL`` if none.
    """

    n_sat: int
    index: np.ndarray
    row: np.ndarray
    kind: np.ndarray
    onset_s: np.ndarray
    end_s: np.ndarray
    magnitude: np.ndarray
    channel: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_faults(self) -> int:
        return int(self.kind.shape[0])

    def active(self, t_s: float) -> np.ndarray:
        """(n_bound,) bool: faults active at ``t_s`` (onset_s <= t_s < end_s)."""
        return (self.onset_s <= t_s) & (t_s < self.end_s)


def bind(scenario: Scenario, fleet_sat_id: np.ndarray, strict: bool = True) -> Faults:
    """The scenario's faults on the satellites ``fleet_sat_id`` (n_sat,), by row.

    ``strict``: a fault on a satellite not in the fleet is a ``ConfigError`` naming
    ``faults[i].sat_id``; otherwise it is dropped (it belongs to another shard).
    """
    ids = np.asarray(fleet_sat_id).reshape(-1)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.minimum(np.searchsorted(sorted_ids, scenario.sat_id), max(ids.shape[0] - 1, 0))
    found = (
        sorted_ids[pos] == scenario.sat_id if ids.shape[0] else np.zeros(scenario.n_faults, bool)
    )
    if strict and not found.all():
        i = int(np.flatnonzero(~found)[0])
        span = f" ({ids.min()}..{ids.max()})" if ids.shape[0] else ""
        raise ConfigError(
            f"faults[{i}].sat_id",
            int(scenario.sat_id[i]),
            f"a satellite of the fleet: {ids.shape[0]} satellites{span}",
        )
    names = np.asarray(scenario.channel, dtype=str).reshape(-1, 1)
    matches = names == np.asarray(STUCK_CHANNELS).reshape(1, -1)  # (n_fault, n_channel)
    channel = np.where(matches.any(axis=1), matches.argmax(axis=1), NO_CHANNEL)
    index = np.flatnonzero(found)
    return Faults(
        n_sat=int(ids.shape[0]),
        index=index,
        row=order[pos[index]].astype(np.intp),
        kind=scenario.kind[index],
        onset_s=scenario.onset_s[index],
        end_s=scenario.end_s[index],
        magnitude=scenario.magnitude[index],
        channel=channel[index].astype(np.int16),
    )


_HARDWARE_KINDS = np.array([SOLAR, RADIATOR, UPSET, LASER, ATTITUDE], np.int16)


def hardware_at(faults: Faults, hw: Hardware, t_s: float) -> Hardware:
    """``hw`` with the parameter changes of the faults active at ``t_s``, per satellite:

    - solar_string_failure: ``array_area_m2`` × (1 − magnitude);
    - attitude_fault: ``array_area_m2`` × cos(magnitude°) (the incidence cosine);
    - radiator_degradation: ``radiator_emissivity`` × (1 − magnitude);
    - upset_storm: ``upset_rate_per_day`` = max(nominal, magnitude × 24);
    - laser_terminal_failure: ``isl_range_km`` = 0 (no link with the satellite closes).

    Several faults on one satellite combine (products, the highest rate). Returns ``hw``
    itself when no such fault is active, and the same object as the last call while the
    active set and ``hw`` are unchanged.
    """
    on = faults.active(t_s) & np.isin(faults.kind, _HARDWARE_KINDS)
    if not on.any():
        return hw
    key = np.flatnonzero(on).tobytes()
    cached = faults._cache.get("hardware")
    if cached is not None and cached[0] is hw and cached[1] == key:
        return cached[2]
    kind, row, m = faults.kind[on], faults.row[on], faults.magnitude[on]
    n = faults.n_sat
    array_share = np.where(
        kind == SOLAR, 1.0 - m, np.where(kind == ATTITUDE, np.cos(np.deg2rad(m)), 1.0)
    )
    area = np.ones(n)
    np.multiply.at(area, row, array_share)
    emissivity = np.ones(n)
    np.multiply.at(emissivity, row, np.where(kind == RADIATOR, 1.0 - m, 1.0))
    rate_per_day = hw.upset_rate_per_day.copy()
    np.maximum.at(rate_per_day, row, np.where(kind == UPSET, m * HOURS_PER_DAY, 0.0))
    lost = np.zeros(n, bool)
    lost[row[kind == LASER]] = True
    effective = Hardware(
        {
            **hw.arrays,
            "array_area_m2": hw.array_area_m2 * area,
            "radiator_emissivity": hw.radiator_emissivity * emissivity,
            "upset_rate_per_day": rate_per_day,
            "isl_range_km": np.where(lost, 0.0, hw.isl_range_km),
        }
    )
    faults._cache["hardware"] = (hw, key, effective)
    return effective


def apply_onsets(faults: Faults, state: FleetState, since_s: float, t_s: float) -> FleetState:
    """``state`` with the battery cells lost by battery_capacity_loss faults whose onset
    falls in (``since_s``, ``t_s``]: ``battery_capacity_wh`` and ``battery_wh`` × (1 − m)
    (failed cells take their charge with them, so the state of charge is unchanged).

    Called before each tick with ``since_s`` the previous tick's time and ``t_s`` this
    tick's (the same floats as the previous call's ``t_s``), each loss applies exactly once,
    at the first tick whose time is at or after its onset, also across a resumed run.
    Returns ``state`` itself when nothing sets in.
    """
    hit = (faults.kind == BATTERY) & (faults.onset_s > since_s) & (faults.onset_s <= t_s)
    if not hit.any():
        return state
    keep = np.ones(faults.n_sat)
    np.multiply.at(keep, faults.row[hit], 1.0 - faults.magnitude[hit])
    return replace(
        state,
        battery_wh=state.battery_wh * keep,
        battery_capacity_wh=state.battery_capacity_wh * keep,
    )


@dataclass(frozen=True)
class Held:
    """Values stuck sensors keep reporting: ``value`` (n_channel, n_sat) float64 in the
    channel's unit, ``held`` (n_channel, n_sat) bool; channels in ``STUCK_CHANNELS`` order."""

    value: np.ndarray
    held: np.ndarray


def nothing_held(n_sat: int) -> Held:
    """No sensor stuck yet (start of a run, or of a resumed one)."""
    shape = (len(STUCK_CHANNELS), n_sat)
    return Held(np.full(shape, np.nan), np.zeros(shape, bool))


def telemetry_at(
    faults: Faults, channels: dict[str, np.ndarray], t_s: float, held: Held
) -> tuple[dict[str, np.ndarray], np.ndarray, Held]:
    """Telemetry as the faults active at ``t_s`` make it look; physics is unaffected.

    ``channels``: (n_sat,) arrays of one tick (not modified). Returns the channels with
    stuck sensors reporting the value they had at the first tick of their fault, the
    (n_sat,) bool mask of satellites silent (telemetry_dropout), and the held values for
    the next tick (the engine keeps them in its checkpointed state). With no stuck sensor
    active, ``channels`` itself is returned.
    """
    on = faults.active(t_s)
    silent = np.zeros(faults.n_sat, bool)
    silent[faults.row[on & (faults.kind == DROPOUT)]] = True
    stuck = on & (faults.kind == STUCK)
    stuck_now = np.zeros(held.held.shape, bool)
    stuck_now[faults.channel[stuck], faults.row[stuck]] = True
    if not stuck_now.any():
        return channels, silent, held if not held.held.any() else nothing_held(faults.n_sat)
    now = np.stack([np.asarray(channels[name], np.float64) for name in STUCK_CHANNELS])
    keep = stuck_now & held.held
    value = np.where(keep, held.value, np.where(stuck_now, now, np.nan))
    reported = np.where(stuck_now, value, now)
    out = dict(channels)
    out.update(
        {
            name: reported[k].astype(np.asarray(channels[name]).dtype)
            for k, name in enumerate(STUCK_CHANNELS)
        }
    )
    return out, silent, Held(value, stuck_now)

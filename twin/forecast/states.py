"""State forecasts: every satellite flown ahead from a fork (a run's checkpoint, or the
initial state), its state of charge, payload temperature and work summed per orbit.

An orbit here is one period of the satellite's mean motion counted from the fork (not
from a node crossing): the k-th orbit of a satellite spans ``[fork + k·P, fork + (k+1)·P)``,
the last one cut by the horizon. Per orbit: the lowest state of charge and when, the
hottest payload, the work delivered and the work the accelerator could have delivered (its
peak at the clock of the throttle state it ran at, while not in safe mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from twin.core.clock import NS_PER_S
from twin.fleet.constellation import Fleet, RowsOf
from twin.fleet.hardware import Hardware
from twin.payload import schedule as payload
from twin.physics import power, thermal
from twin.sim import engine, reality
from twin.wire import events, jobs
from twin.wire.telemetry import Frame


def orbit_periods_s(fleet: Fleet) -> np.ndarray:
    """(n_sat,) float64 orbital period of each satellite's mean motion, s."""
    rad_per_min = np.array([s.no_kozai for s in fleet.elements])  # once per forecast
    return 2.0 * math.pi / rad_per_min * 60.0


def mirrored(hw: Hardware, multipliers: dict[str, np.ndarray]) -> Hardware:
    """``hw`` with the mirror's estimates applied: each parameter that is a hardware field
    × its multiplier (n_sat,), NaN (no estimate) leaving the preset's value."""
    known = {
        name: np.where(np.isnan(m), 1.0, m) for name, m in multipliers.items() if name in hw.arrays
    }
    return reality.truth_hardware(hw, known)


def mirrored_battery(state: engine.TwinState, capacity: np.ndarray) -> engine.TwinState:
    """``state`` with each battery's capacity and charge × ``capacity`` (n_sat,)
    multipliers, NaN leaving it (the state of charge is kept): a checkpoint's batteries as
    the mirror estimates them."""
    m = np.where(np.isnan(capacity), 1.0, capacity)
    physical = replace(
        state.physical,
        battery_capacity_wh=state.physical.battery_capacity_wh * m,
        battery_wh=state.physical.battery_wh * m,
    )
    return replace(state, physical=physical)


@dataclass
class OrbitStates:
    """A sink that sums a run's telemetry per satellite and orbit; arrays (n_sat, n_orbit)
    by fleet row, an orbit not reached keeping its initial values (NaN after ``finish``)."""

    sat_id: np.ndarray
    t0_ns: int  # the fork: orbit 0 starts here
    period_s: np.ndarray  # (n_sat,)
    n_orbit: int
    dt_s: float
    peak_tops: np.ndarray  # (n_sat,) the accelerator's peak
    clock_fractions: np.ndarray  # (n_sat, n_state) its clock at each throttle state
    min_soc: np.ndarray = field(init=False)
    min_soc_ns: np.ndarray = field(init=False)
    max_temp_payload_c: np.ndarray = field(init=False)
    tera_ops: np.ndarray = field(init=False)  # delivered
    available_tera_ops: np.ndarray = field(init=False)  # the peak at the throttle state run
    seen_s: np.ndarray = field(init=False)  # simulated time sampled in each orbit

    def __post_init__(self) -> None:
        shape = (self.sat_id.shape[0], self.n_orbit)
        self._rows = RowsOf(self.sat_id)
        self.min_soc = np.full(shape, np.inf)
        self.min_soc_ns = np.full(shape, -1, np.int64)
        self.max_temp_payload_c = np.full(shape, -np.inf)
        self.tera_ops, self.available_tera_ops = np.zeros(shape), np.zeros(shape)
        self.seen_s = np.zeros(shape)

    def frame(self, frame: Frame) -> None:
        rows = self._rows(frame.sat_id)
        since_s = (frame.time_unix_ns - self.t0_ns) / NS_PER_S
        k = np.minimum((since_s // self.period_s[rows]).astype(np.intp), self.n_orbit - 1)
        ch = frame.channels
        if "soc" in ch:
            soc = ch["soc"]
            lower = soc < self.min_soc[rows, k]  # NaN (no position) never lower
            self.min_soc[rows[lower], k[lower]] = soc[lower]
            self.min_soc_ns[rows[lower], k[lower]] = frame.time_unix_ns
            self.seen_s[rows, k] += self.dt_s
        if "temp_payload_c" in ch:
            hot = np.fmax(self.max_temp_payload_c[rows, k], ch["temp_payload_c"])
            self.max_temp_payload_c[rows, k] = hot
        if "throughput_tops" in ch:
            self.tera_ops[rows, k] += np.nan_to_num(ch["throughput_tops"]) * self.dt_s
        if "throttle_level" in ch and "safe_mode" in ch:
            # Available: the peak at the clock of the throttle state run; none in safe mode.
            last = self.clock_fractions.shape[1] - 1
            level = np.minimum(ch["throttle_level"].astype(np.intp), last)
            share = self.clock_fractions[rows, level] * ~ch["safe_mode"].astype(bool)
            self.available_tera_ops[rows, k] += self.peak_tops[rows] * share * self.dt_s

    def events(self, batch: events.Events) -> None:
        pass

    def job_steps(self, steps: jobs.JobSteps) -> None:
        pass

    def block_end(self, next_tick: int, state: engine.TwinState) -> None:
        pass


@dataclass(frozen=True)
class Observed:
    """Each satellite's latest observed sample, arrays (n_sat,) by fleet row: its time (-1:
    none), battery voltage (V) and current (A, positive charging), temperatures (°C) and
    mode; NaN where not sampled."""

    time_ns: np.ndarray
    battery_v: np.ndarray
    battery_a: np.ndarray
    temp_payload_c: np.ndarray
    temp_radiator_c: np.ndarray
    safe_mode: np.ndarray  # float: 1, 0 or NaN


def observed_state(initial: engine.TwinState, seen: Observed) -> engine.TwinState:
    """``initial`` with each satellite's physical state as its latest sample says: the state
    of charge its pack's voltage and current imply at ``initial``'s capacity (the mirror's,
    when the fleet flies mirrored), its temperatures and mode; a value not observed keeps
    ``initial``'s. Which side is sunlit is left unknown (the first tick finds it); the
    payload starts afresh (its queue is not observed)."""
    p = initial.physical
    capacity = p.battery_capacity_wh
    soc = np.clip(power.state_of_charge(seen.battery_v, seen.battery_a, capacity), 0.0, 1.0)
    known_soc = np.isfinite(soc)
    physical = replace(
        p,
        battery_wh=np.where(known_soc, soc * capacity, p.battery_wh),
        temp_payload_k=_or(seen.temp_payload_c + thermal.KELVIN, p.temp_payload_k),
        temp_radiator_k=_or(seen.temp_radiator_c + thermal.KELVIN, p.temp_radiator_k),
        safe_mode=np.where(np.isfinite(seen.safe_mode), seen.safe_mode == 1.0, p.safe_mode),
    )
    return replace(initial, physical=physical)


def _or(observed: np.ndarray, otherwise: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(observed), observed, otherwise)


def orbit_columns(states: OrbitStates, span_ns: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per satellite and orbit (arrays (n_sat, n_orbit)): ``starts_unix_ns`` and
    ``ends_unix_ns`` (the last orbit cut by the end of ``span_ns``; -1 for an orbit not
    begun before it), ``min_soc`` and ``max_temp_payload_c`` (NaN where nothing was flown),
    ``min_soc_unix_ns`` (-1 there), ``tera_ops`` and ``available_tera_ops``."""
    n_orbit = states.min_soc.shape[1]
    period_ns = np.round(states.period_s * NS_PER_S).astype(np.int64)
    starts = span_ns[0] + np.arange(n_orbit)[None, :] * period_ns[:, None]
    ends = np.minimum(starts + period_ns[:, None], span_ns[1])
    begun = starts < span_ns[1]
    flown = states.min_soc_ns >= 0
    return {
        "starts_unix_ns": np.where(begun, starts, -1),
        "ends_unix_ns": np.where(begun, ends, -1),
        "min_soc": np.where(flown, states.min_soc, np.nan),
        "min_soc_unix_ns": states.min_soc_ns,
        "max_temp_payload_c": np.where(flown, states.max_temp_payload_c, np.nan),
        "tera_ops": states.tera_ops,
        "available_tera_ops": states.available_tera_ops,
    }


def orbit_sink(fleet: Fleet, hw: Hardware, t0_ns: int, horizon_ns: int, step_ns: int):
    """An empty ``OrbitStates`` for ``fleet`` from ``t0_ns`` over ``horizon_ns``."""
    period_s = orbit_periods_s(fleet)
    n_orbit = max(1, math.ceil(horizon_ns / NS_PER_S / float(period_s.min())))
    return OrbitStates(
        fleet.sat_id,
        t0_ns,
        period_s,
        n_orbit,
        step_ns / NS_PER_S,
        hw.accelerator_peak_tops.astype(np.float64),
        hw.throttle_clock_fractions,
    )


def forecast_states(fleet: Fleet, ctx: payload.Context, fork, horizon_ns: int) -> OrbitStates:
    """Fly the fleet of ``ctx`` from ``fork`` (a ``twin.forecast.whatif.Fork``) over
    ``horizon_ns`` and sum its state per orbit."""
    n_ticks = fork.tick + max(1, horizon_ns // fork.step_ns)
    plan = engine.RunPlan(fork.start_ns, fork.step_ns, n_ticks)
    sink = orbit_sink(fleet, ctx.hw, fork.time_ns, horizon_ns, fork.step_ns)
    engine.run(
        fleet, ctx.hw, plan, sink, state=fork.state, start_tick=fork.tick, ctx=ctx, seed=fork.seed
    )
    return sink


def truth_states(
    fleet: Fleet,
    truth: Hardware,
    run_start_ns: int,
    step_ns: int,
    seed: int,
    span_ns: tuple[int, int],
) -> OrbitStates:
    """What an emulated fleet did per orbit over ``span_ns`` (start, end): the emulator's
    run (``truth`` hardware, from its initial state at ``run_start_ns``, tick ``step_ns``,
    ``seed``) flown again, as ``twin emulate`` flies it."""
    n_ticks = max(1, (span_ns[1] - run_start_ns) // step_ns)
    plan = engine.RunPlan(run_start_ns, step_ns, n_ticks)
    sink = orbit_sink(fleet, truth, span_ns[0], span_ns[1] - span_ns[0], step_ns)
    engine.run(fleet, truth, plan, sink, seed=seed)
    return sink

"""The twin's run loop: step the fleet through time and hand telemetry frames to a sink.

Orbit, Sun and shadow are computed for a block of ticks at once (one SGP4 call for all
satellites × times); the payload, power and thermal then advance tick by tick, each tick a
few vectorised steps over the whole fleet (``payload.plan`` → ``state.step`` →
``payload.settle``). The loops here run over ticks and over frame groups (planes), never
over satellites.

Randomness (job arrivals, radiation upsets) is drawn per (seed, tick, satellite) by
``twin.core.dice``: shards draw what the whole fleet does, and a resumed run what an
uninterrupted one does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from twin.core import shutdown
from twin.core.dice import Dice
from twin.fleet.constellation import Fleet, FrameGroups, frame_groups
from twin.fleet.hardware import Hardware
from twin.payload import schedule as payload
from twin.payload.schedule import PayloadState, PayloadTick
from twin.physics.state import (
    Environment,
    FleetState,
    TickOutputs,
    environment,
    initial_state,
    step,
)
from twin.physics.thermal import KELVIN
from twin.sim.faults import Faults, Held, apply_onsets, hardware_at, nothing_held, telemetry_at
from twin.wire import events, jobs
from twin.wire.telemetry import GROUPS, Frame

Intake = Callable[[int], tuple[list[jobs.Submission], list[tuple[str, str]]]]

MAX_BLOCK_TICKS = 60  # ticks per environment block when running faster than real time
MAX_BLOCK_SAMPLES = 120_000  # satellites × ticks per block: ~75 MB of environment arrays


def block_ticks(n_sat: int, paced: bool) -> int:
    """Ticks computed per environment block: one when paced, else as many as memory allows."""
    return 1 if paced else max(1, min(MAX_BLOCK_TICKS, MAX_BLOCK_SAMPLES // max(n_sat, 1)))


@dataclass(frozen=True)
class RunPlan:
    """When to simulate: ``n_ticks`` ticks from ``start_ns`` every ``step_ns``.

    ``speed`` is simulated seconds per wall-clock second, or ``None`` for as fast as possible.
    ``every`` maps a channel group to its rate in ticks (default: every tick); a group is
    sampled at tick ``k`` when ``k % every == 0``, ``k`` counted from ``start_ns``.
    """

    start_ns: int
    step_ns: int
    n_ticks: int
    speed: float | None = None
    every: dict[str, int] = field(default_factory=dict)

    def tick_times_ns(self) -> np.ndarray:
        """(n_ticks,) int64 tick times."""
        return self.start_ns + np.arange(self.n_ticks, dtype=np.int64) * self.step_ns

    def due_groups(self, tick: int) -> tuple[str, ...]:
        return tuple(g for g in GROUPS if tick % self.every.get(g, 1) == 0)


@dataclass(frozen=True)
class TwinState:
    """Everything that evolves: the satellites' physical state and their payload's, and
    the values stuck sensors hold (``None``: none held, or a run without faults)."""

    physical: FleetState
    payload: PayloadState
    held: Held | None = None

    def take(self, rows: np.ndarray) -> TwinState:
        """The state of the satellites at fleet ``rows`` (k,), renumbered 0..k-1."""
        held = self.held
        if held is not None:
            held = Held(held.value[:, rows], held.held[:, rows])
        return TwinState(self.physical.take(rows), self.payload.take(rows), held)


class Sink(Protocol):
    """Where a run's output goes: every telemetry frame, every tick's events (eclipse,
    contact, mode changes), the job lifecycle steps of a tick, and after each block of ticks
    the tick to resume from with the state to resume with. ``twin.stream.sink.TopicSink``
    sends them as topic messages (Kafka or the in-process bus); ``Collected`` keeps them."""

    def frame(self, frame: Frame) -> None: ...

    def events(self, batch: events.Events) -> None: ...

    def job_steps(self, steps: jobs.JobSteps) -> None: ...

    def block_end(self, next_tick: int, state: TwinState) -> None: ...


@dataclass
class Collected:
    """A sink that keeps everything a run gives, in order (tests, examples, small runs)."""

    frames: list[Frame] = field(default_factory=list)
    event_batches: list[events.Events] = field(default_factory=list)
    steps: list[jobs.JobSteps] = field(default_factory=list)
    states: dict[int, TwinState] = field(default_factory=dict)  # next tick -> state

    def frame(self, frame: Frame) -> None:
        self.frames.append(frame)

    def events(self, batch: events.Events) -> None:
        self.event_batches.append(batch)

    def job_steps(self, steps: jobs.JobSteps) -> None:
        self.steps.append(steps)

    def block_end(self, next_tick: int, state: TwinState) -> None:
        self.states[next_tick] = state


@dataclass(frozen=True)
class FramesTo:
    """A sink that hands the frames to ``send`` and drops the rest (benchmarks, frame-only
    checks)."""

    send: Callable[[Frame], None]

    def frame(self, frame: Frame) -> None:
        self.send(frame)

    def events(self, batch: events.Events) -> None:
        pass

    def job_steps(self, steps: jobs.JobSteps) -> None:
        pass

    def block_end(self, next_tick: int, state: TwinState) -> None:
        pass


@dataclass(frozen=True)
class Pacing:
    """The wall clock of a paced run (``RunPlan.speed`` set): ``wall_start`` (a
    ``monotonic()`` reading; None: when the run starts) pins tick ``start_tick``; the clock
    and the sleep are the system's unless a test gives its own."""

    wall_start: float | None = None
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def initial_twin(ctx: payload.Context) -> TwinState:
    """The state at the start of a run, from the presets' initial values."""
    return TwinState(initial_state(ctx.hw), payload.initial_payload(ctx))


@dataclass
class RunStats:
    """Counts and fleet totals of a run."""

    n_sat: int = 0
    ticks: int = 0
    frames: int = 0
    samples: int = 0
    wall_s: float = 0.0
    array_energy_wh: float = 0.0
    compute_tera_ops: float = 0.0  # throughput integrated over time
    compute_energy_j: float = 0.0  # accelerator energy above idle, as the power model served it
    contacts: int = 0  # acquisitions of signal
    in_contact_samples: int = 0
    min_soc: float = 1.0
    max_temp_payload_c: float = -KELVIN
    safe_mode_samples: int = 0
    propagation_failures: int = 0
    final_state: TwinState | None = field(default=None, repr=False)


def tick_channels(
    env: Environment, state: FleetState, out: TickOutputs, pay: PayloadTick
) -> dict[str, np.ndarray]:
    """Telemetry channel arrays (n_sat,) for one tick: environment and state at the tick's
    time, flows over the tick that follows it."""
    o = env.orbit
    failed = o.sgp4_error[:, 0] != 0
    channels = {
        "lat_deg": o.lat_deg[:, 0],
        "lon_deg": o.lon_deg[:, 0],
        "alt_km": o.alt_km[:, 0],
        "beta_deg": env.beta_deg[:, 0],
        "illumination": env.illumination[:, 0],
        "sunlit": env.sunlit[:, 0] & ~failed,
        "array_w": out.array_w,
        "load_w": out.load_w,
        "battery_w": out.charge_w - out.discharge_w,
        "battery_wh": state.battery_wh,
        "soc": state.battery_wh / state.battery_capacity_wh,
        "temp_payload_c": state.temp_payload_k - KELVIN,
        "temp_radiator_c": state.temp_radiator_k - KELVIN,
        "safe_mode": state.safe_mode,
        "sgp4_error": o.sgp4_error[:, 0].astype(np.int16),
        "utilisation": pay.utilisation,
        "throughput_tops": pay.throughput_tops,
        "throttle_level": pay.throttle_level,
        "queue_depth": pay.queue_depth,
        "upsets": pay.upsets,
        "job_latency_s": pay.job_latency_s,
        "job_energy_j": pay.job_energy_j,
        "in_contact": pay.in_contact,
        "station_id": pay.station_id,
        "downlink_mbps": pay.downlink_mbps,
        "isl_up": pay.isl_up,
        "hops_to_ground": pay.hops_to_ground,
        "backlog_mb": pay.backlog_mb,
    }
    if failed.any():  # a satellite SGP4 lost has no computed value to report: null
        for name, values in channels.items():
            if values.dtype.kind == "f":
                channels[name] = np.where(failed, np.nan, values)
    return channels


def hold_lost(before: FleetState, after: FleetState, lost: np.ndarray) -> FleetState:
    """``after``, but the satellites ``lost`` (n_sat,) bool (SGP4 failed: no position) keep
    their state of ``before``, with their sunlit state unknown (-1): nothing is simulated
    for a satellite nobody knows where it is, and no eclipse is seen entering or leaving."""
    if not lost.any():
        return after
    held = {
        f: np.where(lost, getattr(before, f), getattr(after, f))
        for f in FleetState.__dataclass_fields__
    }
    held["sunlit"] = np.where(lost, np.int8(-1), after.sunlit).astype(np.int8)
    return FleetState(**held)


@dataclass(frozen=True)
class Tick:
    """What one tick did: the payload's plan, the power and thermal step's flows, the
    payload's outcomes and the job lifecycle steps."""

    plan: payload.Plan
    outputs: TickOutputs
    payload: PayloadTick
    steps: jobs.JobSteps


def advance(
    ctx: payload.Context,
    state: TwinState,
    env: Environment,
    t_ns: int,
    dt_s: float,
    dice: Dice,
    submitted: tuple[list[jobs.Submission], list[tuple[str, str]]] = ([], []),
) -> tuple[TwinState, Tick]:
    """One tick of the whole fleet from the environment slice ``env`` at ``t_ns``:
    ``payload.plan`` → ``state.step`` (power and thermal) → ``payload.settle``."""
    physical, o = state.physical, env.orbit
    lat, lon = o.lat_deg[:, 0], o.lon_deg[:, 0]
    p = payload.plan(
        ctx,
        state.payload,
        physical.battery_wh / physical.battery_capacity_wh,
        physical.safe_mode,
        physical.temp_payload_k - KELVIN,
        lat,
        lon,
        env.sunlit[:, 0],
        t_ns,
        dt_s,
        dice,
        submitted,
    )
    new_physical, out = step(physical, ctx.hw, env, dt_s, p.compute_w)
    new_payload, pay, steps = payload.settle(
        ctx,
        p,
        out.served_share,
        physical.safe_mode,
        o.r_teme_km[:, :, 0],
        o.r_itrs_km[:, :, 0],
        lat,
        lon,
        t_ns,
        dt_s,
        dice,
    )
    return TwinState(new_physical, new_payload), Tick(p, out, pay, steps)


def frames_for_tick(
    fleet: Fleet,
    grouping: FrameGroups,
    t_ns: int,
    channels: dict[str, np.ndarray],
    groups: tuple[str, ...] = tuple(GROUPS),
    silent: np.ndarray | None = None,
) -> Iterator[Frame]:
    """One frame per frame group for one tick with the channel ``groups`` due; ``channels``
    are (n_sat,) arrays. Satellites where ``silent`` (n_sat,) bool is set are left out, and
    a group with none left sends no frame."""
    names = [n for g in groups for n in GROUPS[g]]
    if not names:
        return
    for g, name in enumerate(grouping.names):
        rows = grouping.order[grouping.bounds[g] : grouping.bounds[g + 1]]
        if silent is not None:
            rows = rows[~silent[rows]]
            if rows.shape[0] == 0:
                continue
        yield Frame(
            time_unix_ns=int(t_ns),
            group=name,
            sat_id=fleet.sat_id[rows],
            channels={name: channels[name][rows] for name in names},
        )


def run(
    fleet: Fleet,
    hw: Hardware,
    plan: RunPlan,
    sink: Sink,
    *,
    state: TwinState | None = None,
    start_tick: int = 0,
    ctx: payload.Context | None = None,
    seed: int = 0,
    intake: Intake | None = None,
    faults: Faults | None = None,
    pacing: Pacing = Pacing(),
) -> RunStats:
    """Simulate ``plan`` from tick ``start_tick`` and ``state`` (default: the presets'
    initial state), giving ``sink`` every frame, every tick's events and job lifecycle
    steps, and after each block the next tick and the state to resume from. ``ctx`` holds
    stations, targets and the laser grid (default: the bundled ones); ``intake(t_ns)``
    returns the job submissions that arrived by ``t_ns``.

    Blocks of ticks are aligned to multiples of the block length counted from the plan's
    start, so a run resumed at a block boundary computes exactly the arrays of an
    uninterrupted one. Paced runs publish tick ``k`` at ``wall_start + (k - start_tick) *
    step / speed`` on an absolute schedule, so lateness never accumulates into drift;
    ``pacing.wall_start`` pins that schedule, e.g. to the wall clock.

    ``faults`` (bound to ``fleet``) change the hardware while active and the battery at
    their onset (``twin.sim.faults.hardware_at``, ``apply_onsets``), and the telemetry and events
    sent (``telemetry_at``); run statistics follow the physics, not the telemetry. Times of
    faults count from ``plan.start_ns``. The values stuck sensors hold travel in
    ``TwinState.held`` (given to ``sink.block_end``, so checkpointed): a run resumed mid-fault
    sends what the uninterrupted run sent.
    """
    stats = RunStats(n_sat=fleet.n_sat)
    ctx = payload.make_context(fleet, hw, plan.start_ns) if ctx is None else ctx
    state = initial_twin(ctx) if state is None else state
    grouping = frame_groups(fleet)
    dt_s = plan.step_ns / 1e9
    monotonic, sleep = pacing.monotonic, pacing.sleep
    wall_start = monotonic() if pacing.wall_start is None else pacing.wall_start
    times = plan.tick_times_ns()
    block = block_ticks(fleet.n_sat, paced=plan.speed is not None)
    # Blocks stay aligned to multiples of ``block``; a start between two (a checkpoint made
    # at another speed) gets a short first block.
    starts = [start_tick, *range((start_tick // block + 1) * block, plan.n_ticks, block)]
    held = None
    if faults is not None:
        held = state.held if state.held is not None else nothing_held(fleet.n_sat)
    silent = None
    for first, end in zip(starts, [*starts[1:], plan.n_ticks], strict=True):
        if first >= plan.n_ticks or shutdown.requested():  # a stop ends the run between blocks
            break
        t_block = times[first:end]
        if plan.speed is not None:
            delay = wall_start + ((first - start_tick) * dt_s) / plan.speed - monotonic()
            if delay > 0:
                sleep(delay)
        env = environment(fleet, t_block)
        for k, t_ns in enumerate(t_block.tolist()):
            env_k = env.at(k)
            submitted = intake(t_ns) if intake is not None else ([], [])
            dice = Dice(seed, first + k, fleet.sat_id)
            tick_ctx = ctx
            if faults is not None:
                t_s = (t_ns - plan.start_ns) / 1e9
                since_s = (t_ns - plan.step_ns - plan.start_ns) / 1e9  # the last tick's t_s
                state = replace(state, physical=apply_onsets(faults, state.physical, since_s, t_s))
                effective = hardware_at(faults, ctx.hw, t_s)
                tick_ctx = ctx if effective is ctx.hw else replace(ctx, hw=effective)
            new, done = advance(tick_ctx, state, env_k, t_ns, dt_s, dice, submitted)
            lost = env_k.orbit.sgp4_error[:, 0] != 0
            new = replace(new, physical=hold_lost(state.physical, new.physical, lost))
            physical, pay = state.physical, done.payload
            channels = tick_channels(env_k, physical, done.outputs, pay)
            reported = channels
            if faults is not None:
                reported, silent, held = telemetry_at(faults, channels, t_s, held)
            for frame in frames_for_tick(
                fleet, grouping, t_ns, reported, plan.due_groups(first + k), silent
            ):
                sink.frame(frame)
                stats.frames += 1
            # Eclipse and contact changes seen at this tick; mode changes decided by this
            # tick's step take effect at the next one.
            for batch in (
                events.eclipse_events(
                    t_ns, fleet.sat_id, np.where(lost, -1, physical.sunlit), channels["sunlit"]
                ),
                events.contact_events(
                    t_ns, fleet.sat_id, ctx.stations.station_id, pay.aos, pay.los
                ),
                events.mode_events(
                    t_ns + plan.step_ns,
                    fleet.sat_id,
                    physical.safe_mode,
                    new.physical.safe_mode,
                ),
            ):
                sink.events(_audible(batch, fleet.sat_id, silent))
            if done.steps.n:
                sink.job_steps(done.steps)
            _accumulate(stats, channels, pay, dt_s)
            state = new
        sink.block_end(first + t_block.shape[0], replace(state, held=held))
    stats.samples = stats.ticks * fleet.n_sat
    stats.wall_s = max(0.0, monotonic() - wall_start)
    stats.final_state = replace(state, held=held)  # with the values stuck sensors hold
    return stats


def _audible(batch: events.Events, sat_id: np.ndarray, silent: np.ndarray | None) -> events.Events:
    """``batch`` without the events of satellites ``silent`` (n_sat,) bool, by row of
    ``sat_id`` (n_sat,)."""
    if silent is None or not silent.any():
        return batch
    keep = ~np.isin(batch.sat_id, sat_id[silent])
    return events.Events(
        batch.time_unix_ns, batch.sat_id[keep], batch.kind[keep], batch.station_id[keep]
    )


def _accumulate(
    stats: RunStats, channels: dict[str, np.ndarray], pay: PayloadTick, dt_s: float
) -> None:
    stats.ticks += 1
    stats.array_energy_wh += float(channels["array_w"].sum()) * dt_s / 3600.0
    stats.compute_tera_ops += float(pay.throughput_tops.sum()) * dt_s
    stats.compute_energy_j += pay.compute_energy_j
    stats.contacts += int(pay.aos[0].shape[0])
    stats.in_contact_samples += int(pay.in_contact.sum())
    stats.min_soc = min(stats.min_soc, float(channels["soc"].min()))
    stats.max_temp_payload_c = max(
        stats.max_temp_payload_c, float(channels["temp_payload_c"].max())
    )
    stats.safe_mode_samples += int(channels["safe_mode"].sum())
    stats.propagation_failures += int((channels["sgp4_error"] != 0).sum())

"""What-if forks: from one state of the fleet, a changed branch and the unchanged baseline
flown side by side, and every constraint the change breaks that the baseline keeps.

A change (``load_change``, a TOML file) may

- submit jobs (``[[jobs]]``: the keys of a ``twin.jobs.submit`` message, validated by its
  decoder, plus ``at``, the delay after the fork, and ``shell``, one job per satellite of
  that shell); the twin's own scheduler places them, as it would a submission on the topic;
- change operating policy (``[[policy]]``: fields of ``POLICY_FIELDS``, for the whole fleet
  or one ``shell``), such as the state-of-charge floor under which no job starts;
- inject hardware faults (``[[faults]]``: ``twin.sim.faults`` entries, ``onset_s`` counted
  from the fork; sensor faults change what is reported, not what happens, and are refused);
- take ground stations out of service (``[[outages]]``: ``station`` by name, ``at`` and
  ``duration``): its antennas serve no satellite while it is out;
- add constraints (``[constraints]``: ``soc_min``, ``temp_payload_max_c``) to the ones every
  satellite has: the red limits of the channel dictionary, judged with the fleet's own
  (unchanged) hardware.

Both runs start from the same state at the same tick with the same seed, so with an empty
change the branch is the baseline, bit for bit, and both continue the run they forked from.
"""

from __future__ import annotations

import collections
import itertools
import math
import multiprocessing
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from twin.core.clock import NS_PER_S, parse_duration_ns
from twin.core.errors import InputError, TwinError, shown
from twin.core.settings import check_keys
from twin.fleet.constellation import Fleet, RowsOf
from twin.fleet.hardware import RANGES, Hardware
from twin.fleet.limits import RED, colour, resolve
from twin.payload import schedule as payload
from twin.sim import engine, faults
from twin.wire import events, jobs
from twin.wire.telemetry import Frame

TOP_KEYS = ("jobs", "policy", "faults", "outages", "constraints")
OUTAGE_KEYS = ("station", "at", "duration")
JOB_KEYS = (*sorted(jobs.SUBMIT_FIELDS - {"schema", "version"}), "at", "shell")
# Operating policy a change may set: what operators command, not what the satellite is.
POLICY_FIELDS = (
    "compute_soc_floor",
    "eclipse_compute_w",
    "payload_utilisation",
    "throttle_above_c",
    "throttle_below_c",
    "safe_mode_enter_soc",
    "safe_mode_exit_soc",
    "heater_on_c",
    "heater_off_c",
    "imagery_per_pass",
)
CONSTRAINT_KEYS = ("soc_min", "temp_payload_max_c")
SENSOR_FAULTS = ("stuck_sensor", "telemetry_dropout")


class WhatIfError(TwinError):
    """A what-if whose run failed; the message says how."""


class ChangeError(InputError):
    """A change file that cannot be flown; the message names the file, the key and why."""


@dataclass(frozen=True)
class Change:
    """What the branch does differently.

    submissions : (delay after the fork in ns, submission), in file order.
    policy : (shell index or None for every shell, field of ``POLICY_FIELDS``, value).
    faults : hardware faults, onsets in seconds after the fork; None: none.
    outages : (station name, from and until in ns after the fork).
    soc_min, temp_payload_max_c : extra constraints on both runs (NaN: none).
    """

    submissions: tuple[tuple[int, jobs.Submission], ...] = ()
    policy: tuple[tuple[int | None, str, float], ...] = ()
    faults: faults.Scenario | None = None
    outages: tuple[tuple[str, int, int], ...] = ()
    soc_min: float = math.nan
    temp_payload_max_c: float = math.nan


def load_change(
    path: str | Path, fleet: Fleet, shells: Sequence[str], preset: str, horizon_ns: int
) -> Change:
    """Read and validate a change file for ``fleet`` (its shells named ``shells``), flown
    ``horizon_ns`` ahead; raise ``ChangeError`` naming the file, the entry and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChangeError(f"{path}: cannot read a change file: {exc}") from None
    return parse_change(text, str(path), fleet, shells, preset, horizon_ns)


def parse_change(
    text: str, source: str, fleet: Fleet, shells: Sequence[str], preset: str, horizon_ns: int
) -> Change:
    """A change from its TOML ``text``, read from ``source`` (named in errors); as
    ``load_change``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChangeError(f"{source}: cannot read a change file: {exc}") from None
    check_keys(data, source, TOP_KEYS, required=(), error=ChangeError)
    where = f"{source}: "
    shell_of = {name: k for k, name in enumerate(shells)}
    submissions = _submissions(_tables(data, "jobs", where), fleet, shell_of, where)
    policy = _policy(_tables(data, "policy", where), shell_of, where)
    scenario = _faults(_tables(data, "faults", where), preset, horizon_ns, where)
    outages = _outages(_tables(data, "outages", where), where)
    constraints = data.get("constraints", {})
    if not isinstance(constraints, dict):
        raise ChangeError(f"{where}constraints: expected a table ([constraints])")
    check_keys(constraints, f"{where}constraints", CONSTRAINT_KEYS, required=(), error=ChangeError)
    soc_min = _number(constraints, "soc_min", f"{where}constraints", (0.0, 1.0))
    temp_max = _number(constraints, "temp_payload_max_c", f"{where}constraints", (-100.0, 300.0))
    return Change(tuple(submissions), tuple(policy), scenario, tuple(outages), soc_min, temp_max)


def _tables(data: dict, key: str, where: str) -> list[dict]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ChangeError(f"{where}{key}: expected an array of tables ([[{key}]])")
    return entries


def _number(table: dict, key: str, where: str, bounds: tuple[float, float]) -> float:
    if key not in table:
        return math.nan
    value = table[key]
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ChangeError(f"{where}.{key}: {shown(value)} is not a number in [{low:g}, {high:g}]")
    return float(value)


def _shell(entry: dict, shell_of: dict[str, int], where: str) -> int | None:
    if "shell" not in entry:
        return None
    if not isinstance(entry["shell"], str) or entry["shell"] not in shell_of:
        raise ChangeError(
            f"{where}.shell: {shown(entry['shell'])} is not a shell of the fleet; "
            f"one of {', '.join(shell_of)}"
        )
    return shell_of[entry["shell"]]


def _submissions(
    entries: list[dict], fleet: Fleet, shell_of: dict[str, int], where: str
) -> list[tuple[int, jobs.Submission]]:
    """Each ``[[jobs]]`` entry as submissions: one, or one per satellite of its ``shell``
    (job ids ``<job_id>.<sat_id>``), each checked by the submission decoder."""
    out = []
    known = set(fleet.sat_id.tolist())
    for i, entry in enumerate(entries):  # the file's entries: few, not satellites
        here = f"{where}jobs[{i}]"
        check_keys(entry, here, JOB_KEYS, required=("job_id", "kind"), error=ChangeError)
        delay_ns = _delay_ns(entry["at"], f"{here}.at") if "at" in entry else 0
        shell = _shell(entry, shell_of, here)
        if shell is not None and "sat_id" in entry:
            raise ChangeError(f"{here}: shell and sat_id: give one of the two, not both")
        fields_ = {k: v for k, v in entry.items() if k not in ("at", "shell")}
        if shell is None:
            pinned = [fields_]
        else:
            pinned = [
                {**fields_, "job_id": f"{entry['job_id']}.{sat}", "sat_id": sat}
                for sat in fleet.sat_id[fleet.shell == shell].tolist()
            ]
        for fields_ in pinned:
            try:
                submission = jobs.decode_submission(jobs.encode_submission(**fields_))
            except (jobs.SubmissionError, TypeError) as exc:
                raise ChangeError(f"{here}: {exc}") from None
            if submission.sat_id is not None and submission.sat_id not in known:
                raise ChangeError(f"{here}.sat_id: {submission.sat_id} is not in the fleet")
            out.append((delay_ns, submission))
    counts = collections.Counter(s.job_id for _, s in out)
    twice = sorted(job_id for job_id, n in counts.items() if n > 1)
    if twice:
        raise ChangeError(f"{where}jobs: job_id {twice[0]!r} is submitted twice")
    return out


def _delay_ns(value: object, where: str) -> int:
    if not isinstance(value, str):
        raise ChangeError(f"{where}: {shown(value)} is not a duration such as '0s', '30m' or '2h'")
    if value.strip() in ("0", "0s"):  # at the fork itself
        return 0
    try:
        return parse_duration_ns(where, value)
    except ValueError as exc:
        raise ChangeError(str(exc)) from None


def _outages(entries: list[dict], where: str) -> list[tuple[str, int, int]]:
    out = []
    for i, entry in enumerate(entries):
        here = f"{where}outages[{i}]"
        check_keys(entry, here, OUTAGE_KEYS, required=("station", "duration"), error=ChangeError)
        station = entry["station"]
        if not isinstance(station, str) or not 0 < len(station) <= 200:
            raise ChangeError(f"{here}.station: {shown(station)} is not a station name")
        begin_ns = _delay_ns(entry["at"], f"{here}.at") if "at" in entry else 0
        out.append((station, begin_ns, begin_ns + _delay_ns(entry["duration"], f"{here}.duration")))
    return out


def _policy(
    entries: list[dict], shell_of: dict[str, int], where: str
) -> list[tuple[int | None, str, float]]:
    out = []
    for i, entry in enumerate(entries):
        here = f"{where}policy[{i}]"
        check_keys(entry, here, (*POLICY_FIELDS, "shell"), required=(), error=ChangeError)
        shell = _shell(entry, shell_of, here)
        for name in POLICY_FIELDS:
            if name in entry:
                out.append((shell, name, _number(entry, name, here, RANGES[name])))
    return out


def _faults(entries: list[dict], preset: str, horizon_ns: int, where: str):
    if not entries:
        return None
    for i, entry in enumerate(entries):
        if entry.get("kind") in SENSOR_FAULTS:
            raise ChangeError(
                f"{where}faults[{i}].kind: {entry['kind']!r} changes what is reported, not "
                "what happens; a what-if takes hardware faults"
            )
    table = {
        "name": "what-if",
        "preset": preset,
        "seed": 0,
        "duration_s": horizon_ns / NS_PER_S,
        "faults": entries,
    }
    try:
        return faults.scenario_from_table(table)
    except InputError as exc:
        raise ChangeError(f"{where}{exc}") from None


def changed_hardware(hw: Hardware, fleet: Fleet, change: Change) -> Hardware:
    """``hw`` with the change's policy fields set, each on its shell or the whole fleet."""
    if not change.policy:
        return hw
    arrays = dict(hw.arrays)
    for shell, name, value in change.policy:
        on = np.ones(fleet.n_sat, bool) if shell is None else fleet.shell == shell
        arrays[name] = np.where(on, value, arrays[name]).astype(arrays[name].dtype)
    return Hardware(arrays)


@dataclass(frozen=True)
class Fork:
    """Where both runs start: the run's first tick ``start_ns`` and tick ``step_ns`` (so
    ticks keep the numbers, and the dice, of the run forked), the tick ``tick`` forked at,
    the state there and the run's seed."""

    start_ns: int
    step_ns: int
    tick: int
    state: engine.TwinState
    seed: int = 0

    @property
    def time_ns(self) -> int:
        return self.start_ns + self.tick * self.step_ns


class Submitted:
    """The intake of a branch: each submission handed to the scheduler at the first tick at
    or after its time."""

    def __init__(self, timed: Sequence[tuple[int, jobs.Submission]]) -> None:
        self._timed = sorted(timed, key=lambda pair: pair[0])
        self._next = 0

    def __call__(self, t_ns: int) -> tuple[list[jobs.Submission], list[tuple[str, str]]]:
        due = []
        while self._next < len(self._timed) and self._timed[self._next][0] <= t_ns:
            due.append(self._timed[self._next][1])
            self._next += 1
        return due, []


@dataclass(frozen=True)
class Violation:
    """A constraint broken: on which satellite, which (a channel's red limit, ``safe_mode``,
    ``soc_min``, ``temp_payload_max_c`` or ``job <id>``), first when and the worst value
    (for a job: its last step's reason)."""

    sat_id: int
    constraint: str
    first_ns: int
    worst: float | str


@dataclass(frozen=True)
class JobFate:
    """An added job's last step by the horizon: the step, its satellite (-1: none), when,
    the reason given and the accelerator energy it took (J; NaN unless it ended)."""

    step: str
    sat_id: int
    time_ns: int
    reason: str
    energy_j: float


UNANSWERED = JobFate("unanswered", -1, -1, "", math.nan)


@dataclass
class Outcome:
    """A run's results per satellite (arrays (n_sat,) by fleet row) and its violations.
    Fed as the run's sink; ``violations`` and ``totals`` read it."""

    sat_id: np.ndarray
    dt_s: float
    limits: dict[str, np.ndarray]  # channel -> (n_sat, 4) red/yellow limits
    extra: dict[str, tuple[str, float]]  # constraint -> (channel, bound): soc_min, temp max
    watched: frozenset[str] = frozenset()  # job ids the change added
    min_soc: np.ndarray = field(init=False)
    max_temp_payload_c: np.ndarray = field(init=False)
    energy_wh: np.ndarray = field(init=False)  # drawn by the loads
    tera_ops: np.ndarray = field(init=False)  # delivered: throughput integrated
    jobs_completed: np.ndarray = field(init=False)
    jobs_late: np.ndarray = field(init=False)
    jobs_failed: np.ndarray = field(init=False)  # upsets, retries exhausted
    compute_energy_j: float = 0.0  # accelerator energy above idle, the whole fleet
    job_fate: dict[str, JobFate] = field(default_factory=dict)
    _first_ns: dict[str, np.ndarray] = field(init=False, repr=False)
    _lowest: dict[str, np.ndarray] = field(init=False, repr=False)
    _highest: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = self.sat_id.shape[0]
        self.rows = RowsOf(self.sat_id)  # fleet rows of satellite ids
        self._pending: list[Frame] = []
        self.min_soc = np.full(n, np.inf)
        self.max_temp_payload_c = np.full(n, -np.inf)
        self.energy_wh, self.tera_ops = np.zeros(n), np.zeros(n)
        self.jobs_completed = np.zeros(n, np.int64)
        self.jobs_late = np.zeros(n, np.int64)
        self.jobs_failed = np.zeros(n, np.int64)
        names = [*self.limits, *self.extra]
        self._first_ns = {c: np.full(n, -1, np.int64) for c in names}
        self._lowest = {c: np.full(n, np.nan) for c in names}
        self._highest = {c: np.full(n, np.nan) for c in names}

    def frame(self, frame: Frame) -> None:
        """Keep ``frame`` until its tick's others have come (a tick's frames are judged
        together, one numpy call per channel and tick instead of per frame)."""
        if self._pending and self._pending[0].time_unix_ns != frame.time_unix_ns:
            self.flush()
        self._pending.append(frame)

    def flush(self) -> None:
        """Judge the frames kept (``block_end`` does; call it after feeding frames by hand)."""
        pending, self._pending = self._pending, []
        by_channels: dict[tuple[str, ...], list[Frame]] = {}
        for frame in pending:  # a tick's frames, a few per orbital plane
            by_channels.setdefault(tuple(frame.channels), []).append(frame)
        for names, frames in by_channels.items():
            self._judge_tick(
                frames[0].time_unix_ns,
                np.concatenate([f.sat_id for f in frames]),
                {n: np.concatenate([f.channels[n] for f in frames]) for n in names},
            )

    def _judge_tick(self, t_ns: int, sat_id: np.ndarray, ch: dict[str, np.ndarray]) -> None:
        rows = self.rows(sat_id)
        if "soc" in ch:
            self.min_soc[rows] = np.fmin(self.min_soc[rows], ch["soc"])
            self.energy_wh[rows] += np.nan_to_num(ch["load_w"]) * self.dt_s / 3600.0
        if "temp_payload_c" in ch:
            self.max_temp_payload_c[rows] = np.fmax(
                self.max_temp_payload_c[rows], ch["temp_payload_c"]
            )
        if "throughput_tops" in ch:
            self.tera_ops[rows] += np.nan_to_num(ch["throughput_tops"]) * self.dt_s
        for name, limits in self.limits.items():
            if name in ch:
                values = np.asarray(ch[name], np.float64)
                self._judge(name, rows, values, colour(values, limits[rows]) == RED, t_ns)
        for name, (channel, bound) in self.extra.items():
            if channel in ch:
                values = np.asarray(ch[channel], np.float64)
                with np.errstate(invalid="ignore"):
                    broken = values < bound if name == "soc_min" else values > bound
                self._judge(name, rows, values, broken, t_ns)

    def _judge(self, name: str, rows, values, broken, t_ns: int) -> None:
        """Record the first time and the lowest and highest broken values of each
        satellite's constraint ``name``."""
        if not broken.any():
            return
        hit, seen = rows[broken], values[broken]
        first = self._first_ns[name]
        first[hit] = np.where(first[hit] < 0, t_ns, first[hit])
        self._lowest[name][hit] = np.fmin(self._lowest[name][hit], seen)
        self._highest[name][hit] = np.fmax(self._highest[name][hit], seen)

    def _worst(self, name: str, row: int) -> float:
        """The broken value furthest out: the lowest under a low limit, else the highest."""
        lowest = float(self._lowest[name][row])
        if name == "soc_min":
            return lowest
        red_low = self.limits[name][row, 0] if name in self.limits else math.nan
        return lowest if lowest < red_low else float(self._highest[name][row])

    def events(self, batch: events.Events) -> None:
        pass

    def job_steps(self, steps: jobs.JobSteps) -> None:
        step = steps.step
        rows = self.rows(steps.sat_id)
        known = rows >= 0
        done = (step == jobs.STEPS.index("completed")) & known
        failed = (step == jobs.STEPS.index("failed")) & known
        late = failed & np.isin(
            np.asarray(steps.reason, dtype=object),
            [jobs.REASONS[jobs.LATE_COMPUTE], jobs.REASONS[jobs.LATE_DOWNLINK]],
        )
        np.add.at(self.jobs_completed, rows[done], 1)
        np.add.at(self.jobs_late, rows[late], 1)
        np.add.at(self.jobs_failed, rows[failed & ~late], 1)
        if self.watched:
            for k in np.flatnonzero(np.isin(steps.job_id, list(self.watched))).tolist():
                before = self.job_fate.get(steps.job_id[k], UNANSWERED)
                energy_j = float(steps.energy_j[k])
                self.job_fate[steps.job_id[k]] = JobFate(
                    jobs.STEPS[int(step[k])],
                    int(steps.sat_id[k]),
                    int(steps.time_unix_ns[k]),
                    steps.reason[k],
                    before.energy_j if math.isnan(energy_j) else energy_j,
                )

    def block_end(self, next_tick: int, state: engine.TwinState) -> None:
        self.flush()

    def violations(self) -> list[Violation]:
        """Every constraint broken, by satellite, constraint: the red limits, the extra
        constraints, and each added job that failed or was turned down."""
        found = []
        for name, first in self._first_ns.items():
            for row in np.flatnonzero(first >= 0).tolist():
                worst = self._worst(name, row)
                found.append(Violation(int(self.sat_id[row]), name, int(first[row]), worst))
        for job_id, fate in sorted(self.job_fate.items()):
            if fate.step in ("failed", "rejected"):
                found.append(
                    Violation(fate.sat_id, f"job {job_id}", fate.time_ns, fate.reason or fate.step)
                )
        return sorted(found, key=lambda v: (v.first_ns, v.sat_id, v.constraint))

    def totals(self) -> dict[str, float]:
        """Fleet figures: minimum state of charge, peak payload temperature, jobs completed,
        late and failed, energy drawn (Wh), delivered tera-operations and accelerator energy
        above idle (J)."""
        soc, temp = self.min_soc, self.max_temp_payload_c
        return {  # NaN: no satellite had a value (every one lost by SGP4 throughout)
            "min_soc": float(np.min(soc)) if np.isfinite(soc).any() else math.nan,
            "max_temp_payload_c": float(np.max(temp)) if np.isfinite(temp).any() else math.nan,
            "jobs_completed": int(self.jobs_completed.sum()),
            "jobs_late": int(self.jobs_late.sum()),
            "jobs_failed": int(self.jobs_failed.sum()),
            "energy_wh": float(self.energy_wh.sum()),
            "tera_ops": float(self.tera_ops.sum()),
            "compute_energy_j": self.compute_energy_j,
        }


@dataclass(frozen=True)
class WhatIf:
    """Both runs' outcomes, the violations only the branch has, and the added jobs' fates."""

    fork: Fork
    horizon_ns: int
    baseline: Outcome
    branch: Outcome
    new_violations: list[Violation]
    added_jobs: dict[str, JobFate]

    @property
    def violates(self) -> bool:
        """True when the change breaks a constraint the baseline keeps."""
        return bool(self.new_violations)


def fly(
    fleet: Fleet,
    ctx: payload.Context,
    fork: Fork,
    horizon_ns: int,
    change: Change,
    run_faults: faults.Faults | None = None,
) -> WhatIf:
    """Fly the baseline and the branch from ``fork`` for ``horizon_ns`` (whole ticks) and
    compare them. ``ctx`` is the run's context (stations, targets, laser grid); ``run_faults``
    the run's own faults, in both runs."""
    n_ticks = fork.tick + max(1, horizon_ns // fork.step_ns)
    plan = engine.RunPlan(fork.start_ns, fork.step_ns, n_ticks)
    limits = resolve(ctx.hw)  # the fleet's own limits judge both runs
    extra = {
        name: (channel, bound)
        for name, channel, bound in (
            ("soc_min", "soc", change.soc_min),
            ("temp_payload_max_c", "temp_payload_c", change.temp_payload_max_c),
        )
        if not math.isnan(bound)
    }
    watched = frozenset(s.job_id for _, s in change.submissions)
    dt_s = fork.step_ns / NS_PER_S

    def outcome() -> Outcome:
        return Outcome(fleet.sat_id, dt_s, limits, extra, watched)

    branch_ctx = replace(ctx, hw=changed_hardware(ctx.hw, fleet, change))
    branch_faults = _with_change_faults(change, fleet, fork, run_faults)
    intake = Submitted([(fork.time_ns + d, s) for d, s in change.submissions])
    out = _outage_rows(ctx, change.outages)
    baseline, branch = both(
        lambda: _flown(fleet, ctx, fork, plan, outcome(), None, run_faults),
        lambda: _flown(fleet, branch_ctx, fork, plan, outcome(), intake, branch_faults, out),
    )
    kept = {(v.sat_id, v.constraint) for v in baseline.violations()}
    new = [v for v in branch.violations() if (v.sat_id, v.constraint) not in kept]
    added = {job_id: branch.job_fate.get(job_id, UNANSWERED) for job_id in watched}
    return WhatIf(fork, horizon_ns, baseline, branch, new, dict(sorted(added.items())))


def both(first: Callable[[], Outcome], second: Callable[[], Outcome]) -> tuple[Outcome, Outcome]:
    """Both runs' outcomes: ``second`` in a forked child process while this one makes
    ``first`` (the two runs share nothing, so two cores take half the wall time); one after
    the other where processes cannot fork."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return first(), second()
    mp = multiprocessing.get_context("fork")
    receive, send = mp.Pipe(duplex=False)

    def child() -> None:
        try:
            send.send((True, second()))
        except BaseException as exc:  # reported to the parent, which raises it
            send.send((False, f"{type(exc).__name__}: {exc}"))

    process = mp.Process(target=child, name="twin-whatif-branch", daemon=True)
    process.start()
    send.close()
    try:
        a = first()
        try:
            ok, b = receive.recv()
        except EOFError:
            ok, b = False, f"the branch's process ended with exit code {process.exitcode}"
    finally:
        receive.close()
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
    if not ok:
        raise WhatIfError(f"what-if branch failed: {b}")
    return a, b


def _flown(fleet, ctx, fork, plan, sink: Outcome, intake, bound, out=()) -> Outcome:
    """One run from ``fork`` into ``sink``: in segments between the ticks where a station
    of ``out`` (row, from and until in ns after the fork) goes out of service or comes back
    (its antennas serve none while out), each continuing the last exactly (ticks keep
    their numbers, blocks their alignment)."""
    edges = {fork.tick, plan.n_ticks}
    for _, begin_ns, end_ns in out:
        for delay_ns in (begin_ns, end_ns):
            edges.add(min(plan.n_ticks, fork.tick + -(-delay_ns // fork.step_ns)))
    ticks = sorted(edges)
    state = fork.state
    for first, end in itertools.pairwise(ticks):
        t_ns = fork.start_ns + first * fork.step_ns
        down = [row for row, begin_ns, end_ns in out
                if fork.time_ns + begin_ns <= t_ns < fork.time_ns + end_ns]  # fmt: skip
        seg_ctx = ctx
        if down:
            antennas = ctx.stations.antennas.copy()
            antennas[down] = 0
            seg_ctx = replace(ctx, stations=replace(ctx.stations, antennas=antennas))
        stats = engine.run(
            fleet,
            seg_ctx.hw,
            replace(plan, n_ticks=end),
            sink,
            state=state,
            start_tick=first,
            ctx=seg_ctx,
            seed=fork.seed,
            intake=intake,
            faults=bound,
        )
        sink.compute_energy_j += stats.compute_energy_j
        state = stats.final_state
    return sink


def _outage_rows(ctx: payload.Context, outages) -> list[tuple[int, int, int]]:
    """The outages by station row; a station not in the run's list is a ``ChangeError``."""
    names = list(ctx.stations.name)
    for station, _, _ in outages:
        if station not in names:
            raise ChangeError(
                f"outages: station {shown(station)} is not one of the run's: {', '.join(names)}"
            )
    return [(names.index(station), begin, end) for station, begin, end in outages]


def _with_change_faults(
    change: Change, fleet: Fleet, fork: Fork, run_faults: faults.Faults | None
) -> faults.Faults | None:
    """The branch's faults: the change's, with onsets moved from the fork to the run's
    start (the engine counts fault times from there), bound to ``fleet``."""
    if change.faults is None:
        return run_faults
    if run_faults is not None:
        raise ChangeError(
            "faults: a change cannot add faults to a run that has a fault scenario of its own"
        )
    offset_s = (fork.time_ns - fork.start_ns) / NS_PER_S
    moved = replace(
        change.faults,
        onset_s=change.faults.onset_s + offset_s,
        end_s=change.faults.end_s + offset_s,
    )
    return faults.bind(moved, fleet.sat_id, strict=True)

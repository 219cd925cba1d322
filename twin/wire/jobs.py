"""Jobs: the workload as a table of arrays, its kinds, submissions and lifecycle messages.

Every job lives in one row of ``Jobs`` until it ends (downlinked or failed). Lifecycle steps
are announced on ``twin.jobs``, one columnar message per tick; other systems submit jobs on
``twin.jobs.submit`` and get a ``rejected`` step with the reason when a submission is bad.

Job identifiers: a job the twin makes is ``"<sat_id>-<n>"`` (the satellite's n-th job);
a submitted job keeps the identifier its submitter gave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from functools import cache

import numpy as np
import orjson

from twin.core.errors import ContractError, shown
from twin.wire.messages import open_envelope

JOBS_TOPIC = "twin.jobs"
SUBMIT_TOPIC = "twin.jobs.submit"
SCHEMA_ID = "twin.jobs"
SUBMIT_SCHEMA_ID = "twin.jobs.submit"
SCHEMA_VERSION = 1

KINDS = ("inference", "training_step", "imagery")
ORIGINS = ("background", "imagery", "submitted")
QUEUED, RUNNING, COMPUTED, DOWNLINKED, FAILED = range(5)
GROUND, NOWHERE = -2, -1  # where a result is being sent, besides a satellite's row
STEPS = (
    "accepted",
    "started",
    "throttled",
    "retried",
    "completed",
    "downlinked",
    "failed",
    "rejected",
)
REASONS = (
    "",
    "radiation upset: progress lost, job restarted",
    "radiation upsets: retries exhausted",
    "deadline passed before the job was computed",
    "deadline passed before the result reached the ground",
    "accelerator throttled: payload above its temperature limit",
)
(
    NO_REASON,
    UPSET_RETRY,
    UPSETS_EXHAUSTED,
    LATE_COMPUTE,
    LATE_DOWNLINK,
    HOT_THROTTLE,
) = range(len(REASONS))

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
TWIN_JOB_ID = re.compile(r"[0-9]+-[0-9]+")  # "<sat_id>-<n>": the twin's own jobs
MAX_REASON_CHARS = 300  # reasons quote the offending value; long values are cut
MAX_STEPS_PER_MESSAGE = 5_000  # ~0.5 MB of JSON, well under ingest's 2 MiB limit
MAX_WORK_TERA_OPS = 1e10  # a day of a 100 POPS satellite
MAX_SIZE_MB = 1e6
MAX_DEADLINE_S = 30 * 86_400.0


@dataclass(frozen=True)
class JobKind:
    """Defaults of a kind of job: work, data sizes, priority (0..9, 9 first), deadline."""

    work_tera_ops: float
    input_mb: float
    result_mb: float
    priority: int
    deadline_s: float


# Engineering estimates [E]: an inference batch is minutes of an inference satellite
# (~420 TOPS); a training step tens of minutes of a training satellite (~2,000 TOPS) with
# gradients as its result; an imagery task processes one scene captured on board (L0 in,
# L2 products out) and is urgent.
JOB_KINDS: dict[str, JobKind] = {
    "inference": JobKind(100_000.0, 50.0, 5.0, 5, 7_200.0),
    "training_step": JobKind(1_500_000.0, 500.0, 200.0, 3, 6 * 3_600.0),
    "imagery": JobKind(50_000.0, 2_000.0, 20.0, 8, 3_600.0),
}


@dataclass(frozen=True)
class Jobs:
    """Live jobs, each field (m,). ``sat`` and ``holder`` are fleet rows; ``key`` is the
    job's number on its satellite (>= 0) or, for a submitted job, ``-(1 + index)`` into the
    run's list of submitted identifiers."""

    key: np.ndarray  # int64
    sat: np.ndarray  # intp: where the job runs
    holder: np.ndarray  # intp: where its result is now
    kind: np.ndarray  # int8 index into KINDS
    origin: np.ndarray  # int8 index into ORIGINS
    priority: np.ndarray  # int8
    status: np.ndarray  # int8: QUEUED .. FAILED
    retries: np.ndarray  # int16
    work_tera_ops: np.ndarray
    remaining_tera_ops: np.ndarray
    input_mb: np.ndarray
    input_left_mb: np.ndarray  # input still to arrive over the input link before it can start
    result_mb: np.ndarray
    result_left_mb: np.ndarray  # still to send over the current hop (or the downlink)
    sending_to: np.ndarray  # intp: row the result is being sent to, GROUND, or NOWHERE
    submitted_ns: np.ndarray  # int64
    deadline_ns: np.ndarray  # int64
    energy_j: np.ndarray  # dynamic accelerator energy spent on the job so far

    @property
    def n(self) -> int:
        return int(self.key.shape[0])

    def take(self, rows: np.ndarray) -> Jobs:
        """The jobs at ``rows`` (indices or a boolean mask)."""
        return Jobs(**{f.name: getattr(self, f.name)[rows] for f in fields(Jobs)})

    def update(self, **columns: np.ndarray) -> Jobs:
        return replace(self, **columns)


_DTYPES = {
    "key": np.int64,
    "sat": np.intp,
    "holder": np.intp,
    "sending_to": np.intp,
    "kind": np.int8,
    "origin": np.int8,
    "priority": np.int8,
    "status": np.int8,
    "retries": np.int16,
    "submitted_ns": np.int64,
    "deadline_ns": np.int64,
}


def make_jobs(**columns) -> Jobs:
    """Jobs from columns (broadcast to a common length; missing progress fields start fresh)."""
    columns.setdefault("remaining_tera_ops", columns["work_tera_ops"])
    columns.setdefault("result_left_mb", columns["result_mb"])
    columns.setdefault("input_left_mb", 0.0)
    columns.setdefault("holder", columns["sat"])
    columns.setdefault("sending_to", NOWHERE)
    columns.setdefault("status", QUEUED)
    columns.setdefault("retries", 0)
    columns.setdefault("energy_j", 0.0)
    lengths = {np.shape(v)[0] for v in columns.values() if np.ndim(v)}
    if len(lengths) > 1:
        raise ValueError(f"job columns differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    return Jobs(
        **{
            f.name: np.broadcast_to(
                np.asarray(columns[f.name], dtype=_DTYPES.get(f.name, np.float64)), (n,)
            ).copy()
            for f in fields(Jobs)
        }
    )


@cache
def no_jobs() -> Jobs:
    """The empty table (shared: jobs are never changed in place)."""
    return make_jobs(
        key=np.zeros(0, np.int64),
        sat=np.zeros(0, np.intp),
        kind=np.zeros(0, np.int8),
        origin=np.zeros(0, np.int8),
        priority=np.zeros(0, np.int8),
        work_tera_ops=np.zeros(0),
        input_mb=np.zeros(0),
        result_mb=np.zeros(0),
        submitted_ns=np.zeros(0, np.int64),
        deadline_ns=np.zeros(0, np.int64),
    )


def service_order(table: Jobs, rows: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Indices sorting ``rows`` of ``table`` by ``where`` (a satellite row), then priority
    (highest first), submission time and number: the order jobs are served in."""
    return np.lexsort(
        (
            table.key[rows],
            table.submitted_ns[rows],
            -table.priority[rows].astype(np.int16),
            where,
        )
    )


def concat(a: Jobs, b: Jobs) -> Jobs:
    return Jobs(
        **{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in fields(Jobs)}
    )


def of_kind(kind: np.ndarray, sat: np.ndarray, key: np.ndarray, origin: int, t_ns: int) -> Jobs:
    """New queued jobs with their kinds' defaults, submitted at ``t_ns``; arrays (m,)."""
    table = [JOB_KINDS[k] for k in KINDS]
    pick = {
        f.name: np.array([getattr(s, f.name) for s in table], np.float64)[kind]
        for f in fields(JobKind)
    }
    return make_jobs(
        key=key,
        sat=sat,
        kind=kind,
        origin=origin,
        priority=pick["priority"],
        work_tera_ops=pick["work_tera_ops"],
        input_mb=pick["input_mb"],
        result_mb=pick["result_mb"],
        submitted_ns=t_ns,
        deadline_ns=t_ns + (pick["deadline_s"] * 1e9).astype(np.int64),
    )


@dataclass(frozen=True)
class Submission:
    """A validated submission from ``twin.jobs.submit``."""

    job_id: str
    kind: int
    work_tera_ops: float
    input_mb: float
    result_mb: float
    priority: int
    deadline_s: float
    sat_id: int | None


class SubmissionError(ContractError):
    """A bad submission; ``job_id`` is the submitter's identifier when it could be read.
    The reason is cut to ``MAX_REASON_CHARS`` (it may quote a long value)."""

    def __init__(self, reason: str, job_id: str | None = None):
        super().__init__(reason[:MAX_REASON_CHARS])
        self.job_id = job_id


SUBMIT_FIELDS = {
    "schema",
    "version",
    "job_id",
    "kind",
    "work_tera_ops",
    "input_mb",
    "result_mb",
    "priority",
    "deadline_s",
    "sat_id",
}


def decode_submission(payload: bytes | None) -> Submission:
    """Validate a ``twin.jobs.submit`` message; raise ``SubmissionError`` with the reason.

    ``job_id`` and ``kind`` are required; the other fields default to the kind's values;
    ``sat_id`` pins the job to a satellite, otherwise the twin picks the least loaded one.
    """
    body = open_envelope(
        payload, SUBMIT_SCHEMA_ID, SCHEMA_VERSION, "submission", SUBMIT_FIELDS, SubmissionError
    )
    job_id = body.get("job_id")
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise SubmissionError(
            f"job_id: {shown(job_id)} is not 1-64 characters of letters, digits and . _ : -"
        )
    if TWIN_JOB_ID.fullmatch(job_id):
        raise SubmissionError(
            f"job_id: {job_id!r} has the form <sat_id>-<n>, kept for the twin's own jobs"
        )
    kind = body.get("kind")
    if kind not in KINDS:
        raise SubmissionError(f"kind: {shown(kind)} is not one of {', '.join(KINDS)}", job_id)
    defaults = JOB_KINDS[kind]
    values = {}
    for name, low, high in (
        ("work_tera_ops", 0.0, MAX_WORK_TERA_OPS),
        ("input_mb", 0.0, MAX_SIZE_MB),
        ("result_mb", 0.0, MAX_SIZE_MB),
        ("deadline_s", 0.0, MAX_DEADLINE_S),
    ):
        value = body.get(name, getattr(defaults, name))
        if type(value) not in (int, float) or not low < value <= high:
            raise SubmissionError(
                f"{name}: {shown(value)} is not a number in ({low:g}, {high:g}]", job_id
            )
        values[name] = float(value)
    priority = body.get("priority", defaults.priority)
    if type(priority) is not int or not 0 <= priority <= 9:
        raise SubmissionError(f"priority: {shown(priority)} is not an integer 0..9", job_id)
    sat_id = body.get("sat_id")
    if "sat_id" in body and (type(sat_id) is not int or not 1 <= sat_id < 2**31):
        raise SubmissionError(f"sat_id: {shown(sat_id)} is not a positive 32-bit integer", job_id)
    return Submission(job_id, KINDS.index(kind), priority=priority, sat_id=sat_id, **values)


def encode_submission(**fields_: object) -> bytes:
    """A ``twin.jobs.submit`` message with the given fields (for clients and tests)."""
    return orjson.dumps({"schema": SUBMIT_SCHEMA_ID, "version": SCHEMA_VERSION, **fields_})


@dataclass(frozen=True)
class JobSteps:
    """Lifecycle steps of one tick, each (k,): what happened to which job, when and why."""

    time_unix_ns: np.ndarray  # int64
    job_id: list[str]
    step: np.ndarray  # int8 index into STEPS
    sat_id: np.ndarray  # int64, -1 when none (a rejected submission)
    kind: np.ndarray  # int8 index into KINDS, -1 when unknown
    reason: list[str]
    latency_s: np.ndarray  # submission to result on the ground; NaN unless downlinked
    energy_j: np.ndarray  # accelerator energy spent on the job; NaN unless it ended

    @property
    def n(self) -> int:
        return int(self.step.shape[0])


def split_steps(steps: JobSteps, max_rows: int = MAX_STEPS_PER_MESSAGE) -> list[JobSteps]:
    """``steps`` in pieces of at most ``max_rows`` rows, each one message."""
    if steps.n <= max_rows:
        return [steps]
    pieces = []
    for start in range(0, steps.n, max_rows):  # over messages, not jobs
        cut = slice(start, start + max_rows)
        pieces.append(
            JobSteps(
                time_unix_ns=steps.time_unix_ns[cut],
                job_id=steps.job_id[cut],
                step=steps.step[cut],
                sat_id=steps.sat_id[cut],
                kind=steps.kind[cut],
                reason=steps.reason[cut],
                latency_s=steps.latency_s[cut],
                energy_j=steps.energy_j[cut],
            )
        )
    return pieces


def encode_steps(steps: JobSteps) -> bytes:
    """One columnar ``twin.jobs`` message; NaN and -1 travel as null."""
    sat = steps.sat_id.astype(object)
    sat[steps.sat_id < 0] = None
    kind = [KINDS[k] if k >= 0 else None for k in steps.kind.tolist()]
    body = {
        "schema": SCHEMA_ID,
        "version": SCHEMA_VERSION,
        "time_unix_ns": steps.time_unix_ns,
        "job_id": steps.job_id,
        "step": [STEPS[s] for s in steps.step.tolist()],
        "sat_id": sat.tolist(),
        "kind": kind,
        "reason": [r or None for r in steps.reason],
        "latency_s": steps.latency_s,
        "energy_j": steps.energy_j,
    }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


STEP_FIELDS = (
    "time_unix_ns",
    "job_id",
    "step",
    "sat_id",
    "kind",
    "reason",
    "latency_s",
    "energy_j",
)


class StepsError(ContractError):
    """A ``twin.jobs`` message that cannot be decoded; the message names the problem."""


def decode_steps(payload: bytes | None) -> list[tuple]:
    """Rows ``(time_unix_ns, job_id, step, sat_id, kind, reason, latency_s, energy_j)`` of a
    ``twin.jobs`` message, validated (``None`` where a value is absent)."""
    body = open_envelope(
        payload,
        SCHEMA_ID,
        SCHEMA_VERSION,
        "job steps",
        {"schema", "version", *STEP_FIELDS},
        StepsError,
    )
    columns = []
    for name in STEP_FIELDS:
        values = body.get(name)
        if not isinstance(values, list):
            raise StepsError(f"{name}: expected a list, got {type(values).__name__}")
        columns.append(values)
    n = len(columns[0])
    if any(len(c) != n for c in columns):
        raise StepsError("columns differ in length")
    checks = (
        ("time_unix_ns", lambda v: type(v) is int and 0 <= v < 2**63),
        ("job_id", lambda v: isinstance(v, str) and JOB_ID_PATTERN.fullmatch(v) is not None),
        ("step", lambda v: v in STEPS),
        ("sat_id", lambda v: v is None or (type(v) is int and 1 <= v < 2**31)),
        ("kind", lambda v: v is None or v in KINDS),
        ("reason", lambda v: v is None or (isinstance(v, str) and len(v) <= 1000)),
        ("latency_s", lambda v: v is None or (type(v) in (int, float) and v >= 0)),
        ("energy_j", lambda v: v is None or (type(v) in (int, float) and v >= 0)),
    )
    for (name, ok), values in zip(checks, columns, strict=True):
        bad = next((v for v in values if not ok(v)), _NOTHING)
        if bad is not _NOTHING:
            raise StepsError(f"{name}: {shown(bad)} is not accepted")
    for k in (6, 7):  # JSON may write a whole number of seconds or joules as an integer
        columns[k] = [None if v is None else float(v) for v in columns[k]]
    return list(zip(*columns, strict=True))


_NOTHING = object()

"""Job submissions and lifecycle messages: validation with reasons, round trips."""

import numpy as np
import orjson
import pytest

from twin.wire import jobs


def test_a_minimal_submission_takes_the_kinds_defaults():
    sub = jobs.decode_submission(jobs.encode_submission(job_id="ops-1", kind="imagery"))
    defaults = jobs.JOB_KINDS["imagery"]
    assert sub.kind == jobs.KINDS.index("imagery") and sub.sat_id is None
    assert (sub.work_tera_ops, sub.priority, sub.deadline_s) == (
        defaults.work_tera_ops,
        defaults.priority,
        defaults.deadline_s,
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"job_id": "has space", "kind": "inference"}, "job_id: 'has space'"),
        ({"job_id": "a" * 65, "kind": "inference"}, "job_id:"),
        ({"job_id": "j1", "kind": "mining"}, "kind: 'mining' is not one of inference"),
        ({"job_id": "j1", "kind": "inference", "work_tera_ops": -5}, "work_tera_ops: -5"),
        ({"job_id": "j1", "kind": "inference", "work_tera_ops": "lots"}, "work_tera_ops"),
        ({"job_id": "j1", "kind": "inference", "result_mb": 2e6}, "result_mb: 2000000.0"),
        # the size limits: a day of a 100 POPS satellite, 1 TB, 30 days
        ({"job_id": "j1", "kind": "inference", "work_tera_ops": 2e10}, "work_tera_ops: 2000000"),
        ({"job_id": "j1", "kind": "inference", "input_mb": 1e6 + 1}, "input_mb: 1000001"),
        ({"job_id": "j1", "kind": "inference", "deadline_s": 31 * 86400}, "deadline_s: 2678400"),
        ({"job_id": "j1", "kind": "inference", "deadline_s": 0}, "deadline_s: 0"),
        ({"job_id": "j1", "kind": "inference", "priority": 10}, "priority: 10"),
        ({"job_id": "j1", "kind": "inference", "priority": 2.5}, "priority: 2.5"),
        ({"job_id": "j1", "kind": "inference", "sat_id": 0}, "sat_id: 0"),
        ({"job_id": "j1", "kind": "inference", "colour": "red"}, "unknown fields: colour"),
        ({"job_id": "12-5", "kind": "inference"}, "kept for the twin's own jobs"),
        ({"job_id": "j1", "kind": "x" * 5000}, "kind: 'xxxx"),
    ],
)
def test_bad_submissions_are_refused_with_the_field_and_value(fields, reason):
    with pytest.raises(jobs.SubmissionError, match=reason.replace("(", r"\(")) as caught:
        jobs.decode_submission(jobs.encode_submission(**fields))
    if fields["job_id"] == "j1" and "colour" not in fields:
        assert caught.value.job_id == "j1"  # a readable id is kept for the rejection
    assert len(str(caught.value)) <= jobs.MAX_REASON_CHARS


@pytest.mark.parametrize("payload", [None, b"", b"{", b"[]", b'{"schema": "twin.jobs"}'])
def test_unreadable_submissions_are_refused(payload):
    with pytest.raises(jobs.SubmissionError):
        jobs.decode_submission(payload)


def _steps() -> jobs.JobSteps:
    return jobs.JobSteps(
        time_unix_ns=np.array([10, 20], np.int64),
        job_id=["7-0", "batch-7"],
        step=np.array([jobs.STEPS.index("downlinked"), jobs.STEPS.index("rejected")], np.int8),
        sat_id=np.array([7, -1], np.int64),
        kind=np.array([0, -1], np.int8),
        reason=["", "kind: 'x' is not one of inference, training_step, imagery"],
        latency_s=np.array([250.0, np.nan]),
        energy_j=np.array([8.1e4, np.nan]),
    )


def test_whole_numbers_decode_as_floats_and_long_tick_steps_split_into_messages():
    body = orjson.loads(jobs.encode_steps(_steps())) | {"latency_s": [250, None]}
    assert type(jobs.decode_steps(orjson.dumps(body))[0][6]) is float
    many = jobs.split_steps(_steps(), max_rows=1)
    assert [s.job_id for s in many] == [["7-0"], ["batch-7"]]
    assert len(jobs.split_steps(_steps())) == 1


def test_steps_round_trip_with_nulls_where_values_are_absent():
    rows = jobs.decode_steps(jobs.encode_steps(_steps()))
    assert rows == [
        (10, "7-0", "downlinked", 7, "inference", None, 250.0, 8.1e4),
        (20, "batch-7", "rejected", None, None, _steps().reason[1], None, None),
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"step": ["landed", "rejected"]}, "step: 'landed'"),
        ({"sat_id": [0, None]}, "sat_id: 0"),
        ({"latency_s": [-1.0, None]}, "latency_s: -1.0"),
        ({"job_id": ["7-0"]}, "differ in length"),
    ],
)
def test_bad_step_messages_are_refused_with_the_reason(change, reason):
    body = orjson.loads(jobs.encode_steps(_steps())) | change
    with pytest.raises(jobs.StepsError, match=reason):
        jobs.decode_steps(orjson.dumps(body))


def test_job_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        jobs.make_jobs(
            key=np.arange(2),
            sat=np.arange(3),
            kind=0,
            origin=0,
            priority=1,
            work_tera_ops=1.0,
            input_mb=1.0,
            result_mb=1.0,
            submitted_ns=0,
            deadline_ns=1,
        )

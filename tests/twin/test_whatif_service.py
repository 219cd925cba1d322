"""What-if requests answered whatever they hold: every request gets one answer that keeps
the results contract, and nothing a request holds raises."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from twin.core.clock import NS_PER_S, parse_start
from twin.sim.presets import build, load_preset
from twin.stream.forks import Setup, answer
from twin.stream.runner import RunConfig
from twin.wire import whatif as contract

T0 = parse_start("2026-03-20T12:00:00Z")
RESULTS = Draft202012Validator(
    json.loads((Path(__file__).parents[2] / "schemas" / "twin.whatif.results.v1.json").read_text())
)


@pytest.fixture(scope="module")
def setup() -> Setup:
    """threebody-12 at 30-minute ticks: any horizon a request may ask flies in a second."""
    fleet, hw = build(load_preset("threebody-12"), T0)
    config = RunConfig("", {}, "threebody-12", T0, 1800 * NS_PER_S, 1, None)
    return Setup(config, fleet, hw, ["batch-1"], "threebody-12")


CHANGES = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "",
            '[[jobs]]\njob_id = "a"\nkind = "inference"\nsat_id = 3\n',
            '[[jobs]]\njob_id = "a"\nkind = "inference"\nsat_id = 99\n',
            "[[policy]]\ncompute_soc_floor = 0.9\n",
            "[constraints]\nsoc_min = 0.99\n",
            '[[faults]]\nkind = "battery_capacity_loss"\nsat_id = 2\nonset_s = 0\n'
            "magnitude = 0.5\n",
            "[[jobs]]\n" * 3,
        ]
    ),
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "schema": st.sampled_from([contract.REQUESTS_TOPIC, "twin.jobs.submit", 7]),
        "version": st.sampled_from([1, 2, "1", 1.0]),
        "request_id": st.one_of(st.sampled_from(["r-1", "ops:42"]), st.text(max_size=80)),
        "from": st.sampled_from(["start", "latest", "yesterday", None]),
        "horizon_s": st.one_of(st.floats(), st.integers(-10, 10**7)),
        "shell": st.one_of(st.sampled_from(["batch-1", "nope"]), st.text(max_size=5)),
        "change": CHANGES,
        "colour": st.just("red"),
    },
)
PAYLOADS = st.one_of(
    FIELDS.map(lambda body: orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)),
    st.binary(max_size=64),
)


@given(payload=PAYLOADS)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_request_gets_one_answer_within_the_contract(setup, payload):
    message, status = answer(setup, payload)
    body = json.loads(message)
    RESULTS.validate(body)
    assert body["status"] == status
    assert body["exit_code"] in {"done": (0, 3), "refused": (2,), "failed": (1,)}[status]
    if status == "done":
        assert body["violates"] == (body["exit_code"] == 3) == bool(body["new_violations"])
    else:
        assert body["reason"]


def test_a_good_request_is_flown_and_a_bad_change_is_refused_naming_the_key(setup):
    good = contract.encode_request(
        request_id="ok", **{"from": "start"}, horizon_s=7200.0,
        change='[[jobs]]\njob_id = "a"\nkind = "inference"\nsat_id = 3\ndeadline_s = 1\n',
    )  # fmt: skip
    body = json.loads(answer(setup, good)[0])
    assert body["status"] == "done" and body["exit_code"] == 3
    assert [v["constraint"] for v in body["new_violations"]] == ["job a"]
    assert body["added_jobs"]["a"]["step"] == "failed"
    bad = contract.encode_request(
        request_id="bad", **{"from": "start"}, change="[[policy]]\nthrottle_above_c = 900\n"
    )
    body = json.loads(answer(setup, bad)[0])
    assert body["status"] == "refused" and body["request_id"] == "bad"
    assert body["reason"].startswith("change: policy[0].throttle_above_c: 900")


def test_a_request_too_large_to_fly_is_refused_before_anything_is_flown(setup):
    big = contract.encode_request(request_id="big", **{"from": "start"}, horizon_s=86400.0)
    body = json.loads(answer(setup, big, max_samples=12 * 47)[0])
    assert (body["status"], body["request_id"]) == ("refused", "big")
    assert "576 samples a run, over the 564 this service flies" in body["reason"]
    shell = contract.encode_request(
        request_id="shell", **{"from": "start"}, horizon_s=86400.0, shell="batch-1"
    )
    assert json.loads(answer(setup, shell, max_samples=12 * 48)[0])["status"] == "done"

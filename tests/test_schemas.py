"""The topic contracts in schemas/ are current, valid, and hold for what the twin produces."""

import json
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from tests.conftest import same_json
from twin.core.clock import NS_PER_S, parse_start
from twin.fleet import dictionary
from twin.sim.engine import Collected, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.stream.contract import SCHEMAS, examples
from twin.wire import events
from twin.wire.telemetry import decode, encode

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def _schema(topic):
    return json.loads((SCHEMA_DIR / f"{topic}.v1.json").read_text())


def _examples(topic):
    return json.loads((SCHEMA_DIR / "examples" / f"{topic}.v1.json").read_text())


def test_committed_schemas_and_examples_are_current():
    generated = examples()
    for topic, make in SCHEMAS.items():
        assert _schema(topic) == make(), f"{topic}: run python -m twin.stream.contract"
        assert same_json(_examples(topic), generated[topic]), (
            f"{topic}: run python -m twin.stream.contract"
        )
    assert json.loads((SCHEMA_DIR / "channels.json").read_text()) == dictionary.to_json()
    assert (SCHEMA_DIR / "channels.xtce.xml").read_bytes() == dictionary.to_xtce() + b"\n"


@pytest.mark.parametrize("topic", list(SCHEMAS))
def test_schema_is_valid_and_its_examples_validate(topic):
    Draft202012Validator.check_schema(_schema(topic))
    validator = Draft202012Validator(_schema(topic))
    assert _examples(topic), "every topic has an example"
    for message in _examples(topic):
        validator.validate(message)


def test_telemetry_examples_decode():
    for message in _examples("twin.telemetry"):
        assert decode(json.dumps(message).encode()).sat_id.shape == (12,)


@pytest.mark.parametrize("preset", ["threebody-12", "starcloud-1", "suncatcher-81"])
def test_produced_frames_and_events_validate(preset):
    t0 = parse_start("2026-03-20T12:00:00Z")
    fleet, hw = build(load_preset(preset), t0)
    plan = RunPlan(t0, 60 * NS_PER_S, 100, every={"orbit": 2, "thermal": 5})
    sink = Collected()
    run(fleet, hw, plan, sink)
    frames = sink.frames
    produced_events = [kv for batch in sink.event_batches for kv in events.encode(batch)]
    frames[0].channels["alt_km"][0] = np.nan
    telemetry = Draft202012Validator(_schema("twin.telemetry"))
    for frame in frames:
        telemetry.validate(json.loads(encode(frame)))
    event_validator = Draft202012Validator(_schema("twin.events"))
    for key, value in produced_events:
        body = json.loads(value)
        event_validator.validate(body)
        assert key == str(body["sat_id"]).encode()


@pytest.mark.parametrize(
    "bad",
    [{"lat_deg": [91.0] * 12}, {"group": "shell-1"}, {"extra": 1}, {"sunlit": [1] * 12}],
)
def test_schema_rejects_out_of_contract_frames(bad):
    body = _examples("twin.telemetry")[0]
    body.update(bad)
    assert not Draft202012Validator(_schema("twin.telemetry")).is_valid(body)


def test_schema_rejects_an_incomplete_channel_group():
    body = _examples("twin.telemetry")[0]
    del body["alt_km"]
    assert not Draft202012Validator(_schema("twin.telemetry")).is_valid(body)
    bare = {k: body[k] for k in ("schema", "version", "time_unix_ns", "group", "sat_id")}
    assert not Draft202012Validator(_schema("twin.telemetry")).is_valid(bare)

"""The topic contracts in schemas/ hold for what the twin actually produces."""

import json
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from twin.clock import NS_PER_S, parse_start
from twin.contract import example_frame, telemetry_schema
from twin.engine import RunPlan, run
from twin.presets import build, load_preset
from twin.telemetry import decode, encode

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
TELEMETRY = json.loads((SCHEMAS / "twin.telemetry.v1.json").read_text())
EXAMPLE = SCHEMAS / "examples" / "twin.telemetry.v1.json"


def test_committed_schema_and_example_are_current():
    assert telemetry_schema() == TELEMETRY, "run: python -m twin.contract"
    assert json.loads(EXAMPLE.read_text()) == json.loads(example_frame())


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(TELEMETRY)


def test_example_validates_and_decodes():
    Draft202012Validator(TELEMETRY).validate(json.loads(EXAMPLE.read_text()))
    assert decode(EXAMPLE.read_bytes()).sat_id.shape == (12,)


@pytest.mark.parametrize("preset", ["threebody-12", "starcloud-1", "suncatcher-81"])
def test_produced_frames_validate_including_failed_values(preset):
    t0 = parse_start("2026-03-20T12:00:00Z")
    fleet, hw = build(load_preset(preset), t0)
    frames = []
    run(fleet, hw, RunPlan(t0, 60 * NS_PER_S, 100), frames.append)
    frames[0].channels["alt_km"][0] = np.nan
    validator = Draft202012Validator(TELEMETRY)
    for frame in frames:
        validator.validate(json.loads(encode(frame)))


@pytest.mark.parametrize(
    "bad", [{"lat_deg": [91.0] * 12}, {"group": "shell-1"}, {"extra": 1}, {"sunlit": [1] * 12}]
)
def test_schema_rejects_out_of_contract_frames(bad):
    body = json.loads(EXAMPLE.read_text())
    body.update(bad)
    assert not Draft202012Validator(TELEMETRY).is_valid(body)

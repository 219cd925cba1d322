"""The topic contracts in schemas/ hold for what the twin actually produces."""

import json
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from twin.clock import parse_start
from twin.engine import frames_at, telemetry_channels
from twin.fleet import walker_delta
from twin.orbit import propagate
from twin.telemetry import CHANNELS, decode, encode

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
TELEMETRY = json.loads((SCHEMAS / "twin.telemetry.v1.json").read_text())


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(TELEMETRY)


def test_example_validates_and_decodes():
    example = (SCHEMAS / "examples" / "twin.telemetry.v1.json").read_bytes()
    Draft202012Validator(TELEMETRY).validate(json.loads(example))
    assert decode(example).sat_id.shape == (4,)


def test_produced_frames_validate_including_failed_values():
    t0 = parse_start("2026-03-20T12:00:00Z")
    fleet = walker_delta(12, 3, 1, 500.0, 97.4, t0)
    t = t0 + np.arange(3, dtype=np.int64) * 10**9
    channels = telemetry_channels(propagate(fleet.satrecs, t))
    channels["alt_km"][0, 0] = np.nan
    validator = Draft202012Validator(TELEMETRY)
    for frame in frames_at(fleet, t, channels):
        validator.validate(json.loads(encode(frame)))


def test_schema_lists_every_channel_and_nothing_else():
    fields = set(TELEMETRY["properties"]) - {"schema", "version", "time_unix_ns", "group", "sat_id"}
    assert fields == set(CHANNELS)


@pytest.mark.parametrize("bad", [{"lat_deg": [91.0] * 4}, {"group": "shell-1"}, {"extra": 1}])
def test_schema_rejects_out_of_contract_frames(bad):
    body = json.loads((SCHEMAS / "examples" / "twin.telemetry.v1.json").read_text())
    body.update(bad)
    assert not Draft202012Validator(TELEMETRY).is_valid(body)

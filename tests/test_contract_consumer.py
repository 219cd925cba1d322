"""A consumer written from schemas/ alone reads one simulated hour of threebody-12.

This module imports nothing from the twin's packages: only the published schemas, a JSON
Schema validator and a Kafka client, as another system would.
"""

import json
from collections import Counter
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import read_topic, twin_command

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
FRAME_FIELDS = {"schema", "version", "time_unix_ns", "group", "sat_id"}


def schema(topic: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / f"{topic}.v1.json").read_text()))


def frame_to_rows(frame: dict) -> list[dict]:
    """The recipe of schemas/README.md: row i is sat_id[i] at time_unix_ns."""
    channels = {k: v for k, v in frame.items() if k not in FRAME_FIELDS}
    return [
        {
            "time_unix_ns": frame["time_unix_ns"],
            "sat_id": sat,
            **{name: values[i] for name, values in channels.items()},
        }
        for i, sat in enumerate(frame["sat_id"])
    ]


def test_one_simulated_hour_validates_and_decodes_from_the_schemas(kafka_env):
    prefix = kafka_env["TWIN_TOPIC_PREFIX"]
    twin_command(
        "run",
        "--preset",
        "threebody-12",
        "--start",
        "2026-03-20T12:00:00Z",
        "--duration",
        "1h",
        "--step",
        "1s",
        "--speed",
        "max",
        "--rate",
        "thermal=10s",
        "--rate",
        "compute=5s",
        env=kafka_env,
    )

    frames = read_topic(kafka_env["TWIN_KAFKA_BOOTSTRAP"], f"{prefix}twin.telemetry")
    telemetry = schema("twin.telemetry")
    rows_with = Counter()
    keys = set()
    for record in frames:
        body = json.loads(record.value)
        telemetry.validate(body)
        headers = dict(record.headers)
        assert headers["schema_id"] == b"twin.telemetry" and headers["schema_version"] == b"1"
        assert record.key.decode() == body["group"]
        for row in frame_to_rows(body):
            keys.add((row["sat_id"], row["time_unix_ns"]))
            rows_with.update(
                k for k in ("lat_deg", "soc", "temp_payload_c", "throughput_tops") if k in row
            )
    assert len(frames) == 3600
    assert len(keys) == 3600 * 12
    assert rows_with == {
        "lat_deg": 43200,
        "soc": 43200,
        "temp_payload_c": 4320,
        "throughput_tops": 8640,
    }

    events = read_topic(kafka_env["TWIN_KAFKA_BOOTSTRAP"], f"{prefix}twin.events")
    validator = schema("twin.events")
    kinds = Counter()
    for record in events:
        body = json.loads(record.value)
        validator.validate(body)
        assert record.key.decode() == str(body["sat_id"])
        kinds[body["kind"]] += 1
    # One orbit is ~95 min: in an hour every satellite crosses the shadow at least once.
    assert kinds["eclipse_entry"] + kinds["eclipse_exit"] >= 12

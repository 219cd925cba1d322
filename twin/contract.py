"""The JSON Schema of each topic, derived from the channel table (one source of truth).

``python -m twin.contract`` rewrites ``schemas/``; a test checks the committed files match.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from twin.telemetry import CHANNELS, SCHEMA_ID, SCHEMA_VERSION

_JSON_TYPES = {"float64": ["number", "null"], "bool": "boolean", "int16": "integer"}


def telemetry_schema() -> dict:
    """JSON Schema (draft 2020-12) of a ``twin.telemetry`` frame."""
    channels = {}
    for name, c in CHANNELS.items():
        items: dict = {"type": _JSON_TYPES[c.dtype]}
        if c.low is not None:
            items |= {"minimum": c.low, "maximum": c.high}
        channels[name] = {"description": c.description, "type": "array", "items": items}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_ID}.v{SCHEMA_VERSION}.json",
        "title": f"{SCHEMA_ID} v{SCHEMA_VERSION}: one telemetry frame (one tick, one orbital "
        "plane), columnar",
        "description": "Row i of the frame is satellite sat_id[i] at time_unix_ns; every "
        "channel array has one value per satellite. null marks a value that could not be "
        "computed (an SGP4 failure, see sgp4_error). Environment and state are at the tick's "
        "time; powers, utilisation and throughput are over the tick that follows. Kafka key: "
        "the group. Headers: schema_id, schema_version.",
        "type": "object",
        "required": ["schema", "version", "time_unix_ns", "group", "sat_id", *CHANNELS],
        "additionalProperties": False,
        "properties": {
            "schema": {"const": SCHEMA_ID},
            "version": {"const": SCHEMA_VERSION},
            "time_unix_ns": {
                "description": "tick time, ns since 1970-01-01T00:00:00Z (UTC, POSIX seconds)",
                "type": "integer",
                "minimum": 0,
                "maximum": 2**63 - 1,
            },
            "group": {
                "description": "frame group: the orbital plane, plane-NNNN; also the Kafka key",
                "type": "string",
                "pattern": "^plane-[0-9]{4,}$",
            },
            "sat_id": {
                "description": "satellite ids of the frame's rows",
                "type": "array",
                "minItems": 1,
                "maxItems": 10000,
                "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            },
            **channels,
        },
    }


def example_frame() -> bytes:
    """A real frame: the first plane of threebody-12 at its first tick."""
    from twin.clock import NS_PER_S, parse_start
    from twin.engine import RunPlan, run
    from twin.presets import build, load_preset
    from twin.telemetry import encode

    start = parse_start("2026-03-20T12:00:00Z")
    fleet, hw = build(load_preset("threebody-12"), start)
    frames = []
    run(fleet, hw, RunPlan(start, NS_PER_S, 1), frames.append)
    return encode(frames[0])


def write(schemas_dir: Path) -> list[Path]:
    """Write the schema and its example; return the paths written."""
    schema_path = schemas_dir / f"{SCHEMA_ID}.v{SCHEMA_VERSION}.json"
    example_path = schemas_dir / "examples" / f"{SCHEMA_ID}.v{SCHEMA_VERSION}.json"
    example_path.parent.mkdir(parents=True, exist_ok=True)
    schema_path.write_text(json.dumps(telemetry_schema(), indent=2) + "\n")
    example = json.loads(example_frame())
    example_path.write_text(json.dumps(example, indent=1, default=_plain) + "\n")
    return [schema_path, example_path]


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schemas")
    for path in write(target):
        print(path)

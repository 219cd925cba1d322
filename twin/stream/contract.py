"""The JSON Schema of every topic, and an example message of each (one source of truth).

Telemetry and event schemas are derived from the channel and event tables in code; the others
are written here. ``python -m twin.stream.contract`` rewrites ``schemas/``; a test checks that the
committed files match.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from twin.fleet import dictionary as channel_dictionary
from twin.fleet import registry
from twin.wire import elements, events, forecasts, jobs, observed, satellites, telemetry
from twin.wire import whatif as whatif_wire

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_JSON_TYPES = {"float64": ["number", "null"], "bool": "boolean", "int16": "integer"}
TIME_NS = {
    "description": "ns since 1970-01-01T00:00:00Z (UTC, POSIX seconds)",
    "type": "integer",
    "minimum": 0,
    "maximum": 2**63 - 1,
}
SAT_ID = {"description": "satellite id", "type": "integer", "minimum": 1, "maximum": 2**31 - 1}
ID_TEXT = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}


def _envelope(
    schema_id: str, title: str, description: str, required: list[str], properties: dict, **extra
) -> dict:
    return {
        "$schema": DRAFT,
        "$id": f"{schema_id}.v1.json",
        "title": f"{schema_id} v1: {title}",
        "description": description,
        "type": "object",
        "required": ["schema", "version", *required],
        "additionalProperties": False,
        "properties": {"schema": {"const": schema_id}, "version": {"const": 1}, **properties},
        **extra,
    }


def _items(channel, nullable: bool = False) -> dict:
    """The JSON Schema of one value of ``channel`` (a ``twin.wire.telemetry.Channel``): its
    type (null allowed for a float, or for any type with ``nullable``) and range."""
    json_type = _JSON_TYPES[channel.dtype]
    if nullable and not isinstance(json_type, list):
        json_type = [json_type, "null"]
    items: dict = {"type": json_type}
    if channel.low is not None:
        items |= {"minimum": channel.low, "maximum": channel.high}
    return items


def telemetry_schema() -> dict:
    """A ``twin.telemetry`` frame."""
    channels = {}
    for name, c in telemetry.CHANNELS.items():
        items = _items(c)
        channels[name] = {
            "description": f"{c.description} [{c.group}]",
            "type": "array",
            "items": items,
        }
    groups = telemetry.GROUPS
    return _envelope(
        telemetry.SCHEMA_ID,
        "one telemetry frame (one tick, one group of orbital planes), columnar",
        "Row i of the frame is satellite sat_id[i] at time_unix_ns; every channel array has "
        "one value per satellite. Channels come in groups (" + ", ".join(groups) + ") sent "
        "at their own rates: a frame carries every channel of the groups due at its tick and "
        "none of the others. null marks a value that could not be computed (an SGP4 failure, "
        "see sgp4_error). Environment and state are at the tick's time; powers, utilisation "
        "and throughput are over the tick that follows. Kafka key: the group. Partition: "
        "chosen by the twin, not by the key's hash: the fleet's groups in order of their "
        "first plane, each to the partition holding the fewest satellites so far (ties: the "
        "lowest number), so every partition carries a fair share and a group always the same "
        "one. Headers: schema_id, schema_version.",
        ["time_unix_ns", "group", "sat_id"],
        {
            "time_unix_ns": {**TIME_NS, "description": "tick time, " + TIME_NS["description"]},
            "group": {
                "description": "frame group: consecutive whole orbital planes, planes-FIRST-LAST "
                "(at least 200 satellites, except the last group); also the Kafka key",
                "type": "string",
                "pattern": f"^{telemetry.GROUP_PATTERN}$",
            },
            "sat_id": {
                "description": "satellite ids of the frame's rows",
                "type": "array",
                "minItems": 1,
                "maxItems": telemetry.MAX_SATELLITES_PER_FRAME,
                "uniqueItems": True,
                "items": SAT_ID,
            },
            **channels,
        },
        dependentRequired={n: list(groups[c.group]) for n, c in telemetry.CHANNELS.items()},
        anyOf=[{"required": [names[0]]} for names in groups.values()],
    )


def events_schema() -> dict:
    """A ``twin.events`` event."""
    return _envelope(
        events.SCHEMA_ID,
        "one discrete event of one satellite",
        "Eclipse entry/exit and contact acquisition/loss (the satellite rising above or "
        "setting below a station's elevation mask) at the first tick that sees the change; "
        "safe-mode entry/exit at the time the new mode takes effect. Kafka key: the "
        "satellite id as text.",
        ["time_unix_ns", "sat_id", "kind"],
        {
            "time_unix_ns": TIME_NS,
            "sat_id": SAT_ID,
            "kind": {"enum": list(events.KINDS)},
            "station_id": {
                "description": "ground station (contact_aos and contact_los only)",
                "type": "integer",
                "minimum": 1,
                "maximum": 32_767,
            },
        },
        allOf=[
            {
                "if": {"properties": {"kind": {"enum": ["contact_aos", "contact_los"]}}},
                "then": {"required": ["station_id"]},
                "else": {"not": {"required": ["station_id"]}},
            }
        ],
    )


def _column(items: dict, description: str) -> dict:
    return {"description": description, "type": "array", "items": items}


def jobs_submit_schema() -> dict:
    """A ``twin.jobs.submit`` submission (validated by ``twin.wire.jobs.decode_submission``)."""
    kinds = ", ".join(f"{k} {v.work_tera_ops:g}" for k, v in jobs.JOB_KINDS.items())
    return _envelope(
        jobs.SUBMIT_SCHEMA_ID,
        "a compute job submitted to the constellation",
        "Sent by other systems; Kafka key: job_id. Fields other than job_id and kind default "
        f"to the kind's values (work in tera-operations: {kinds}). The twin answers on "
        "twin.jobs: accepted, or rejected with the reason (bad field, unknown satellite, "
        "job_id already used). Without sat_id the job goes to the satellite with the shortest "
        "queue that is not in safe mode.",
        ["job_id", "kind"],
        {
            "job_id": ID_TEXT,
            "kind": {"enum": list(jobs.KINDS)},
            "work_tera_ops": {
                "description": "work, tera-operations",
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": jobs.MAX_WORK_TERA_OPS,
            },
            "input_mb": {
                "description": "input data, MB (recorded; the uplink is not modelled)",
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": jobs.MAX_SIZE_MB,
            },
            "result_mb": {
                "description": "result data to bring to the ground, MB",
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": jobs.MAX_SIZE_MB,
            },
            "priority": {
                "description": "0 lowest .. 9 highest",
                "type": "integer",
                "minimum": 0,
                "maximum": 9,
            },
            "deadline_s": {
                "description": "seconds of simulated time from acceptance by which the result "
                "must be on the ground",
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": jobs.MAX_DEADLINE_S,
            },
            "sat_id": {**SAT_ID, "description": "optional: run on this satellite"},
        },
    )


def jobs_schema() -> dict:
    """A ``twin.jobs`` message: the lifecycle steps of one tick, columnar."""
    nullable_id = {"anyOf": [SAT_ID, {"type": "null"}]}
    return _envelope(
        jobs.SCHEMA_ID,
        "job lifecycle steps of one tick, columnar",
        "Row i is one step of job job_id[i]. A job is accepted, started, completed (its "
        "result is on board), then downlinked (its result is on the ground: latency_s and "
        "energy_j given), or failed with a reason (deadline, radiation retries exhausted); "
        "retried and throttled may happen while it runs; a bad submission is rejected with "
        "the reason. Kafka key: the producing shard.",
        list(jobs.STEP_FIELDS),
        {
            "time_unix_ns": _column(TIME_NS, "when the step happened"),
            "job_id": _column(ID_TEXT, "the job: <sat_id>-<n> or the submitter's id"),
            "step": _column({"enum": list(jobs.STEPS)}, "what happened"),
            "sat_id": _column(nullable_id, "the satellite running the job (null: rejected)"),
            "kind": _column({"enum": [*jobs.KINDS, None]}, "the job's kind (null: unknown)"),
            "reason": _column(
                {"type": ["string", "null"], "maxLength": 1000}, "why (failed, rejected, ...)"
            ),
            "latency_s": _column(
                {"type": ["number", "null"], "minimum": 0},
                "submission to result on the ground (downlinked only)",
            ),
            "energy_j": _column(
                {"type": ["number", "null"], "minimum": 0},
                "accelerator energy the job used (downlinked and failed only)",
            ),
        },
    )


def anomalies_schema() -> dict:
    return _envelope(
        "twin.anomalies",
        "a step of an anomaly's lifecycle",
        "An anomaly is raised (state open), reported while open with its worst value so far "
        "(updated) and cleared (closed); every step carries the same anomaly_id. Published "
        "after the anomalies table holds the step. Kafka key: the satellite id as text, or "
        "'fleet' for fleet-level rules.",
        ["anomaly_id", "time_unix_ns", "rule", "severity", "state"],
        {
            "anomaly_id": ID_TEXT,
            "time_unix_ns": TIME_NS,
            "sat_id": {"anyOf": [SAT_ID, {"type": "null"}]},
            "rule": ID_TEXT,
            "severity": {"enum": ["info", "warning", "critical"]},
            "state": {"enum": ["open", "updated", "closed"]},
            "value": {"type": ["number", "null"]},
            "message": {"type": "string", "maxLength": 500},
        },
    )


def deadletter_schema() -> dict:
    return _envelope(
        "twin.deadletter",
        "a message that could not be stored, with the reason",
        "Written by ingest after the database has recorded the same rejection in "
        "dead_letters. Kafka key: source_topic:source_partition.",
        [
            "reason",
            "source_topic",
            "source_partition",
            "source_offset",
            "payload_bytes",
            "payload_base64",
        ],
        {
            "reason": {"type": "string", "minLength": 1, "maxLength": 1000},
            "source_topic": {"type": "string"},
            "source_partition": {"type": "integer", "minimum": 0},
            "source_offset": {"type": "integer", "minimum": 0},
            "payload_bytes": {
                "description": "size of the rejected message value, bytes",
                "type": "integer",
                "minimum": 0,
            },
            "payload_base64": {
                "description": "the rejected message value (its first 256 KiB), base64; "
                "the dead_letters table keeps it whole",
                "type": "string",
            },
        },
    )


def satellites_schema() -> dict:
    name = {"type": "string", "pattern": satellites.NAME_PATTERN}
    return _envelope(
        satellites.SCHEMA_ID,
        "one satellite of the registry",
        "What a consumer needs to resolve the bare sat_id of every other topic. Published by "
        "twin run before its first tick; the topic is compacted, so the latest record of "
        "each satellite is kept. Kafka key: the satellite id as text.",
        [
            "sat_id",
            "name",
            "fleet",
            "shell",
            "plane",
            "hardware",
            "element_epoch_unix_ns",
            "telemetry_interval_s",
        ],
        {
            "sat_id": SAT_ID,
            "name": {**name, "description": "the satellite's name"},
            "norad_cat_id": {
                "description": "catalogue number of its elements (absent for a planned one)",
                "type": "integer",
                "minimum": 1,
                "maximum": satellites.MAX_CATALOGUE_NUMBER,
            },
            "fleet": {**name, "description": "the fleet (preset) it belongs to"},
            "shell": {**name, "description": "its shell"},
            "plane": {
                "description": "orbital plane, 0-based within the fleet",
                "type": "integer",
                "minimum": 0,
                "maximum": 2**31 - 1,
            },
            "hardware": {**name, "description": "its hardware model (the preset's)"},
            "element_epoch_unix_ns": {**TIME_NS, "description": "epoch of its element set"},
            "telemetry_interval_s": {
                "description": "seconds between its orbit samples",
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": satellites.MAX_INTERVAL_S,
            },
        },
    )


def elements_schema() -> dict:
    text = {"type": "string", "pattern": elements.TEXT_PATTERN}
    number = {"type": "number", "minimum": -1e6, "maximum": 1e6}
    units = {
        "MEAN_MOTION": "rev/day",
        "ECCENTRICITY": "",
        "INCLINATION": "deg",
        "RA_OF_ASC_NODE": "deg",
        "ARG_OF_PERICENTER": "deg",
        "MEAN_ANOMALY": "deg",
        "BSTAR": "1/earth radii",
        "MEAN_MOTION_DOT": "rev/day², as in a TLE",
        "MEAN_MOTION_DDOT": "rev/day³, as in a TLE",
    }
    omm = {key: {**number, "description": unit} if unit else number for key, unit in units.items()}
    for key in elements.OMM_INTEGERS:
        omm[key] = {"type": "integer", "minimum": 0, "maximum": elements.MAX_COUNT}
    omm["NORAD_CAT_ID"] = {
        "description": "catalogue number; also the Kafka key, as text",
        "type": "integer",
        "minimum": 1,
        "maximum": elements.MAX_CATALOGUE_NUMBER,
    }
    for key in elements.OMM_TEXTS:
        omm[key] = text
    for key, value in elements.OMM_FIXED.items():
        omm[key] = {"const": value}
    omm["EPOCH"] = {
        "description": "ISO-8601 UTC, 1957-10-04 to 2100",
        "type": "string",
        "pattern": elements.EPOCH_PATTERN,
    }
    required = [*elements.OMM_NUMBERS, "NORAD_CAT_ID", "EPOCH"]
    return _envelope(
        elements.SCHEMA_ID,
        "one element set of the real fleet",
        "A satellite's element set, as CCSDS OMM mean elements with the keys of CelesTrak's "
        "GP JSON (omm) or as the two lines of a TLE (tle, with object_name); SGP4 must be able "
        "to fly it (TLE checksums and matching catalogue numbers, an epoch that exists). "
        "Kafka key: the catalogue number as text.",
        [],
        {
            "omm": {
                "type": "object",
                "required": required,
                "additionalProperties": False,
                "properties": omm,
            },
            "tle": {
                "type": "array",
                "prefixItems": [{"type": "string", "pattern": p} for p in elements.TLE_PATTERNS],
                "items": False,
                "minItems": 2,
            },
            "object_name": {**text, "description": "the satellite's name, beside a TLE"},
        },
        oneOf=[
            {
                "required": ["omm"],
                "not": {"anyOf": [{"required": ["tle"]}, {"required": ["object_name"]}]},
            },
            {"required": ["tle"], "not": {"required": ["omm"]}},
        ],
    )


def observed_schema() -> dict:
    """A ``twin.observed`` packet."""
    channels = {}
    for name, c in observed.OBSERVED_CHANNELS.items():
        items = _items(c, nullable=True)
        unit = f" ({c.unit})" if c.unit not in ("", "1") else ""
        channels[name] = {
            "description": f"{c.description}{unit}; null: not sampled",
            "type": "array",
            "items": items,
        }
    n = {"minItems": 1, "maxItems": observed.MAX_SAMPLES_PER_PACKET}
    return _envelope(
        observed.SCHEMA_ID,
        "one satellite's samples as the ground received them",
        "Housekeeping telemetry of the real fleet after decoding: a run of one satellite's "
        "samples (a recorder dump or a live stretch) with its sequence count and receipt "
        "time, in engineering units. Every channel array has one value per time; times "
        "strictly increase. State of charge is not reported: the mirror estimates it. "
        "Kafka key: the satellite id as text.",
        list(observed.PACKET_FIELDS),
        {
            "sat_id": SAT_ID,
            "seq": {
                "description": "the packet's sequence count on the satellite's link",
                "type": "integer",
                "minimum": 0,
                "maximum": 2**63 - 1,
            },
            "received_unix_ns": {**TIME_NS, "description": "when the ground received it"},
            "time_unix_ns": {"type": "array", "items": TIME_NS, **n},
            **{name: {**schema, **n} for name, schema in channels.items()},
        },
        anyOf=[{"required": [name]} for name in observed.OBSERVED_CHANNELS],
    )


def whatif_requests_schema() -> dict:
    """A ``twin.whatif.requests`` request (validated by ``twin.wire.whatif.decode_request``)."""
    return _envelope(
        whatif_wire.REQUESTS_TOPIC,
        "a what-if asked of the twin",
        "Sent by other systems; Kafka key: request_id. twin whatif --serve forks the run it "
        "serves (from its newest checkpoint, or its initial state), flies the change beside "
        "the unchanged baseline over horizon_s and answers on twin.whatif.results, keyed "
        "like the request. The change is the text of a change file (README, What-if forks).",
        ["request_id"],
        {
            "request_id": ID_TEXT,
            "from": {
                "description": "latest: the run's newest checkpoint (default); start: its "
                "initial state",
                "enum": list(whatif_wire.FORKS),
            },
            "run_id": {
                "description": "the run forked (default: the one the service serves)",
                "type": "string",
                "pattern": "^[A-Za-z0-9._:+-]{1,200}$",
            },
            "horizon_s": {
                "description": "how far ahead both runs fly, s (default 21600)",
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": whatif_wire.MAX_HORIZON_S,
            },
            "shell": {
                "description": "fly this shell alone",
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
            },
            "change": {
                "description": "TOML text of a change file ([[jobs]], [[policy]], [[faults]], "
                "[[outages]], [constraints]); empty or absent: the baseline alone",
                "type": "string",
                "maxLength": whatif_wire.MAX_CHANGE_CHARS,
            },
        },
    )


def whatif_results_schema() -> dict:
    """A ``twin.whatif.results`` answer."""
    totals = {
        "type": "object",
        "description": "fleet figures over the horizon: min_soc (0..1), max_temp_payload_c, "
        "jobs_completed, jobs_late, jobs_failed, energy_wh (drawn by the loads), tera_ops "
        "(delivered), compute_energy_j (accelerator above idle); null: no satellite had a "
        "value",
        "additionalProperties": {"type": ["number", "null"]},
    }
    return _envelope(
        whatif_wire.RESULTS_TOPIC,
        "the answer to a what-if request",
        "Kafka key: the request's. Every request read gets one answer: done (with the "
        "figures), refused (the request or its change cannot be flown; the reason says why) "
        "or failed. exit_code is what twin whatif exits with: 0 the change breaks nothing the "
        "baseline keeps, 3 it breaks at least one constraint (new_violations), 2 refused, 1 "
        "failed.",
        ["request_id", "status", "exit_code", "reason"],
        {
            "request_id": {**ID_TEXT, "type": ["string", "null"]},
            "status": {"enum": [whatif_wire.DONE, whatif_wire.REFUSED, whatif_wire.FAILED]},
            "exit_code": {"enum": [0, 1, 2, 3]},
            "reason": {"type": "string", "maxLength": 600},
            "whatif_id": {"type": "string"},
            "fork_time_unix_ns": TIME_NS,
            "fork_tick": {"type": "integer", "minimum": 0},
            "horizon_s": {"type": "number", "exclusiveMinimum": 0},
            "violates": {"type": "boolean"},
            "baseline": totals,
            "branch": totals,
            "new_violations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["sat_id", "constraint", "first_unix_ns", "worst"],
                    "properties": {
                        "sat_id": {"type": "integer"},
                        "constraint": {
                            "description": "a channel's red limit (its name), safe_mode, "
                            "soc_min, temp_payload_max_c, or job <id>",
                            "type": "string",
                        },
                        "first_unix_ns": TIME_NS,
                        "worst": {
                            "description": "the value furthest outside the limit, or a "
                            "failed job's reason",
                            "type": ["number", "string", "null"],
                        },
                    },
                },
            },
            "new_violations_total": {
                "description": "how many constraints only the branch breaks (new_violations "
                "lists the first 1,000 by time)",
                "type": "integer",
                "minimum": 0,
            },
            "added_jobs_total": {
                "description": "how many jobs the change added (added_jobs lists the first "
                "1,000 by job id)",
                "type": "integer",
                "minimum": 0,
            },
            "added_jobs": {
                "type": "object",
                "description": "each job the change added, by job id: its last step by the horizon",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["step", "sat_id", "time_unix_ns", "reason", "energy_j"],
                    "properties": {
                        "step": {"enum": [*jobs.STEPS, "unanswered"]},
                        "sat_id": {"type": "integer"},
                        "time_unix_ns": {"type": "integer"},
                        "reason": {"type": "string"},
                        "energy_j": {"type": ["number", "null"]},
                    },
                },
            },
        },
    )


def forecasts_schema() -> dict:
    """A ``twin.forecasts`` message: one satellite's latest state forecast."""

    def column(description: str, items: dict) -> dict:
        return {"description": description, "type": "array", "items": items}

    number_or_null = {"type": ["number", "null"]}
    return _envelope(
        forecasts.FORECASTS_TOPIC,
        "what the latest state forecast predicts for one satellite",
        "Kafka key: sat_id (compacted: the newest forecast of each satellite). Published by "
        "twin forecast states --publish. Columns per orbit, each a period of the satellite's "
        "mean motion from the forecast's start (the last cut by its end); all equally long. "
        "Nulls in the state columns: an orbit where nothing was flown.",
        ["forecast_id", "made_unix_ns", "sat_id", *forecasts.COLUMNS],
        {
            "forecast_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "made_unix_ns": TIME_NS,
            "sat_id": SAT_ID,
            "starts_unix_ns": column("orbit start", TIME_NS),
            "ends_unix_ns": column("orbit end", TIME_NS),
            "min_soc": column(
                "lowest state of charge, 0..1",
                {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            ),
            "min_soc_unix_ns": column(
                "when the lowest state of charge is reached",
                {**TIME_NS, "type": ["integer", "null"]},
            ),
            "max_temp_payload_c": column("hottest payload, °C", number_or_null),
            "tera_ops": column("work delivered, tera-operations", {"type": "number", "minimum": 0}),
            "available_tera_ops": column(
                "work the accelerator could deliver (its peak at the clock of the throttle "
                "state run, none in safe mode), tera-operations",
                {"type": "number", "minimum": 0},
            ),
        },
    )


SCHEMAS = {
    "twin.telemetry": telemetry_schema,
    "twin.events": events_schema,
    "twin.jobs.submit": jobs_submit_schema,
    "twin.jobs": jobs_schema,
    "twin.anomalies": anomalies_schema,
    "twin.deadletter": deadletter_schema,
    "twin.satellites": satellites_schema,
    "twin.elements": elements_schema,
    "twin.observed": observed_schema,
    "twin.whatif.requests": whatif_requests_schema,
    "twin.whatif.results": whatif_results_schema,
    "twin.forecasts": forecasts_schema,
}


def examples() -> dict[str, list[dict]]:
    """Example messages per topic; telemetry and events come from a real run."""
    from twin.core.clock import NS_PER_S, parse_start
    from twin.sim.engine import Collected, RunPlan, run
    from twin.sim.presets import build, load_preset

    start = parse_start("2026-03-20T12:00:00Z")
    fleet, hw = build(load_preset("threebody-12"), start)
    plan = RunPlan(start, 10 * NS_PER_S, 600, every={"thermal": 6, "compute": 6})
    sink = Collected()
    run(fleet, hw, plan, sink)
    frames = sink.frames[:2]
    found: dict[str, dict] = {}
    for batch in sink.event_batches:
        for _, value in events.encode(batch):
            body = json.loads(value)
            found.setdefault(body["kind"], body)
    steps = [
        json.loads(jobs.encode_steps(batch))
        for batch in sink.steps
        if "downlinked" in [jobs.STEPS[s] for s in batch.step.tolist()]
    ][:2]
    return {
        "twin.telemetry": [json.loads(telemetry.encode(f)) for f in frames],
        "twin.events": [found[k] for k in ("eclipse_entry", "contact_aos") if k in found],
        "twin.jobs.submit": [
            json.loads(
                jobs.encode_submission(
                    job_id="ops-2026-0042",
                    kind="imagery",
                    work_tera_ops=80_000.0,
                    input_mb=1_500.0,
                    result_mb=15.0,
                    priority=9,
                    deadline_s=1_800.0,
                    sat_id=3,
                )
            ),
            json.loads(jobs.encode_submission(job_id="batch-7", kind="inference")),
        ],
        "twin.jobs": steps,
        "twin.anomalies": [
            {
                "schema": "twin.anomalies",
                "version": 1,
                "anomaly_id": f"battery_capacity_low:3:{start // 10**9}",
                "time_unix_ns": start,
                "sat_id": 3,
                "rule": "battery_capacity_low",
                "severity": "warning",
                "state": "open",
                "value": 0.62,
                "message": "residual of battery_capacity_wh: 0.62 (below 0.9)",
            }
        ],
        "twin.deadletter": [
            {
                "schema": "twin.deadletter",
                "version": 1,
                "reason": "not JSON: Expecting value",
                "source_topic": "twin.telemetry",
                "source_partition": 2,
                "source_offset": 1234,
                "payload_bytes": 5,
                "payload_base64": "e29vcHM=",
            }
        ],
        "twin.satellites": [
            json.loads(satellites.encode(r))
            for r in registry.records(
                fleet, "threebody-12", ["batch-1"], ["threebody-compute"], 10.0
            )[:2]
        ],
        "twin.observed": [
            {
                "schema": observed.SCHEMA_ID,
                "version": 1,
                "sat_id": 3,
                "seq": 41_207,
                "received_unix_ns": start + 5_400 * NS_PER_S,
                "time_unix_ns": [start + k * 10 * NS_PER_S for k in range(3)],
                "battery_v": [28.412, 28.409, None],
                "battery_a": [-3.105, -3.112, None],
                "array_w": [0.0, 0.0, 0.0],
                "temp_payload_c": [31.25, 31.31, 31.38],
                "temp_radiator_c": [-12.5, -12.56, -12.63],
                "safe_mode": [False, False, False],
                "utilisation": [0.42, 0.45, 0.44],
                "throughput_tops": [176.4, 189.0, 184.8],
                "upsets": [0, 0, 1],
            },
            {
                "schema": observed.SCHEMA_ID,
                "version": 1,
                "sat_id": 7,
                "seq": 9,
                "received_unix_ns": start + 60 * NS_PER_S,
                "time_unix_ns": [start],
                "battery_v": [29.001],
                "temp_payload_c": [24.0],
            },
        ],
        "twin.elements": [
            json.loads(elements.encode(fleet.elements[0], "THREEBODY-1")),
            json.loads(elements.encode_tle(*ISS_TLE, "ISS (ZARYA)")),
        ],
        "twin.whatif.requests": [json.loads(WHATIF_REQUEST)],
        "twin.whatif.results": [json.loads(_whatif_answer(fleet, hw, start))],
        "twin.forecasts": [json.loads(_forecast_message(fleet, hw, start))],
    }


def _forecast_message(fleet, hw, start_ns: int) -> bytes:
    """Satellite 1's message of a 3-hour state forecast of threebody-12 at 60 s ticks."""
    from twin.core.clock import NS_PER_S
    from twin.forecast.states import forecast_states, orbit_columns
    from twin.forecast.whatif import Fork
    from twin.payload.schedule import make_context
    from twin.sim.engine import initial_twin

    ctx = make_context(fleet, hw, start_ns)
    horizon_ns = 3 * 3600 * NS_PER_S
    fork = Fork(start_ns, 60 * NS_PER_S, 0, initial_twin(ctx))
    found = forecast_states(fleet, ctx, fork, horizon_ns)
    columns = orbit_columns(found, (start_ns, start_ns + horizon_ns))
    _, value = next(forecasts.encode_states("forecast-1a2b3c4d", start_ns, fleet.sat_id, columns))
    return value


WHATIF_REQUEST = whatif_wire.encode_request(
    request_id="ops-2026-0042-check",
    **{"from": "start"},
    horizon_s=1800.0,
    change='[[jobs]]\njob_id = "ops-2026-0042"\nkind = "imagery"\nsat_id = 3\nat = "5m"\n',
)


def _whatif_answer(fleet, hw, start_ns: int) -> bytes:
    """The answer to ``WHATIF_REQUEST`` on threebody-12 at 10 s ticks."""
    from twin.core.clock import NS_PER_S
    from twin.stream.forks import Setup, answer
    from twin.stream.runner import RunConfig

    config = RunConfig("", {}, "threebody-12", start_ns, 10 * NS_PER_S, 1, None)
    message, _ = answer(Setup(config, fleet, hw, ["batch-1"], "threebody-12"), WHATIF_REQUEST)
    body = json.loads(message)
    body["whatif_id"] = "ops-2026-0042-check-1a2b3c"  # a random suffix, fixed in the example
    return json.dumps(body).encode()


# ISS, 2024-01-01 (an example of the TLE form; checksums valid)
ISS_TLE = (
    "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9009",
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.50377579 12348",
)


def write(schemas_dir: Path) -> list[Path]:
    """Write every schema and its examples, and the telemetry dictionary as JSON and XTCE;
    return the paths written."""
    written = []
    (schemas_dir / "examples").mkdir(parents=True, exist_ok=True)
    all_examples = examples()
    for topic, make in SCHEMAS.items():
        path = schemas_dir / f"{topic}.v1.json"
        path.write_text(json.dumps(make(), indent=2) + "\n")
        example = schemas_dir / "examples" / f"{topic}.v1.json"
        example.write_text(json.dumps(all_examples[topic], indent=1) + "\n")
        written += [path, example]
    # The telemetry dictionary (units, resolutions, limits) for ground-segment tools.
    dictionary = schemas_dir / "channels.json"
    dictionary.write_text(json.dumps(channel_dictionary.to_json(), indent=2) + "\n")
    xtce = schemas_dir / "channels.xtce.xml"
    xtce.write_bytes(channel_dictionary.to_xtce() + b"\n")
    return [*written, dictionary, xtce]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schemas")
    for written_path in write(target):
        print(written_path)

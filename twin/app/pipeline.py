"""The whole pipeline in one process: the twin, the in-process bus, ingest with the anomaly
rules, and the fleet rules, into one database (the embedded default of ``twin run``).

The twin's frames, events and job steps are encoded exactly as for Kafka and sent on a
``twin.stream.broker.LocalBus``; after each block of ticks ingest drains the bus and stores
the block through the same decoding, validation, writer and rules as ``twin ingest``: one
transaction per block. Nothing here touches Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka import TopicPartition

from ingest.rules.definitions import RuleSet
from ingest.rules.fleet import check_fleet
from ingest.service.consumer import IngestStats, Validator, count_batch, decode_partition
from ingest.service.writer import Writer
from ingest.store.roles import INGEST_ROLE
from twin.fleet.constellation import Fleet, frame_groups, group_partitions
from twin.fleet.hardware import Hardware
from twin.payload import schedule as payload
from twin.sim import engine
from twin.sim.faults import Faults, bind
from twin.stream.broker import DEFAULT_TOPICS_FILE, LocalBus, load_topics
from twin.stream.runner import RunConfig, load_run_scenario, run_context, run_id_of, run_plan
from twin.stream.sink import TopicSink
from twin.wire import jobs, telemetry

LOCAL_KEY = b"local"  # the job steps' key (Kafka runs key them by shard)


@dataclass(frozen=True)
class _Record:
    offset: int
    value: bytes


@dataclass
class LocalStats:
    """What the local pipeline stored, besides the twin's own ``RunStats``."""

    ingest: IngestStats = field(default_factory=IngestStats)
    anomalies_raised: int = 0
    anomalies_open: int = 0
    fleet_minutes: int = 0


Progress = Callable[[int, LocalStats], None]  # (ticks done, stats so far)


def run_local(
    fleet: Fleet,
    hw: Hardware,
    plan: engine.RunPlan,
    ctx: payload.Context,
    database_url: str,
    rules: RuleSet | None,
    seed: int = 0,
    faults: Faults | None = None,
    group: str = "local",
    progress: Progress | None = None,
) -> tuple[engine.RunStats, LocalStats]:
    """Run ``plan`` and store everything it produces in ``database_url`` (migrated, fleet
    registered), acting as ``twin_ingest``; ``progress(ticks_done, stats)`` is called after
    each stored block."""
    topics = load_topics(DEFAULT_TOPICS_FILE)
    names = {name: spec.name for name, spec in topics.items()}
    bus = LocalBus(topics)
    writer = Writer(database_url, group, rules, role=INGEST_ROLE)
    writer.check()
    validator = Validator(writer)
    local = LocalStats()
    open_ids: set[str] = set()

    def store(next_tick: int, _state) -> None:
        drained = bus.drain()
        parts = [
            decode_partition(
                TopicPartition(topic, partition),
                [_Record(offset, value) for offset, value in records],
                validator,
                names[telemetry.TELEMETRY_TOPIC],
                names[jobs.JOBS_TOPIC],
            )
            for (topic, partition), records in sorted(drained.items())
        ]
        if parts:
            result = writer.write(parts)
            count_batch(local.ingest, parts, result)
            local.ingest.last_write_s = time.monotonic()
            for step in result.anomalies:
                if step.state == "open":
                    open_ids.add(step.anomaly_id)
                    local.anomalies_raised += 1
                elif step.state == "closed":
                    open_ids.discard(step.anomaly_id)
            local.anomalies_open = len(open_ids)
        if progress is not None:
            progress(next_tick, local)

    try:
        telemetry_spec = topics[telemetry.TELEMETRY_TOPIC]
        partitions = group_partitions(frame_groups(fleet), telemetry_spec.partitions)
        sink = TopicSink(
            bus, names, jobs_key=LOCAL_KEY, after_block=store, frame_partitions=partitions
        )
        stats = engine.run(fleet, hw, plan, sink, ctx=ctx, seed=seed, faults=faults)
    finally:
        writer.close()
    if rules is not None and rules.fleet:  # every minute of the run is stored by now
        end_us = (plan.start_ns + plan.n_ticks * plan.step_ns) // 1000
        local.fleet_minutes = check_fleet(
            database_url, rules, until_us=end_us, since_us=plan.start_ns // 1000
        ).minutes
    return stats, local


def run_configured(
    config: RunConfig,
    fleet: Fleet,
    hw: Hardware,
    database_url: str,
    rules: RuleSet | None,
    progress: Progress | None = None,
) -> tuple[engine.RunStats, LocalStats]:
    """``twin run``'s configuration on the local pipeline: stations, targets and the fault
    scenario as a Kafka run takes them; no shards, checkpoints or job submissions."""
    scenario = load_run_scenario(config, fleet)
    return run_local(
        fleet,
        hw,
        run_plan(config),
        run_context(config, fleet, hw),
        database_url,
        rules,
        seed=config.seed,
        faults=None if scenario is None else bind(scenario, fleet.sat_id),
        group=f"local:{run_id_of(config)}",
        progress=progress,
    )

"""``twin run``: a configured twin streaming to Kafka, sharded, checkpointed and resumable.

This is the edge where configuration turns into a fleet and the engine's frames, events and
checkpoints turn into Kafka messages; physics stays in the engine.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from twin.core.clock import NS_PER_S, iso
from twin.core.settings import PLAINTEXT, ConfigError, InputError, KafkaSecurity
from twin.fleet.constellation import Fleet, frame_groups, group_partitions, shard_rows, subset
from twin.fleet.hardware import Hardware
from twin.payload import ground, workload
from twin.payload import schedule as payload
from twin.sim import checkpoint, engine, faults
from twin.stream.broker import (
    Producer,
    TopicSpec,
    ensure_topics,
    latest_value,
    schema_headers,
    topic_exists,
)
from twin.stream.intake import Intake
from twin.stream.sink import TopicSink
from twin.wire import jobs, satellites, telemetry

log = logging.getLogger(__name__)

CHECKPOINTS_TOPIC = "twin.checkpoints"


@dataclass(frozen=True)
class RunConfig:
    """Everything ``twin run`` needs besides the fleet."""

    bootstrap: str
    topics: dict[str, TopicSpec]  # by unprefixed name, with prefixed names inside
    preset_name: str
    start_ns: int
    step_ns: int
    n_ticks: int
    speed: float | None
    every: dict[str, int] = field(default_factory=dict)
    shard: tuple[int, int] = (0, 1)
    run_id: str | None = None
    checkpoint_every_ns: int = 0  # 0: no checkpoints
    align_wall_clock: bool = False  # publish each tick when the wall clock reaches its time
    seed: int = 0  # job arrivals and radiation upsets
    stations_path: str | None = None  # ground stations TOML (default: the bundled list)
    targets_path: str | None = None  # imagery targets TOML (default: the bundled map)
    scenario_path: str | None = None  # fault scenario TOML (twin.sim.faults); None: no faults
    security: KafkaSecurity = PLAINTEXT  # TLS and SASL of every Kafka client
    launched_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)


def parse_shard(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", value)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ConfigError("--shard", value, "i/n with 0 <= i < n, e.g. 0/4")
    return int(match[1]), int(match[2])


def parse_rates(values: list[str], step_ns: int, parse_duration) -> dict[str, int]:
    """``group=duration`` pairs into ticks per sample; durations must be whole ticks."""
    every = {}
    for value in values:
        group, _, duration = value.partition("=")
        if group not in telemetry.GROUPS:
            raise ConfigError(
                "--rate", value, f"GROUP=DURATION with GROUP one of {', '.join(telemetry.GROUPS)}"
            )
        ns = parse_duration("--rate", duration)
        if ns % step_ns:
            raise ConfigError("--rate", value, f"a whole number of ticks ({step_ns / 1e9:g} s)")
        every[group] = ns // step_ns
    return every


def load_run_scenario(config: RunConfig, fleet: Fleet) -> faults.Scenario | None:
    """The fault scenario of ``config`` checked against the whole fleet (every shard's
    satellites): made for the run's preset, every fault on a satellite of the fleet."""
    if config.scenario_path is None:
        return None
    scenario = faults.load_scenario(config.scenario_path)
    if scenario.preset != config.preset_name:
        raise ConfigError(
            "--scenario",
            config.scenario_path,
            f"a scenario made for preset {config.preset_name!r} "
            f"(this one is for {scenario.preset!r})",
        )
    faults.bind(scenario, fleet.sat_id, strict=True)
    log.info(
        "scenario %s: %d faults (%s)",
        scenario.name,
        scenario.n_faults,
        ", ".join(f"{k} {v}" for k, v in scenario.counts().items() if v),
    )
    return scenario


def default_run_id(config: RunConfig) -> str:
    i, n = config.shard
    return f"{config.preset_name}-{iso(config.start_ns)}-shard{i}of{n}"


def run_id_of(config: RunConfig) -> str:
    """The run's id: ``--run-id``, else the default."""
    return config.run_id or default_run_id(config)


def run_context(config: RunConfig, fleet: Fleet, hw: Hardware) -> payload.Context:
    """The fixed context of ``config``'s run: its stations and imagery targets."""
    return payload.make_context(
        fleet,
        hw,
        config.start_ns,
        ground.load_stations(config.stations_path),
        workload.load_targets(config.targets_path),
    )


def publish_registry(
    producer: Producer, config: RunConfig, registry: Sequence[satellites.Satellite], ids: set[int]
) -> int:
    """Send the records of ``ids`` to ``twin.satellites``, keyed by satellite id, and wait
    for them; returns how many were sent (none when the topics have no registry)."""
    spec = config.topics.get(satellites.SATELLITES_TOPIC)
    mine = [r for r in registry if r.sat_id in ids]
    if spec is None or not mine:
        return 0
    headers = schema_headers(satellites.SCHEMA_ID, satellites.SCHEMA_VERSION)
    for record in mine:
        producer.send(spec.name, str(record.sat_id).encode(), satellites.encode(record), headers)
    producer.flush()
    return len(mine)


def saved_checkpoint(config: RunConfig, sat_id: np.ndarray) -> checkpoint.Checkpoint | None:
    """The newest checkpoint of ``config``'s run on its checkpoints topic (None: none yet,
    or no such topic), checked to be of the satellites ``sat_id`` (n_sat,), in order."""
    run_id = run_id_of(config)
    topic = config.topics[CHECKPOINTS_TOPIC].name
    if not topic_exists(config.bootstrap, topic, config.security):
        return None
    saved = latest_value(config.bootstrap, topic, run_id.encode(), config.security)
    if saved is None:
        return None
    restored = checkpoint.decode(saved)
    if not np.array_equal(restored.sat_id, sat_id):
        raise InputError(
            f"--run-id: checkpoint of {run_id!r} is for other satellites; give a new --run-id"
        )
    return restored


def run_plan(config: RunConfig) -> engine.RunPlan:
    """When ``config``'s run simulates: start, tick, length, speed and channel-group rates."""
    return engine.RunPlan(
        config.start_ns, config.step_ns, config.n_ticks, config.speed, config.every
    )


def run(
    config: RunConfig,
    fleet: Fleet,
    hw: Hardware,
    progress=None,
    registry: Sequence[satellites.Satellite] = (),
) -> engine.RunStats:
    """Run the twin for ``config``, resuming from this run's last checkpoint if there is one;
    ``progress.update(ticks_done)`` (a ``twin.app.progress.Progress``) after each block.
    ``registry``: the fleet's records, those of this shard's satellites published to
    ``twin.satellites`` (when the topics have it) before the first tick."""
    i, n = config.shard
    rows = shard_rows(fleet, i, n)
    groups = frame_groups(fleet)  # the whole fleet's: every shard places a group alike
    if rows.shape[0] == 0:
        raise InputError(
            f"--shard: shard {i}/{n} has no satellites "
            f"({len(groups.names)} frame groups for {n} shards)"
        )
    all_sat_ids = set(fleet.sat_id.tolist())
    scenario = load_run_scenario(config, fleet)
    if n > 1:
        fleet, hw = subset(fleet, rows), hw.subset(rows)
    # Other shards own the faults on their satellites.
    bound = None if scenario is None else faults.bind(scenario, fleet.sat_id, strict=False)
    ctx = run_context(config, fleet, hw)
    run_id = run_id_of(config)
    ensure_topics(config.bootstrap, list(config.topics.values()), config.security)
    plan = run_plan(config)
    state, start_tick, submit_offsets = None, 0, None
    if config.checkpoint_every_ns:
        restored = saved_checkpoint(config, fleet.sat_id)
        if restored is not None:
            state, start_tick = restored.state, restored.next_tick
            submit_offsets = restored.submit_offsets
            log.info("resuming %s at tick %d of %d", run_id, start_tick, plan.n_ticks)

    intake = Intake(
        config.bootstrap,
        config.topics[jobs.SUBMIT_TOPIC].name,
        set(fleet.sat_id.tolist()),
        all_sat_ids,
        config.shard,
        config.launched_ms,
        submit_offsets,
        config.security,
    )
    producer = Producer(config.bootstrap, client_id=f"twin-run-{i}of{n}", security=config.security)
    publish_registry(producer, config, registry, set(fleet.sat_id.tolist()))
    telemetry_topic = config.topics[telemetry.TELEMETRY_TOPIC].name
    # Frame groups spread evenly over the partitions the topic has on the broker.
    frame_partitions = group_partitions(groups, producer.partition_count(telemetry_topic))
    every_ticks = max(1, config.checkpoint_every_ns // config.step_ns)
    last_saved = [start_tick]

    def save(next_tick: int, state_now) -> None:
        if progress is not None:
            progress.update(next_tick)
        if not config.checkpoint_every_ns:
            return
        if next_tick - last_saved[0] < every_ticks and next_tick < plan.n_ticks:
            return
        producer.flush()  # everything before the checkpoint is acknowledged first
        producer.send(
            config.topics[CHECKPOINTS_TOPIC].name,
            run_id.encode(),
            checkpoint.encode(
                checkpoint.Checkpoint(run_id, next_tick, fleet.sat_id, state_now, intake.offsets())
            ),
        )
        producer.flush()
        last_saved[0] = next_tick

    log.info(
        "run %s: %d satellites from %s, ticks %d..%d of %.3f s, speed %s, to %s",
        run_id,
        fleet.n_sat,
        iso(config.start_ns),
        start_tick,
        plan.n_ticks,
        config.step_ns / NS_PER_S,
        config.speed or "max",
        telemetry_topic,
    )
    wall_start = None
    if config.align_wall_clock:  # tick k is due when the wall clock reaches its time
        first_tick_ns = config.start_ns + start_tick * config.step_ns
        wall_start = time.monotonic() + (first_tick_ns - time.time_ns()) / 1e9
    try:
        sink = TopicSink(
            producer,
            {name: spec.name for name, spec in config.topics.items()},
            jobs_key=f"shard-{i}of{n}".encode(),
            after_block=save,
            frame_partitions=frame_partitions,
        )
        stats = engine.run(
            fleet,
            hw,
            plan,
            sink,
            state=state,
            start_tick=start_tick,
            ctx=ctx,
            seed=config.seed,
            intake=intake,
            faults=bound,
            pacing=engine.Pacing(wall_start=wall_start),
        )
        producer.flush()
    finally:
        producer.close()
        intake.close()
    return stats

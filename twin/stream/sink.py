"""A run's output as topic messages: telemetry frames keyed by frame group, events keyed by
satellite, job steps keyed by the run, each with its schema headers. One sink serves Kafka
(``twin.stream.broker.Producer``) and the in-process bus (``LocalBus``): both take
``send(topic, key, value, headers)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twin.sim.engine import TwinState
from twin.stream.broker import schema_headers
from twin.wire import events, jobs, telemetry


class Sender(Protocol):
    def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None: ...


class TopicSink:
    """``twin.sim.engine.Sink`` onto topics. ``topic_names`` maps each topic to its name on
    the broker (a prefix may apply); ``jobs_key`` keys the run's job steps (one partition per
    shard keeps their order); ``after_block(next_tick, state)``, when given, runs after each
    block (a checkpoint, or storing what the block sent); ``frame_partitions`` sends each
    frame group to its partition (``twin.fleet.constellation.group_partitions``), else the
    key's hash decides."""

    def __init__(
        self,
        sender: Sender,
        topic_names: dict[str, str],
        jobs_key: bytes,
        after_block: Callable[[int, TwinState], None] | None = None,
        frame_partitions: dict[str, int] | None = None,
    ) -> None:
        self._sender = sender
        self._frame_partitions = frame_partitions or {}
        self._telemetry = topic_names[telemetry.TELEMETRY_TOPIC]
        self._events = topic_names[events.EVENTS_TOPIC]
        self._jobs = topic_names[jobs.JOBS_TOPIC]
        self._jobs_key = jobs_key
        self._after_block = after_block
        self._frame_headers = schema_headers(telemetry.SCHEMA_ID, telemetry.SCHEMA_VERSION)
        self._event_headers = schema_headers(events.SCHEMA_ID, events.SCHEMA_VERSION)
        self._job_headers = schema_headers(jobs.SCHEMA_ID, jobs.SCHEMA_VERSION)

    def frame(self, frame: telemetry.Frame) -> None:
        self._sender.send(
            self._telemetry,
            frame.group.encode(),
            telemetry.encode(frame),
            self._frame_headers,
            self._frame_partitions.get(frame.group),
        )

    def events(self, batch: events.Events) -> None:
        for key, value in events.encode(batch):
            self._sender.send(self._events, key, value, self._event_headers)

    def job_steps(self, steps: jobs.JobSteps) -> None:
        for piece in jobs.split_steps(steps):
            self._sender.send(
                self._jobs, self._jobs_key, jobs.encode_steps(piece), self._job_headers
            )

    def block_end(self, next_tick: int, state: TwinState) -> None:
        if self._after_block is not None:
            self._after_block(next_tick, state)

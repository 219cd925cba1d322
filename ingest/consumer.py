"""The ingest loop: poll a batch → decode → write with offsets in one transaction → commit.

Offsets are stored in the database with the data ("storing offsets outside Kafka"); on
partition assignment the consumer seeks to them, so a crash between the database commit and
the Kafka commit neither loses nor repeats a sample. The Kafka commit that follows is for
lag monitoring only.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.structs import OffsetAndMetadata

from ingest.writer import DeadLetter, Writer, frames_to_columns
from twin.bus import CONNECT_SETTINGS, UNREACHABLE, Producer, schema_headers
from twin.settings import InputError, mask_url
from twin.telemetry import FrameError, decode

log = logging.getLogger(__name__)

# Consumer settings (kafka-python names), all explicit.
CONSUMER_SETTINGS: dict[str, object] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "isolation_level": "read_committed",
    "max_poll_records": 2000,
    "max_poll_interval_ms": 300_000,
    "fetch_min_bytes": 1,
    "fetch_max_wait_ms": 200,
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "session_timeout_ms": 10_000,
    "heartbeat_interval_ms": 3_000,
    "request_timeout_ms": 30_000,
    "allow_auto_create_topics": False,
    "check_crcs": True,
    "partition_assignment_strategy": (RangePartitionAssignor, RoundRobinPartitionAssignor),
}


@dataclass
class IngestStats:
    messages: int = 0
    rows_inserted: int = 0
    dead_letters: int = 0
    batches: int = 0


class _SeekToStored(ConsumerRebalanceListener):
    """On assignment, continue from the offsets stored with the data."""

    def __init__(self, consumer: KafkaConsumer, writer: Writer, topic: str) -> None:
        self._consumer = consumer
        self._writer = writer
        self._topic = topic

    def on_partitions_revoked(self, revoked) -> None:
        pass  # every batch is committed before the next poll; nothing is pending

    def on_partitions_assigned(self, assigned) -> None:
        stored = self._writer.stored_offsets(self._topic)
        for tp in assigned:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
        log.info(
            "assigned %s; resuming from stored offsets %s",
            sorted(tp.partition for tp in assigned),
            stored,
        )


def run_ingest(
    bootstrap: str,
    database_url: str,
    topic: str,
    deadletter_topic: str,
    group: str = "twin-ingest",
    stop_when_caught_up: bool = False,
    max_seconds: float | None = None,
) -> IngestStats:
    """Consume ``topic`` into the database until stopped (or caught up, if asked)."""
    writer = Writer(database_url, group)
    writer.check()  # an unreachable database is reported before anything is consumed
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=f"{group}-consumer",
            **CONSUMER_SETTINGS,
            **CONNECT_SETTINGS,
        )
    except UNREACHABLE:
        writer.close()
        raise InputError(f"--kafka: no Kafka broker answered at {bootstrap}") from None
    log.info(
        "ingesting %s from %s into %s (group %s)", topic, bootstrap, mask_url(database_url), group
    )
    dead_producer = Producer(bootstrap, client_id=f"{group}-deadletter")
    consumer.subscribe([topic], listener=_SeekToStored(consumer, writer, topic))
    stats = IngestStats()
    started = time.monotonic()
    try:
        while max_seconds is None or time.monotonic() - started < max_seconds:
            batch = consumer.poll(timeout_ms=500)
            if not batch:
                if stop_when_caught_up and _caught_up(consumer):
                    break
                continue
            dead = _ingest_batch(batch, writer, stats)
            consumer.commit(
                {
                    tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)
                    for tp, records in batch.items()
                }
            )
            for letter in dead:  # after the database commit: the table is the record
                dead_producer.send(
                    deadletter_topic,
                    key=f"{letter.topic}:{letter.partition}".encode(),
                    value=deadletter_message(letter),
                    headers=[
                        *schema_headers("twin.deadletter", 1),
                        ("reason", letter.reason.encode()),
                    ],
                )
            dead_producer.flush()
    finally:
        consumer.close(autocommit=False)
        dead_producer.close()
        writer.close()
    return stats


def deadletter_message(letter: DeadLetter) -> bytes:
    """The ``twin.deadletter`` v1 envelope: reason, source and the raw value in base64."""
    return json.dumps(
        {
            "schema": "twin.deadletter",
            "version": 1,
            "reason": letter.reason,
            "source_topic": letter.topic,
            "source_partition": letter.partition,
            "source_offset": letter.offset,
            "payload_base64": base64.b64encode(letter.payload).decode(),
        },
        separators=(",", ":"),
    ).encode()


def _ingest_batch(batch: dict, writer: Writer, stats: IngestStats) -> list[DeadLetter]:
    frames, dead, offsets = [], [], {}
    for tp, records in batch.items():
        for record in records:
            try:
                frames.append(decode(record.value))
            except FrameError as exc:
                dead.append(
                    DeadLetter(tp.topic, tp.partition, record.offset, str(exc), record.value or b"")
                )
        offsets[(tp.topic, tp.partition)] = records[-1].offset + 1
    stats.rows_inserted += writer.write(frames_to_columns(frames), dead, offsets)
    stats.messages += sum(len(r) for r in batch.values())
    stats.dead_letters += len(dead)
    stats.batches += 1
    return dead


def _caught_up(consumer: KafkaConsumer) -> bool:
    """True when partitions are assigned and each position has reached the end offset."""
    assigned: set[TopicPartition] = consumer.assignment()
    if not assigned:
        return False
    ends = consumer.end_offsets(list(assigned))
    return all(consumer.position(tp) >= ends[tp] for tp in assigned)

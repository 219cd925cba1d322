"""The ingest loop: poll a batch → decode and validate → write with offsets in one transaction.

The write runs in a worker thread while the loop polls and decodes the next batch (the
database's work overlaps the client's; one write at a time, in offset order).

Offsets are stored in the database with the data ("storing offsets outside Kafka"); on
partition assignment the consumer seeks to them, so a crash between the database commit and
the Kafka commit neither loses nor repeats a sample. The Kafka commit that follows is for
lag monitoring only. Nothing a producer sends can stop the loop: a message that fails any
check is stored in ``dead_letters`` (and sent to ``twin.deadletter``) with its reason.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass

import numpy as np
import orjson
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from ingest.rules.definitions import RuleSet
from ingest.rules.detect import AnomalyRow
from ingest.service.batch import DeadLetter, Event, PartitionBatch
from ingest.service.writer import StaleBatch, Writer
from ingest.store.roles import INGEST_ROLE
from twin.core import shutdown
from twin.core.clock import parse_start
from twin.core.errors import ContractError
from twin.core.settings import PLAINTEXT, InputError, KafkaSecurity, mask_url
from twin.stream.broker import (
    DeliveryError,
    Producer,
    caught_up,
    open_client,
    schema_headers,
)
from twin.wire import elements, events, jobs, observed, telemetry

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # a 210-satellite frame of every channel is ~41 KiB
DEADLETTER_PAYLOAD_BYTES = 256 * 1024
ANOMALIES_TOPIC = "twin.anomalies"
EARLIEST_NS = parse_start("1990-01-01T00:00:00Z")  # sane simulation times
LATEST_NS = parse_start("2100-01-01T00:00:00Z")

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
    """Counts of a run. Invariants: messages = frames + events + job messages + element sets
    + dead letters - frames stored in part (a frame some of whose samples were rejected is
    both);
    samples in stored frames = rows inserted + rows repeated."""

    messages: int = 0
    frames: int = 0
    events: int = 0
    job_messages: int = 0
    job_steps_inserted: int = 0
    element_sets: int = 0
    element_sets_repeated: int = 0  # sets of a satellite and epoch already stored
    observed_packets: int = 0
    observed_inserted: int = 0  # observed samples stored
    observed_repeated: int = 0  # observed samples of a satellite and time already stored
    rows_inserted: int = 0
    rows_repeated: int = 0
    conflicting_samples: int = 0  # repeated samples whose values differ from the stored
    dead_letters: int = 0
    anomaly_steps: int = 0  # anomalies raised, updated and cleared
    batches: int = 0
    first_record_s: float | None = None  # monotonic time the first records arrived
    last_write_s: float | None = None  # monotonic time the last batch was committed


class _SeekToStored(ConsumerRebalanceListener):
    """On assignment, continue from the offsets (and rule state) stored with the data."""

    def __init__(self, consumer: KafkaConsumer, writer: Writer, telemetry_topic: str) -> None:
        self._consumer = consumer
        self._writer = writer
        self._telemetry_topic = telemetry_topic  # the rules' state follows its partitions
        self.wait_for: Callable[[], None] = lambda: None  # the write in flight, if any

    def on_partitions_revoked(self, revoked) -> None:
        """Let the batch being written end first: the next owner then finds its offsets."""
        self.wait_for()

    def on_partitions_assigned(self, assigned) -> None:
        """Seek to the offsets stored with the data; a partition this database has never
        stored anything from is read from its beginning, whatever Kafka's committed offset
        says (a new or replaced database must not silently skip history)."""
        _seek_to_stored(self._consumer, self._writer, list(assigned))
        for topic in {tp.topic for tp in assigned}:
            if topic == self._telemetry_topic:
                self._writer.restore_rule_state(
                    topic, sorted(tp.partition for tp in assigned if tp.topic == topic)
                )
        log.info("assigned %s", sorted((tp.topic, tp.partition) for tp in assigned))


def _seek_to_stored(consumer: KafkaConsumer, writer: Writer, partitions: list) -> None:
    """Seek each partition to the offset stored with the data; one this database has never
    stored anything from, to its beginning."""
    for topic in {tp.topic for tp in partitions}:
        stored = writer.stored_offsets(topic)
        unseen = [tp for tp in partitions if tp.topic == topic and tp.partition not in stored]
        for tp in partitions:
            if tp.topic == topic and tp.partition in stored:
                consumer.seek(tp, stored[tp.partition])
        if unseen:
            consumer.seek_to_beginning(*unseen)


class Validator:
    """Decodes messages and applies the store's checks; raises ``ContractError`` with the
    reason."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def frame(self, payload: bytes) -> telemetry.Frame:
        """The frame's acceptable samples: one satellite's bad value or unknown id rejects
        that sample (noted in ``rejected``), never the others."""
        frame = telemetry.decode(payload, per_sample=True)
        _check_time(frame.time_unix_ns)
        unknown = self._unknown(frame.sat_id)
        if unknown.all():
            raise ContractError(self._unknown_reason(frame.sat_id))
        if unknown.any():
            reason = self._unknown_reason(frame.sat_id[unknown])
            frame = telemetry.reject_samples(frame, unknown, reason)
        return frame

    def event(self, payload: bytes) -> Event:
        time_ns, sat, kind, station = events.decode(payload)
        _check_time(time_ns)
        self._check_known(np.array([sat], dtype=np.int32))
        return Event(time_ns, sat, kind, station)

    def job_steps(self, payload: bytes) -> list[tuple]:
        rows = jobs.decode_steps(payload)
        for row in rows:
            _check_time(row[0])
        sats = [row[3] for row in rows if row[3] is not None]
        if sats:
            self._check_known(np.unique(np.array(sats, dtype=np.int32)))
        return rows

    @staticmethod
    def element_set(payload: bytes) -> elements.ElementSet:
        """An element set of the real fleet: any catalogue number (it registers itself)."""
        return elements.decode(payload)

    @staticmethod
    def observed_packet(payload: bytes) -> observed.ObservedPacket:
        """A packet of the real fleet's telemetry; a sample with a value outside its range
        or a time outside the accepted years is left out (noted in ``rejected``)."""
        packet = observed.decode(payload, per_sample=True)
        outside = (packet.time_unix_ns < EARLIEST_NS) | (packet.time_unix_ns >= LATEST_NS)
        if outside.all():
            _check_time(int(packet.time_unix_ns[0]))
        if outside.any():
            reason = f"{int(outside.sum())} samples outside the accepted 1990..2100"
            packet = observed.reject_samples(packet, outside, reason)
        return packet

    def _unknown(self, sat_id: np.ndarray) -> np.ndarray:
        """(n,) bool: which of ``sat_id`` are not registered (re-reading the registry once
        when some are not: registered since the list was read?)."""
        unknown = ~np.isin(sat_id, self._writer.known_satellites())
        if unknown.any():
            unknown = ~np.isin(sat_id, self._writer.known_satellites(refresh=True))
        return unknown

    @staticmethod
    def _unknown_reason(sat_id: np.ndarray) -> str:
        return (
            f"unknown satellite ids {sat_id[:5].tolist()} (register the fleet with: twin db fleet)"
        )

    def _check_known(self, sat_id: np.ndarray) -> None:
        unknown = self._unknown(sat_id)
        if unknown.any():
            raise ContractError(self._unknown_reason(sat_id[unknown]))


def _check_time(time_ns: int) -> None:
    if not EARLIEST_NS <= time_ns < LATEST_NS:
        raise ContractError(f"time_unix_ns: {time_ns} is outside the accepted 1990..2100")


def run_ingest(
    bootstrap: str,
    database_url: str,
    topic_prefix: str = "",
    group: str = "twin-ingest",
    stop_when_caught_up: bool = False,
    max_seconds: float | None = None,
    batch_records: int = 2000,
    instance_id: str | None = None,
    rules: RuleSet | None = None,
    keep_going: Callable[[], bool] | None = None,
    security: KafkaSecurity = PLAINTEXT,
) -> IngestStats:
    """Consume telemetry, events and job steps into the database until stopped (or caught
    up, if asked), acting as ``twin_ingest`` (``ingest.store.roles``; a superuser login is refused).

    ``batch_records`` caps the messages per poll (one transaction); ``instance_id`` makes the
    consumer a static group member, so a restarted process takes its partitions back at once
    instead of waiting for the session of the one it replaces to time out. ``rules``: the
    per-satellite anomaly rules evaluated on every batch, their anomalies stored with it and
    then published to ``twin.anomalies``. With ``stop_when_caught_up``, ``keep_going()``
    returning True (a producer still running) keeps the loop polling past the end.
    ``security``: TLS and SASL of the consumer and the producer.
    """
    telemetry_topic = topic_prefix + telemetry.TELEMETRY_TOPIC
    events_topic = topic_prefix + events.EVENTS_TOPIC
    jobs_topic = topic_prefix + jobs.JOBS_TOPIC
    elements_topic = topic_prefix + elements.ELEMENTS_TOPIC
    observed_topic = topic_prefix + observed.OBSERVED_TOPIC
    deadletter_topic = topic_prefix + "twin.deadletter"
    anomalies_topic = topic_prefix + ANOMALIES_TOPIC
    writer = Writer(database_url, group, rules, role=INGEST_ROLE)
    writer.check()  # an unreachable database is reported before anything is consumed
    try:
        consumer = open_client(
            KafkaConsumer,
            bootstrap,
            security,
            group_id=group,
            client_id=f"{group}-consumer",
            group_instance_id=instance_id,
            **{**CONSUMER_SETTINGS, "max_poll_records": batch_records},
        )
    except InputError:
        writer.close()
        raise
    log.info(
        "ingesting %s, %s, %s, %s and %s from %s into %s (group %s)",
        telemetry_topic,
        events_topic,
        jobs_topic,
        elements_topic,
        observed_topic,
        bootstrap,
        mask_url(database_url),
        group,
    )
    producer = Producer(bootstrap, client_id=f"{group}-publisher", security=security)
    listener = _SeekToStored(consumer, writer, telemetry_topic)
    consumer.subscribe(
        [telemetry_topic, events_topic, jobs_topic, elements_topic, observed_topic],
        listener=listener,
    )
    validator = Validator(writer)
    stats = IngestStats()
    started = time.monotonic()
    publish = _Publisher(producer, deadletter_topic, anomalies_topic)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="ingest-write") as pool:
            in_flight: _Write | None = None
            listener.wait_for = lambda: in_flight.wait() if in_flight is not None else None
            while (max_seconds is None or time.monotonic() - started < max_seconds) and not (
                shutdown.requested()  # SIGTERM/SIGINT: the batch in hand is written, then stop
            ):
                # While a batch is being written, the next one is polled and decoded.
                batch = consumer.poll(timeout_ms=0 if in_flight is not None else 500)
                parts = [
                    decode_partition(
                        tp,
                        records,
                        validator,
                        telemetry_topic,
                        jobs_topic,
                        elements_topic,
                        observed_topic,
                    )
                    for tp, records in batch.items()
                ]
                if in_flight is not None:
                    written, in_flight = in_flight.finish(consumer, writer, stats, publish), None
                    if not written:  # stale: back to the stored offsets, this poll's included
                        _seek_to_stored(consumer, writer, _assigned(consumer, batch))
                        continue
                if not batch:
                    if (
                        stop_when_caught_up
                        and not (keep_going is not None and keep_going())
                        and caught_up(consumer)
                    ):
                        break
                    continue
                if stats.first_record_s is None:
                    stats.first_record_s = time.monotonic()
                in_flight = _Write(pool.submit(writer.write, parts), parts, batch)
            if in_flight is not None:
                in_flight.finish(consumer, writer, stats, publish)
    finally:
        consumer.close(autocommit=False)
        producer.close()
        writer.close()
    return stats


@dataclass
class _Write:
    """A batch being written in the worker thread: its future, decoded parts and records."""

    future: Future
    parts: list[PartitionBatch]
    batch: dict

    def wait(self) -> None:
        """Until the write has ended (committed, rolled back or failed)."""
        futures_wait([self.future])

    def finish(self, consumer: KafkaConsumer, writer: Writer, stats: IngestStats, publish) -> bool:
        """Wait for the write, count it and publish what it dead-lettered or raised; False
        when the batch was stale (nothing written, the consumer sought back to the stored
        offsets). A write that failed otherwise raises here."""
        try:
            result = self.future.result()
        except StaleBatch as exc:  # the partitions moved on without us: nothing written
            log.warning("%s; continuing from the offsets stored with the data", exc)
            _seek_to_stored(consumer, writer, _assigned(consumer, self.batch))
            return False
        count_batch(stats, self.parts, result)
        stats.last_write_s = time.monotonic()
        _commit_for_monitoring(consumer, self.batch)
        publish(self.parts, result)
        return True


def _assigned(consumer: KafkaConsumer, partitions) -> list[TopicPartition]:
    """Those of ``partitions`` the consumer still holds (a seek needs an assigned one)."""
    held = consumer.assignment()
    return [tp for tp in partitions if tp in held]


@dataclass
class _Publisher:
    """Sends a written batch's dead letters and anomalies (after the database commit: the
    tables are the record of them)."""

    producer: Producer
    deadletter_topic: str
    anomalies_topic: str

    def __call__(self, parts: list[PartitionBatch], result) -> None:
        for letter in [
            *(d for part in parts for d in part.dead),
            *result.refused,
            *result.conflicting,
        ]:
            self.producer.send(
                self.deadletter_topic,
                key=f"{letter.topic}:{letter.partition}".encode(),
                value=deadletter_message(letter),
                headers=[
                    *schema_headers("twin.deadletter", 1),
                    ("reason", letter.reason.encode()),
                ],
            )
        for row in result.anomalies:
            self.producer.send(
                self.anomalies_topic,
                key=str(row.sat_id).encode() if row.sat_id is not None else b"fleet",
                value=anomaly_message(row),
                headers=schema_headers(ANOMALIES_TOPIC, 1),
            )
        try:
            self.producer.flush()
        except DeliveryError as exc:  # the tables already hold them
            log.error("dead letters or anomalies not published: %s", exc)
            self.producer.failed.clear()


def decode_partition(
    tp: TopicPartition,
    records: list,
    validator: Validator,
    telemetry_topic: str,
    jobs_topic: str,
    elements_topic: str = "",
    observed_topic: str = "",
) -> PartitionBatch:
    part = PartitionBatch(
        tp.topic, tp.partition, records[0].offset, records[-1].offset, messages=len(records)
    )
    for record in records:
        value = record.value or b""
        part.payloads[record.offset] = value
        try:
            if len(value) > MAX_MESSAGE_BYTES:
                raise ContractError(f"message of {len(value)} bytes exceeds {MAX_MESSAGE_BYTES}")
            if tp.topic == telemetry_topic:
                frame = validator.frame(value)
                part.frames.append((record.offset, frame))
                if frame.n_rejected:  # the rest of the frame is stored; this says what was not
                    part.dead.append(
                        DeadLetter(
                            tp.topic,
                            tp.partition,
                            record.offset,
                            frame.rejected,
                            value,
                            frame.n_rejected,
                        )
                    )
            elif tp.topic == jobs_topic:
                part.job_steps.append((record.offset, validator.job_steps(value)))
            elif tp.topic == elements_topic:
                part.element_sets.append((record.offset, validator.element_set(value)))
            elif tp.topic == observed_topic:
                packet = validator.observed_packet(value)
                part.observed.append((record.offset, packet))
                if packet.n_rejected:  # the rest of the packet is stored
                    part.dead.append(
                        DeadLetter(
                            tp.topic,
                            tp.partition,
                            record.offset,
                            packet.rejected,
                            value,
                            packet.n_rejected,
                        )
                    )
            else:
                part.events.append((record.offset, validator.event(value)))
        except ContractError as exc:
            part.dead.append(
                DeadLetter(
                    tp.topic, tp.partition, record.offset, str(exc), value, _samples_in(value)
                )
            )
    return part


def _samples_in(value: bytes) -> int:
    """Satellite-samples a rejected message held, when its sat_id list can be read."""
    try:
        sat_id = orjson.loads(value).get("sat_id") if len(value) <= MAX_MESSAGE_BYTES else None
    except (orjson.JSONDecodeError, AttributeError):
        return 0
    return len(sat_id) if isinstance(sat_id, list) else (1 if isinstance(sat_id, int) else 0)


def count_batch(stats: IngestStats, parts: list[PartitionBatch], result) -> None:
    """Add one written poll to ``stats``; a record the database refused counts as a dead
    letter, not as what it decoded to."""
    refused = {(d.topic, d.partition, d.offset) for d in result.refused}

    def kept(p: PartitionBatch, records: list) -> int:
        return sum((p.topic, p.partition, o) not in refused for o, _ in records)

    stats.batches += 1
    stats.messages += sum(p.messages for p in parts)
    stats.frames += sum(kept(p, p.frames) for p in parts)
    stats.events += sum(kept(p, p.events) for p in parts)
    stats.job_messages += sum(kept(p, p.job_steps) for p in parts)
    stats.job_steps_inserted += result.job_steps_inserted
    stats.element_sets += sum(kept(p, p.element_sets) for p in parts)
    stats.element_sets_repeated += result.element_sets_repeated
    stats.observed_packets += sum(kept(p, p.observed) for p in parts)
    stats.observed_inserted += result.observed_inserted
    stats.observed_repeated += result.observed_repeated
    stats.dead_letters += sum(len(p.dead) for p in parts) + len(refused)
    stats.rows_inserted += result.rows_inserted
    stats.rows_repeated += result.rows_repeated
    stats.conflicting_samples += sum(d.samples for d in result.conflicting)
    stats.anomaly_steps += len(result.anomalies)


def deadletter_message(letter: DeadLetter) -> bytes:
    """The ``twin.deadletter`` v1 envelope: reason, source and the raw value in base64 (its
    first 256 KiB; the ``dead_letters`` table keeps it whole)."""
    return json.dumps(
        {
            "schema": "twin.deadletter",
            "version": 1,
            "reason": letter.reason,
            "source_topic": letter.topic,
            "source_partition": letter.partition,
            "source_offset": letter.offset,
            "payload_bytes": len(letter.payload),
            "payload_base64": base64.b64encode(letter.payload[:DEADLETTER_PAYLOAD_BYTES]).decode(),
        },
        separators=(",", ":"),
    ).encode()


def anomaly_message(row: AnomalyRow) -> bytes:
    """The ``twin.anomalies`` v1 message of one anomaly step."""
    return orjson.dumps(
        {
            "schema": ANOMALIES_TOPIC,
            "version": 1,
            "anomaly_id": row.anomaly_id,
            "time_unix_ns": row.time_us * 1000,
            "sat_id": row.sat_id,
            "rule": row.rule,
            "severity": row.severity,
            "state": row.state,
            "value": row.value,
            "message": row.message[:500],
        }
    )


def _commit_for_monitoring(consumer: KafkaConsumer, batch: dict) -> None:
    """Commit to Kafka what the database already holds; only lag monitoring reads it, so a
    failure (a rebalance in between) is logged, not raised."""
    try:
        consumer.commit(
            {tp: OffsetAndMetadata(records[-1].offset + 1, "", -1) for tp, records in batch.items()}
        )
    except KafkaError as exc:
        log.warning("Kafka offset commit skipped (%s); the database holds the offsets", exc)

"""The bus: Kafka producer and topic administration (kafka-python).

Thin wrappers that open no connection in ``__init__``. Every producer setting that matters
is set here explicitly, never left to library defaults.
"""

from __future__ import annotations

import logging
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

from twin.settings import InputError

log = logging.getLogger(__name__)

# Producer settings (kafka-python names). acks=all + idempotence: no loss, no duplicates on
# retry; linger and batch size let one tick's frames share a request; zstd stores the JSON
# frames in 37% fewer bytes than lz4, at 370,000 against 420,000 samples/s on this machine
# (bench/bench_producer.py): far above need, for much less broker storage and network.
PRODUCER_SETTINGS: dict[str, object] = {
    "acks": "all",
    "enable_idempotence": True,
    "max_in_flight_requests_per_connection": 5,
    "retries": 2_147_483_647,
    "delivery_timeout_ms": 120_000,
    "request_timeout_ms": 30_000,
    "retry_backoff_ms": 100,
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "max_request_size": 4 * 1024 * 1024,
    "compression_type": "zstd",
    "max_block_ms": 10_000,
    "allow_auto_create_topics": False,
}
# What kafka-python raises when no bootstrap server answers.
UNREACHABLE = (KafkaTimeoutError, KafkaConnectionError)
# Connection settings shared by every client: an unreachable broker is reported in 10 s.
CONNECT_SETTINGS: dict[str, int] = {
    "bootstrap_timeout_ms": 6_000,
    "reconnect_backoff_ms": 100,
    "reconnect_backoff_max_ms": 2_000,
}


REQUIRED_TOPICS = {
    "twin.telemetry",
    "twin.events",
    "twin.jobs",
    "twin.jobs.submit",
    "twin.deadletter",
    "twin.checkpoints",
}
DEFAULT_TOPICS_FILE = Path(__file__).resolve().parent / "topics.toml"


@dataclass(frozen=True)
class TopicSpec:
    """How a topic is created: partitions, replication and broker-side configs."""

    name: str
    partitions: int = 1
    replication_factor: int = 1
    configs: dict[str, str] = field(default_factory=dict)


def load_topics(path: Path = DEFAULT_TOPICS_FILE, prefix: str = "") -> dict[str, TopicSpec]:
    """Topic specs from a TOML file, keyed by the unprefixed topic name.

    Raises ``InputError`` naming the file, the topic and the key for anything unknown.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"--topics: {path}: {exc}") from None
    if set(data) != {"topics"} or not isinstance(data["topics"], dict):
        raise InputError(f'--topics: {path}: expected only [topics."NAME"] tables')
    specs = {}
    for name, table in data["topics"].items():
        unknown = set(table) - {"partitions", "replication_factor", "configs"}
        if unknown:
            raise InputError(
                f"--topics: {path}: topics.{name}: unknown keys {', '.join(sorted(unknown))}"
            )
        partitions = table.get("partitions", 1)
        if not isinstance(partitions, int) or not 1 <= partitions <= 1000:
            raise InputError(
                f"--topics: {path}: topics.{name}.partitions: {partitions!r} "
                "must be an integer in 1..1000"
            )
        configs = {str(k): str(v) for k, v in table.get("configs", {}).items()}
        specs[name] = TopicSpec(
            prefix + name, partitions, table.get("replication_factor", 1), configs
        )
    missing = sorted(REQUIRED_TOPICS - set(specs))
    if missing:
        raise InputError(f"--topics: {path}: missing topics {', '.join(missing)}")
    return specs


def admin_client(bootstrap: str) -> KafkaAdminClient:
    """An admin client that gives up on an unreachable broker within 10 s."""
    try:
        return KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="twin-admin",
            request_timeout_ms=10_000,
            **CONNECT_SETTINGS,
        )
    except UNREACHABLE:
        raise InputError(
            f"--kafka: no Kafka broker answered at {bootstrap} within "
            f"{CONNECT_SETTINGS['bootstrap_timeout_ms'] / 1000:.0f} s"
        ) from None


def ensure_topics(bootstrap: str, topics: list[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = admin_client(bootstrap)
    try:
        existing = set(admin.list_topics())
        created = []
        for spec in topics:
            if spec.name in existing:
                continue
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            spec.name,
                            spec.partitions,
                            spec.replication_factor,
                            topic_configs=spec.configs,
                        )
                    ]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process
        return created
    finally:
        admin.close()


def schema_headers(schema_id: str, version: int) -> list[tuple[str, bytes]]:
    """Kafka headers naming a message's schema and version."""
    return [("schema_id", schema_id.encode()), ("schema_version", str(version).encode())]


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge some messages within the delivery timeout."""


class Producer:
    """Sends bytes to Kafka with delivery tracking; connects on first use."""

    def __init__(self, bootstrap: str, client_id: str = "twin", **overrides: object) -> None:
        self._config = {
            **PRODUCER_SETTINGS,
            **CONNECT_SETTINGS,
            **overrides,
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
        }
        self._producer: KafkaProducer | None = None
        self.sent = 0
        self.failed: list[str] = []

    def send(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        if self._producer is None:
            try:
                self._producer = KafkaProducer(**self._config)
            except UNREACHABLE:
                raise InputError(
                    f"--kafka: no Kafka broker answered at {self._config['bootstrap_servers']}"
                ) from None
        future = self._producer.send(topic, key=key, value=value, headers=headers or [])
        future.add_errback(self._on_error)
        self.sent += 1

    def _on_error(self, exc: BaseException) -> None:
        self.failed.append(f"{type(exc).__name__}: {exc}")

    def flush(self) -> None:
        """Wait for every sent message; raise ``DeliveryError`` if any was not delivered."""
        if self._producer is not None:
            self._producer.flush()
        if self.failed:
            raise DeliveryError(
                f"{len(self.failed)} messages not delivered; first: {self.failed[0]}"
            )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=30)
            self._producer = None


def latest_value(bootstrap: str, topic: str, key: bytes) -> bytes | None:
    """The value of the newest message with ``key`` on ``topic`` (read to its end), or None.

    Used for compacted topics such as checkpoints, which keep the latest value per key.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="twin-latest",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **CONNECT_SETTINGS,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        latest = None
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    if record.key == key:
                        latest = record.value
        return latest
    finally:
        consumer.close()


class LocalBus:
    """The in-process bus: Kafka's ordering in place of Kafka, for the embedded default.

    Messages go to a partition of their topic by a crc32 of their key (so one key stays in
    one partition, in order) and get that partition's next offset; ``drain`` hands every
    message sent since the last drain to the local consumer. Nothing leaves the process.
    """

    def __init__(self, topics: dict[str, TopicSpec]) -> None:
        """``topics``: the specs by unprefixed name (their names and partition counts)."""
        self._partitions = {spec.name: spec.partitions for spec in topics.values()}
        self._next: dict[tuple[str, int], int] = {}
        self._pending: dict[tuple[str, int], list[tuple[int, bytes]]] = {}

    def send(self, topic: str, key: bytes, value: bytes, headers=None) -> None:
        partition = zlib.crc32(key) % self._partitions[topic]
        offset = self._next.get((topic, partition), 0)
        self._next[(topic, partition)] = offset + 1
        self._pending.setdefault((topic, partition), []).append((offset, value))

    def drain(self) -> dict[tuple[str, int], list[tuple[int, bytes]]]:
        """``(topic, partition) -> [(offset, value), ...]`` sent since the last drain."""
        pending, self._pending = self._pending, {}
        return pending

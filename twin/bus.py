"""The bus: Kafka producer and topic administration (kafka-python).

Thin wrappers that open no connection in ``__init__``. Every producer setting that matters
is set here explicitly, never left to library defaults.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

# Producer settings (kafka-python names). acks=all + idempotence: no loss, no duplicates on
# retry; linger and batch size let one tick's frames share a request; lz4 compresses the
# JSON frames at low CPU cost.
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
    "compression_type": "lz4",
    "max_block_ms": 10_000,
    "allow_auto_create_topics": False,
}


@dataclass(frozen=True)
class TopicSpec:
    """How a topic is created: partitions and broker-side configs."""

    name: str
    partitions: int = 6
    replication_factor: int = 1
    configs: dict[str, str] = field(default_factory=dict)


def default_topics(prefix: str = "") -> list[TopicSpec]:
    """The topics the twin produces to, with retention and cleanup policy."""
    day_ms = str(24 * 3600 * 1000)
    return [
        TopicSpec(
            f"{prefix}twin.telemetry",
            partitions=6,
            configs={
                "retention.ms": day_ms,
                "cleanup.policy": "delete",
                "compression.type": "producer",
            },
        ),
        TopicSpec(
            f"{prefix}twin.deadletter",
            partitions=1,
            configs={"retention.ms": str(7 * int(day_ms)), "cleanup.policy": "delete"},
        ),
    ]


def ensure_topics(bootstrap: str, topics: list[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="twin-admin", request_timeout_ms=15_000
    )
    try:
        existing = set(admin.list_topics())
        new = [t for t in topics if t.name not in existing]
        created = []
        for spec in new:
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


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge some messages within the delivery timeout."""


class Producer:
    """Sends bytes to Kafka with delivery tracking; connects on first use."""

    def __init__(self, bootstrap: str, client_id: str = "twin", **overrides: object) -> None:
        self._config = {
            **PRODUCER_SETTINGS,
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
            self._producer = KafkaProducer(**self._config)
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

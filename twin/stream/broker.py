"""The bus: Kafka producer and topic administration (kafka-python).

Thin wrappers that open no connection in ``__init__``. Every producer setting that matters
is set here explicitly, never left to library defaults; every client is made by
``open_client`` with ``client_settings`` (brokers, timeouts, TLS and SASL).
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

from twin.core.errors import ServiceUnavailable
from twin.core.settings import (
    ENV_KAFKA_SASL_PASSWORD,
    PLAINTEXT,
    InputError,
    KafkaSecurity,
    kafka_field,
)

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


Client = TypeVar("Client", KafkaProducer, KafkaConsumer, KafkaAdminClient)


class _Masked(str):
    """A password that prints as ``***`` inside containers: kafka-python logs its
    configuration dict at DEBUG (``twin --log-level DEBUG``)."""

    def __repr__(self) -> str:
        return "'***'"


def client_settings(bootstrap: str, security: KafkaSecurity = PLAINTEXT) -> dict[str, object]:
    """The kafka-python settings every client shares: the brokers, how long to wait for
    them, and how to protect the connection (``security_protocol``, ``ssl_*``, ``sasl_*``).

    TLS always checks the broker's certificate and hostname; SASL mechanisms are PLAIN and
    SCRAM-SHA-256/512 (kafka-python >= 2.0), with ``sasl_plain_username``/``_password``.
    """
    settings: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        **CONNECT_SETTINGS,
        "security_protocol": security.protocol,
    }
    if security.tls:
        settings |= {
            "ssl_check_hostname": True,
            "ssl_cafile": security.ssl_cafile,
            "ssl_certfile": security.ssl_certfile,
            "ssl_keyfile": security.ssl_keyfile,
        }
    if security.sasl:
        settings |= {
            "sasl_mechanism": security.sasl_mechanism,
            "sasl_plain_username": security.sasl_username,
            "sasl_plain_password": None
            if security.sasl_password is None
            else _Masked(security.sasl_password),
        }
    return settings


def open_client(
    client: type[Client], bootstrap: str, security: KafkaSecurity = PLAINTEXT, **settings: object
) -> Client:
    """A kafka-python ``client`` with ``client_settings`` and its own ``settings``; an
    ``InputError`` saying why (``unreachable``) when it cannot bootstrap."""
    try:
        return client(**settings, **client_settings(bootstrap, security))
    except UNREACHABLE:
        raise unreachable(bootstrap, security) from None


def unreachable(bootstrap: str, security: KafkaSecurity = PLAINTEXT) -> InputError:
    """Why no client could bootstrap from ``bootstrap``. kafka-python reports a timeout
    whatever the cause, so each server is probed: a TCP connection, then for TLS a
    handshake with the client's settings; a broker that takes both but let no client in
    refused its SASL login (or, without SASL, its client certificate)."""
    waited = f"within {CONNECT_SETTINGS['bootstrap_timeout_ms'] / 1000:.0f} s"
    for server in bootstrap.split(",") if security.protocol != "PLAINTEXT" else ():
        host, port = server.strip().rsplit(":", 1)
        host = host.strip("[]")
        try:
            sock = socket.create_connection((host, int(port)), timeout=3)
        except OSError:
            continue
        with sock:
            if security.tls:
                try:
                    _tls_context(security).wrap_socket(sock, server_hostname=host).close()
                except (ssl.SSLError, ssl.CertificateError) as exc:
                    return InputError(
                        f"Kafka TLS with the broker at {server} failed: "
                        f"{getattr(exc, 'verify_message', None) or exc}; check "
                        f"{kafka_field('ssl_cafile')} (the CA of the broker's certificate) "
                        "and that the address is the broker's TLS listener"
                    )
                except OSError:
                    continue
        if security.sasl:
            return InputError(
                f"Kafka SASL login refused: the broker at {server} took the connection but "
                f"not the {security.sasl_mechanism} login of user {security.sasl_username!r}; "
                f"check {kafka_field('sasl_username')}, the password "
                f"({ENV_KAFKA_SASL_PASSWORD} or {ENV_KAFKA_SASL_PASSWORD}_FILE) and "
                f"{kafka_field('sasl_mechanism')}"
            )
        return InputError(
            f"Kafka TLS: the broker at {server} took the TLS connection but let no client in; "
            f"does it require a client certificate ({kafka_field('ssl_certfile')})?"
        )
    return InputError(f"--kafka: no Kafka broker answered at {bootstrap} {waited}")


def _tls_context(security: KafkaSecurity) -> ssl.SSLContext:
    """The TLS context kafka-python builds from the same settings."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificate and hostname
    if security.ssl_cafile:
        context.load_verify_locations(security.ssl_cafile)
    else:
        context.load_default_certs()
    if security.ssl_certfile:
        context.load_cert_chain(security.ssl_certfile, security.ssl_keyfile)
    return context


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


def admin_client(bootstrap: str, security: KafkaSecurity = PLAINTEXT) -> KafkaAdminClient:
    """An admin client that gives up on an unreachable broker within 10 s."""
    return open_client(
        KafkaAdminClient, bootstrap, security, client_id="twin-admin", request_timeout_ms=10_000
    )


def ensure_topics(
    bootstrap: str, topics: list[TopicSpec], security: KafkaSecurity = PLAINTEXT
) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = admin_client(bootstrap, security)
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


def topic_exists(bootstrap: str, topic: str, security: KafkaSecurity = PLAINTEXT) -> bool:
    """Whether the broker has ``topic``."""
    admin = admin_client(bootstrap, security)
    try:
        return topic in set(admin.list_topics())
    finally:
        admin.close()


def schema_headers(schema_id: str, version: int) -> list[tuple[str, bytes]]:
    """Kafka headers naming a message's schema and version."""
    return [("schema_id", schema_id.encode()), ("schema_version", str(version).encode())]


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge some messages within the delivery timeout."""


class Producer:
    """Sends bytes to Kafka with delivery tracking; connects on first use."""

    def __init__(
        self,
        bootstrap: str,
        client_id: str = "twin",
        security: KafkaSecurity = PLAINTEXT,
        **overrides: object,
    ) -> None:
        self._bootstrap, self._security = bootstrap, security
        self._config = {**PRODUCER_SETTINGS, **overrides, "client_id": client_id}
        self._producer: KafkaProducer | None = None
        self.sent = 0
        self.failed: list[str] = []

    def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        """Send one message, to ``partition`` when given, else by the key's hash."""
        future = self._client().send(
            topic, key=key, value=value, headers=headers or [], partition=partition
        )
        future.add_errback(self._on_error)
        self.sent += 1

    def _client(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = open_client(
                KafkaProducer, self._bootstrap, self._security, **self._config
            )
        return self._producer

    def partition_count(self, topic: str) -> int:
        """How many partitions ``topic`` has on the broker (0: not known to it)."""
        return len(self._client().partitions_for(topic) or ())

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


def topic_partitions(
    consumer: KafkaConsumer, topic: str, timeout_s: float = 30.0
) -> list[TopicPartition]:
    """Every partition of ``topic``, in order, once the broker's metadata lists them.

    A topic created a moment ago can be missing from the metadata (or listed with no
    partitions) until its leaders are elected; this asks again every 0.2 s, up to
    ``timeout_s``, and raises ``ServiceUnavailable`` if the topic never shows.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        numbers = sorted(consumer.partitions_for_topic(topic) or ())
        if numbers:
            return [TopicPartition(topic, p) for p in numbers]
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(
                f"kafka: topic {topic} has no partitions after {timeout_s:g} s"
            )
        time.sleep(0.2)


def caught_up(consumer: KafkaConsumer) -> bool:
    """True when partitions are assigned and each position has reached the end offset."""
    assigned: set[TopicPartition] = consumer.assignment()
    if not assigned:
        return False
    ends = consumer.end_offsets(list(assigned))
    return all(consumer.position(tp) >= ends[tp] for tp in assigned)


def latest_value(
    bootstrap: str, topic: str, key: bytes, security: KafkaSecurity = PLAINTEXT
) -> bytes | None:
    """The value of the newest message with ``key`` on ``topic`` (read to its end), or None.

    Used for compacted topics such as checkpoints, which keep the latest value per key.
    """
    consumer = open_client(
        KafkaConsumer,
        bootstrap,
        security,
        client_id="twin-latest",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        partitions = topic_partitions(consumer, topic)
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

    Messages go to the partition given, else to one by a crc32 of their key (so one key stays
    in one partition, in order) and get that partition's next offset; ``drain`` hands every
    message sent since the last drain to the local consumer. Nothing leaves the process.
    """

    def __init__(self, topics: dict[str, TopicSpec]) -> None:
        """``topics``: the specs by unprefixed name (their names and partition counts)."""
        self._partitions = {spec.name: spec.partitions for spec in topics.values()}
        self._next: dict[tuple[str, int], int] = {}
        self._pending: dict[tuple[str, int], list[tuple[int, bytes]]] = {}

    def send(self, topic: str, key: bytes, value: bytes, headers=None, partition=None) -> None:
        if partition is None:
            partition = zlib.crc32(key) % self._partitions[topic]
        offset = self._next.get((topic, partition), 0)
        self._next[(topic, partition)] = offset + 1
        self._pending.setdefault((topic, partition), []).append((offset, value))

    def drain(self) -> dict[tuple[str, int], list[tuple[int, bytes]]]:
        """``(topic, partition) -> [(offset, value), ...]`` sent since the last drain."""
        pending, self._pending = self._pending, {}
        return pending

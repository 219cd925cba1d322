"""The broker helpers against a real Kafka: topics read the moment they are created."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer

from twin.core.errors import ServiceUnavailable
from twin.stream.broker import (
    Producer,
    TopicSpec,
    ensure_topics,
    latest_value,
    open_client,
    topic_partitions,
)


@pytest.mark.integration
def test_a_topic_is_read_the_moment_it_is_created(kafka_bootstrap, topic_prefix):
    """Right after creation a topic's leaders may not be elected yet: reading it must wait for
    them, never fail with "no partitions assigned" (seen on a fresh broker)."""
    for i in range(5):
        topic = f"{topic_prefix}fresh-{i}-{uuid.uuid4().hex[:6]}"
        assert ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=6)]) == [topic]
        assert latest_value(kafka_bootstrap, topic, b"run") is None
    producer = Producer(kafka_bootstrap, client_id="test-broker")
    for value in (b"first", b"second"):
        producer.send(topic, key=b"run", value=value)
    producer.send(topic, key=b"other", value=b"not mine")
    producer.flush()
    producer.close()
    assert latest_value(kafka_bootstrap, topic, b"run") == b"second"


@pytest.mark.integration
def test_a_topic_that_never_appears_is_named_in_the_error(kafka_bootstrap, topic_prefix):
    consumer = open_client(KafkaConsumer, kafka_bootstrap, group_id=None)
    missing = f"{topic_prefix}never-created"
    try:
        with pytest.raises(ServiceUnavailable, match=missing):
            topic_partitions(consumer, missing, timeout_s=1.0)
    finally:
        consumer.close()

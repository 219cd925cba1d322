"""Streams: Kafka (producer, topics, the in-process bus), job intake, the streaming runner and
the topics' contract."""

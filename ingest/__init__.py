"""Ingest: Kafka consumer group → PostgreSQL/TimescaleDB, exactly once."""

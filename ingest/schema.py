"""Table definitions, in one place (SQLAlchemy Core). Column names match message fields."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
)

from twin.telemetry import CHANNELS

_SQL_TYPES = {"float8": Double, "bool": Boolean, "int2": SmallInteger}

metadata = MetaData()

telemetry = Table(
    "telemetry",
    metadata,
    Column("time", DateTime(timezone=True), nullable=False),
    Column("sat_id", Integer, nullable=False),
    *(Column(name, _SQL_TYPES[c.pg_type], comment=c.description) for name, c in CHANNELS.items()),
    # (sat_id, time) identifies a sample: replays are absorbed by ON CONFLICT DO NOTHING.
    PrimaryKeyConstraint("sat_id", "time", name="telemetry_pkey"),
    comment="Per-satellite telemetry samples decoded from twin.telemetry frames",
)

ingest_offsets = Table(
    "ingest_offsets",
    metadata,
    Column("consumer_group", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer_group", "topic", "partition", name="ingest_offsets_pkey"),
    comment="Next Kafka offset to consume, written in the same transaction as the data",
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("topic", "partition", "kafka_offset", name="dead_letters_pkey"),
    comment="Messages rejected by ingest, with the reason; also published to twin.deadletter",
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

"""``twin ingest``: its options and the command, which consumes the twin's telemetry, events
and job messages from Kafka into PostgreSQL/TimescaleDB as ``twin_ingest``, with the anomaly
rules unless ``--no-rules``, and prints what it stored."""

from __future__ import annotations

import argparse

from twin.app.cli.options import (
    database_option,
    ingest_database_option,
    kafka_options,
    rules_option,
)
from twin.app.output import say
from twin.core.settings import kafka_bootstrap, kafka_security, topic_prefix


def add_parsers(sub) -> None:
    ing = sub.add_parser("ingest", help="consume telemetry into PostgreSQL/TimescaleDB")
    kafka_options(ing)
    database_option(ing)
    ingest_database_option(ing)
    ing.add_argument("--group", default="twin-ingest", help="consumer group id")
    rules_option(ing, help="anomaly rules YAML (default: the bundled ingest/rules/rules.yaml)")
    ing.add_argument("--no-rules", action="store_true", help="store telemetry without rules")
    ing.add_argument(
        "--stop-when-caught-up",
        action="store_true",
        help="exit once every assigned partition is consumed to its end",
    )
    ing.add_argument("--max-seconds", type=float, help="exit after this many seconds")
    ing.add_argument(
        "--batch-records",
        type=int,
        default=2000,
        help="messages per poll, each poll one transaction (default 2000)",
    )
    ing.add_argument(
        "--instance-id",
        help="static group membership id: a restarted consumer "
        "with the same id takes its partitions back without a rebalance wait",
    )
    ing.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.rules.definitions import load_rules
    from ingest.service.consumer import run_ingest
    from ingest.store.roles import ingest_url

    stats = run_ingest(
        kafka_bootstrap(args.kafka),
        ingest_url(args.ingest_database, args.database),
        topic_prefix(args.topic_prefix),
        group=args.group,
        stop_when_caught_up=args.stop_when_caught_up,
        max_seconds=args.max_seconds,
        batch_records=args.batch_records,
        instance_id=args.instance_id,
        rules=None if args.no_rules else load_rules(args.rules),
        security=kafka_security(vars(args)),
    )
    say(
        f"twin ingest: {stats.messages} messages ({stats.frames} frames, {stats.events} events, "
        f"{stats.job_messages} job messages), "
        f"{stats.rows_inserted} rows inserted, {stats.rows_repeated} repeated, "
        f"{stats.dead_letters} dead letters, {stats.job_steps_inserted} job steps stored, "
        f"{stats.anomaly_steps} anomaly steps, "
        f"{stats.batches} batches; {stats.conflicting_samples} repeated samples conflicted "
        "with the stored ones (dead-lettered); "
        f"{stats.element_sets} element sets ({stats.element_sets_repeated} repeated); "
        f"{stats.observed_packets} observed packets: {stats.observed_inserted} samples stored, "
        f"{stats.observed_repeated} repeated"
    )
    return 0

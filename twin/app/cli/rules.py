"""The anomaly rules from the command line: ``twin rules check`` evaluates the fleet rules on the
stored rollup minutes not evaluated yet, ``twin rules show`` checks a rules file and lists its
rules, and ``twin score`` runs the twin with a fault scenario through Kafka and the database and
scores the rules against the injected faults."""

from __future__ import annotations

import argparse

from twin.app.cli.options import (
    database_option,
    ingest_database_option,
    kafka_options,
    rules_option,
    store_option,
)
from twin.app.output import say
from twin.core.clock import iso, parse_start
from twin.core.settings import database_url, kafka_bootstrap, kafka_security


def add_parsers(sub) -> None:
    from twin.app import config

    rules = sub.add_parser("rules", help="anomaly rules").add_subparsers(
        dest="rules_command", required=True
    )
    check = rules.add_parser(
        "check", help="evaluate the fleet rules on the rollup minutes not evaluated yet"
    )
    database_option(check)
    ingest_database_option(check)
    rules_option(check)
    check.set_defaults(func=cmd_rules_check)
    show = rules.add_parser("show", help="check a rules file and list its rules")
    rules_option(show)
    show.set_defaults(func=cmd_rules_show)
    score = sub.add_parser(
        "score",
        help="run the twin with a fault scenario through Kafka and the database, and score "
        "the anomaly rules against the injected faults",
    )
    kafka_options(score)
    score.add_argument("--scenario", required=True, help="fault scenario TOML")
    database_option(score)
    store_option(score)
    ingest_database_option(score)
    rules_option(score)
    config.add_setting_option(score, "step", help="tick length")
    score.add_argument(
        "--start", help="ISO-8601 UTC start (default: after anything stored, from now on)"
    )
    score.set_defaults(func=cmd_score)


def cmd_rules_check(args: argparse.Namespace) -> int:
    from ingest.rules.definitions import load_rules
    from ingest.rules.fleet import check_fleet
    from ingest.store.roles import ingest_url

    rules = load_rules(args.rules)
    done = check_fleet(ingest_url(args.ingest_database, args.database), rules)
    span = (
        ""
        if done.first_us is None
        else f" ({iso(done.first_us * 1000)} .. {iso(done.last_us * 1000)})"
    )
    say(
        f"twin rules check: {done.minutes} minutes evaluated{span}; "
        f"{sum(a.state == 'open' for a in done.anomalies)} raised, "
        f"{sum(a.state == 'updated' for a in done.anomalies)} updated, "
        f"{sum(a.state == 'closed' for a in done.anomalies)} cleared"
    )
    for a in done.anomalies:
        print(f"  {iso(a.time_us * 1000)} {a.state:<7} {a.severity:<8} {a.rule}: {a.message}")
    return 0


def cmd_rules_show(args: argparse.Namespace) -> int:
    from ingest.rules.definitions import load_rules

    ruleset = load_rules(args.rules)
    say(
        f"{ruleset.source}: {len(ruleset.satellite)} satellite rules, "
        f"{len(ruleset.fleet)} fleet rules"
    )
    for rule in (*ruleset.satellite, *ruleset.fleet):
        what = rule.channel or rule.group or rule.measure
        say(
            f"  {rule.name:<24} {rule.type:<13} {what:<20} {rule.severity:<8} "
            f"trigger {rule.trigger.direction} {rule.trigger.value:g} for {rule.for_s:g} s, "
            f"clear {rule.clear.direction} {rule.clear.value:g}"
        )
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from ingest.rules.definitions import load_rules
    from ingest.store.roles import ingest_url
    from twin.app.score import run_scored

    owner = database_url(args.database)
    score, score_id, stats = run_scored(
        args.scenario,
        kafka_bootstrap(args.kafka),
        owner,
        load_rules(args.rules),
        args.step,
        None if args.start is None else parse_start(args.start),
        ingest_url(args.ingest_database, owner),
        security=kafka_security(vars(args)),
        store=args.store,
    )
    s = score.scenario
    say(
        f"twin score: scenario {s.name} ({s.n_faults} faults, seed {s.seed}) on {s.preset}, "
        f"{score.n_sat} satellites over {score.hours:g} h; {stats.rows_inserted} samples "
        f"stored, {stats.anomaly_steps} anomaly steps; score id {score_id}"
    )
    print(score.table())
    return 0 if score.passed else 1

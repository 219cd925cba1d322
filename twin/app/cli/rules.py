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

    anomalies = sub.add_parser(
        "anomalies", help="list open anomalies; acknowledge or shelve them (kept with who and why)"
    ).add_subparsers(dest="anomalies_command", required=True)
    listing = anomalies.add_parser("list", help="open anomalies with their status")
    database_option(listing)
    config.add_setting_option(listing, "data_dir", help="the embedded store's directory")
    listing.set_defaults(func=cmd_anomalies_list)
    for name, help_text in (
        ("ack", "acknowledge an open anomaly: seen, it pages nobody again"),
        ("shelve", "shelve an open anomaly for a time: it pages nobody until then"),
        ("unshelve", "end a shelving now"),
    ):
        act = anomalies.add_parser(name, help=help_text)
        act.add_argument("anomaly_id", help="the anomaly's id (twin anomalies list)")
        act.add_argument("--reason", required=True, help="why, in your words (kept)")
        act.add_argument("--by", help="who acts (default: the login name)")
        if name == "shelve":
            act.add_argument("--for", dest="shelve_for", required=True, help="e.g. 30m, 2h")
        database_option(act)
        config.add_setting_option(act, "data_dir", help="the embedded store's directory")
        act.set_defaults(func=cmd_anomalies_act, anomalies_action=name)


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


def cmd_anomalies_list(args: argparse.Namespace) -> int:
    from ingest.rules.acknowledge import open_anomalies
    from ingest.store.db import connect
    from twin.app.cli.options import open_store

    with open_store(args, create=False) as (url, _, _), connect(url) as conn:
        rows = open_anomalies(conn)
    say(f"twin anomalies list: {len(rows)} open")
    for anomaly_id, sat, rule, severity, opened, action, who, reason, until, _, shelved in rows:
        status = "open"
        if action is not None:
            status = f"{action} by {who}" + (f" until {until:%Y-%m-%dT%H:%MZ}" if shelved else "")
        print(
            f"  {anomaly_id}  sat {sat}  {severity:<8} {rule}  since "
            f"{opened:%Y-%m-%dT%H:%M:%SZ}  {status}" + (f": {reason}" if reason else "")
        )
    return 0


def cmd_anomalies_act(args: argparse.Namespace) -> int:
    import getpass
    from datetime import UTC, datetime, timedelta

    from ingest.rules.acknowledge import record
    from ingest.store.db import connect
    from twin.app.cli.options import open_store
    from twin.core.clock import NS_PER_S, parse_duration_ns

    action = {"ack": "acknowledged", "shelve": "shelved", "unshelve": "unshelved"}
    until = None
    if args.anomalies_action == "shelve":
        seconds = parse_duration_ns("--for", args.shelve_for) / NS_PER_S
        until = datetime.now(UTC) + timedelta(seconds=seconds)
    by_whom = args.by or getpass.getuser()
    with open_store(args, create=False) as (url, _, _), connect(url) as conn:
        at = record(conn, args.anomaly_id, action[args.anomalies_action], by_whom,
                    args.reason, until)  # fmt: skip
    say(f"twin anomalies {args.anomalies_action}: {args.anomaly_id} "
        f"{action[args.anomalies_action]} by {by_whom} at {at:%Y-%m-%dT%H:%M:%SZ}"
        + (f", until {until:%Y-%m-%dT%H:%M:%SZ}" if until else ""))  # fmt: skip
    return 0

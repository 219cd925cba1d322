"""The ``twin`` command: run the twin, ingest telemetry, manage topics and the database."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

from twin import __version__
from twin.app.progress import Progress
from twin.core import shutdown
from twin.core.clock import NS_PER_S, iso, parse_duration_ns, parse_start
from twin.core.settings import (
    ENV_KAFKA,
    PLAINTEXT,
    STORES,
    ConfigError,
    InputError,
    database_url,
    kafka_bootstrap,
    kafka_security,
    mask_url,
    topic_prefix,
)

log = logging.getLogger("twin")

EXIT_CONFIG = 2


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = -1.0
    if not speed > 0:
        raise ConfigError("--speed", value, "a positive number (1 = real time) or 'max'")
    return speed


MIN_STEP_NS = 1_000_000  # 1 ms: finer ticks say nothing more of orbit, power or heat
# What a run holds in memory, measured: ~7 KB per satellite (a 1,000,000-satellite Walker
# at 60 s ticks ran at 6.7 GB resident), and the plan's 8-byte time of every tick.
BYTES_PER_SATELLITE = 8 * 1024
BYTES_PER_TICK = 8
MEMORY_SHARE = 0.5  # of this machine's memory, at most, for one run


def _memory_bytes() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _check_run_size(n_sat: int, n_ticks: int, what: str, value: str) -> None:
    """Refuse a run that cannot fit this machine's memory, naming the bound."""
    budget = _memory_bytes() * MEMORY_SHARE
    if n_sat * BYTES_PER_SATELLITE > budget:
        raise ConfigError(
            what,
            value,
            f"at most {int(budget // BYTES_PER_SATELLITE):,} satellites (about "
            f"{BYTES_PER_SATELLITE // 1024} KB each in half of this machine's "
            f"{_memory_bytes() / 2**30:.0f} GiB)",
        )
    if n_ticks * BYTES_PER_TICK > budget:
        raise ConfigError(
            what,
            value,
            f"at most {int(budget // BYTES_PER_TICK):,} ticks a run (a longer --step, or "
            "several runs resumed with --run-id)",
        )


def _walker(value: str) -> tuple[int, int, int]:
    parts = value.split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ConfigError("--walker", value, "TOTAL/PLANES/PHASING, e.g. 12/3/1")
    total, planes, phasing = (int(p) for p in parts)
    _check_run_size(total, 0, "--walker", value)
    return total, planes, phasing


def load_fleet(args: argparse.Namespace, start_ns: int):
    """The fleet, hardware and shell names for ``twin run`` and ``twin db fleet``: a preset,
    optionally with its geometry replaced by a Walker pattern (``--walker``) or element sets
    (``--elements``), flown with the preset's first hardware model."""
    from twin.fleet.constellation import walker_delta
    from twin.fleet.elements import fleet_from_elements, read_elements
    from twin.fleet.hardware import hardware_arrays
    from twin.sim import presets

    preset = presets.load_preset(args.preset)
    shells = [shell.name for shell in preset.shells]
    if args.walker and args.elements:
        raise ConfigError(
            "--walker / --elements", f"{args.walker} / {args.elements}", "one of the two, not both"
        )
    if not (args.walker or args.elements):
        return (*presets.build(preset, start_ns), shells)
    if args.walker:
        total, planes, phasing = _walker(args.walker)
        fleet = walker_delta(
            total, planes, phasing, args.altitude_km, args.inclination_deg, epoch_ns=start_ns
        )
    else:
        fleet = fleet_from_elements(read_elements(Path(args.elements))[0])
    first_model = preset.hardware[preset.shells[0].hardware]
    shell = "walker" if args.walker else Path(args.elements).stem
    return fleet, hardware_arrays([first_model], [fleet.n_sat]), [shell]


def cmd_run(args: argparse.Namespace) -> int:
    from twin.stream import runner

    local = not (args.kafka or os.environ.get(ENV_KAFKA))  # no broker: the local pipeline
    bootstrap = "" if local else kafka_bootstrap(args.kafka)
    security = PLAINTEXT if local else kafka_security(vars(args))
    prefix = topic_prefix(args.topic_prefix)
    speed = _speed(args.speed)
    try:
        start_ns = parse_start(args.start)
        step_ns = parse_duration_ns("--step", args.step)
        if step_ns < MIN_STEP_NS:
            raise ConfigError("--step", args.step, "a tick of at least 1ms")
        duration_ns = parse_duration_ns("--duration", args.duration)
        ticks = duration_ns // step_ns
        _check_run_size(0, ticks, "--duration / --step", f"{args.duration} / {args.step}")
        _check_ephemeris_range(start_ns, start_ns + duration_ns)
        checkpoint_ns = (
            0
            if args.checkpoint_every == "off"
            else parse_duration_ns("--checkpoint-every", args.checkpoint_every)
        )
        config = runner.RunConfig(
            bootstrap=bootstrap,
            topics=_topics(args, prefix),
            preset_name=Path(args.preset).stem,
            start_ns=start_ns,
            step_ns=step_ns,
            n_ticks=max(1, duration_ns // step_ns),
            speed=speed,
            every=runner.parse_rates(args.rate, step_ns, parse_duration_ns),
            shard=runner.parse_shard(args.shard),
            run_id=args.run_id,
            checkpoint_every_ns=checkpoint_ns,
            align_wall_clock=args.start == "now" and speed is not None,
            seed=args.seed,
            stations_path=args.stations,
            targets_path=args.targets,
            scenario_path=args.scenario,
            security=security,
            **_jobs_since(args.jobs_since),
        )
        fleet, hw, shells = load_fleet(args, start_ns)
        _check_run_size(fleet.n_sat, 0, "--preset / --walker / --elements", str(fleet.n_sat))
    except InputError:
        raise
    except ValueError as exc:  # a model's "field: problem" message
        raise InputError(str(exc)) from None
    progress = (
        None
        if args.quiet
        else Progress.for_terminal(
            config.n_ticks,
            step_ns,
            start_ns,
            fleet.n_sat,
            fast=speed is None,
            every_s=_seconds("--status-every", args.status_every),
        )
    )
    if local:
        stats, stored = _run_local(args, config, fleet, hw, shells, progress)
    else:
        stats = runner.run(config, fleet, hw, progress=progress)
        stored = None
    if progress is not None:
        progress.close()
    print(_run_summary(stats, step_ns))
    if stored is not None:
        print(stored)
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from twin.app import config

    source = args.config_path or f"none ({config.CONFIG_FILE} not found)"
    print(f"twin config: settings file {source}; option > environment > file > default")
    for name, value, origin in config.effective(args, args.sources):
        print(f"  {name:<22} {value:<40} {origin}")
    return 0


def _seconds(field: str, value: str) -> float:
    try:
        return parse_duration_ns(field, value) / NS_PER_S
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _run_local(args, config, fleet, hw, shells, progress) -> tuple:
    """``twin run`` without Kafka: the twin, the in-process bus, ingest and the rules in this
    process, into ``--database`` or else an embedded PostgreSQL in ``--data-dir``."""
    from ingest.rules.definitions import load_rules
    from ingest.store.db import connect, refuse_superuser
    from ingest.store.dimensions import register_fleet, register_stations
    from ingest.store.migrate import migrate, store_name
    from ingest.store.roles import INGEST_ROLE, ingest_url
    from twin.app.pipeline import run_configured
    from twin.payload import ground

    for option, value, default in (
        ("--shard", args.shard, "0/1"),
        ("--jobs-since", args.jobs_since, "launch"),
    ):
        if value != default:
            raise ConfigError(option, value, f"{default} without --kafka (the local pipeline)")
    rules = None if args.no_rules else load_rules(args.rules)
    with _store(args) as (url, where, server):
        log.info("local pipeline into %s", where)
        if server is None:  # a superuser login is refused before anything is written
            ingest = ingest_url(args.ingest_database, url)
            with connect(ingest, autocommit=True, application_name="twin-ingest") as conn:
                refuse_superuser(conn, "twin-ingest", f"log in as {INGEST_ROLE}")
        # As the owner, as is registering the fleet; ingest as twin_ingest. The embedded
        # store's logins are trusted on its socket: no password from the environment.
        migrate(url, logins=None if server is None else {}, store=args.store)
        where = f"{where} ({store_name(url)})"
        register_fleet(url, fleet, hw, config.preset_name, shells, config.step_ns / NS_PER_S)
        register_stations(url, ground.load_stations(config.stations_path))
        url = ingest if server is None else server.login_url(INGEST_ROLE)

        def report(ticks: int, local) -> None:
            if progress is not None:
                progress.update(ticks, local.anomalies_open, local.ingest.rows_inserted)

        stats, local = run_configured(config, fleet, hw, url, rules, report)
    i = local.ingest
    stored = (
        f"  stored in {where}: {i.rows_inserted} telemetry rows ({i.rows_repeated} already "
        f"there), {i.events} events, {i.job_steps_inserted} job steps, {i.dead_letters} dead "
        f"letters; anomalies raised {local.anomalies_raised}, open at the end "
        f"{local.anomalies_open}; fleet rules over {local.fleet_minutes} minutes; "
        f"{i.conflicting_samples} repeated samples conflicted with the stored ones"
    )
    return stats, stored


@contextlib.contextmanager
def _store(args: argparse.Namespace) -> Iterator[tuple[str, str, object]]:
    """``(url, description, None)`` of ``--database``, else ``(url, description, server)``
    of the embedded PostgreSQL in ``--data-dir``, started for the block and stopped after
    it; the URL is the schema owner's."""
    from ingest.store.embedded import LocalPostgres, default_data_dir

    if args.database:
        yield database_url(args.database), mask_url(args.database), None
        return
    server = LocalPostgres(Path(args.data_dir) if args.data_dir else default_data_dir())
    url = server.start()
    try:
        yield url, f"embedded PostgreSQL in {server.cluster}", server
    finally:
        server.stop()


def _run_summary(stats, step_ns: int) -> str:
    simulated_s = stats.ticks * step_ns / NS_PER_S
    return (
        f"twin run: {stats.ticks} ticks, {stats.frames} frames, {stats.samples} samples "
        f"in {stats.wall_s:.2f} s\n"
        f"  fleet: {stats.n_sat} satellites over {simulated_s / 3600:.2f} h; array energy "
        f"{stats.array_energy_wh / 1000:.1f} kWh; mean delivered "
        f"{stats.compute_tera_ops / max(simulated_s, 1e-9):.0f} TOPS; "
        f"compute energy {stats.compute_energy_j / 3.6e6:.1f} kWh; contacts {stats.contacts}; "
        f"{_job_summary(stats)}; "
        f"lowest state of charge {stats.min_soc:.2f}; hottest payload "
        f"{stats.max_temp_payload_c:.1f} °C; safe-mode samples {stats.safe_mode_samples}; "
        f"propagation failures {stats.propagation_failures}"
    )


def cmd_scenario_generate(args: argparse.Namespace) -> int:
    """Draw a fault scenario for a preset's fleet and write it as TOML."""
    from twin.sim import faults

    options = {
        "duration_s": "--duration",
        "per_kind": "--per-kind",
        "sat_id": "--preset",
        "seed": "--seed",
    }
    try:
        duration_ns = parse_duration_ns("--duration", args.duration)
        fleet, _, _ = load_fleet(args, parse_start("now"))
        scenario = faults.generate(
            Path(args.preset).stem, fleet.sat_id, args.seed, duration_ns / NS_PER_S, args.per_kind
        )
    except ConfigError as exc:
        if exc.field not in options:
            raise
        raise ConfigError(options[exc.field], exc.value, exc.accepted) from None
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(str(exc)) from None
    try:
        Path(args.out).write_text(faults.dump_scenario(scenario), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out: {exc}") from None
    counts = ", ".join(f"{kind} {n}" for kind, n in scenario.counts().items())
    print(f"twin scenario generate: {scenario.n_faults} faults ({counts}) written to {args.out}")
    return 0


def _rules_parsers(sub, kafka_opts) -> None:
    rules = sub.add_parser("rules", help="anomaly rules").add_subparsers(
        dest="rules_command", required=True
    )
    check = rules.add_parser(
        "check", help="evaluate the fleet rules on the rollup minutes not evaluated yet"
    )
    check.add_argument("--database", help="PostgreSQL URL (default: $TWIN_DATABASE_URL)")
    _ingest_database_option(check)
    check.add_argument("--rules", help="rules YAML (default: the bundled ingest/rules/rules.yaml)")
    check.set_defaults(func=cmd_rules_check)
    show = rules.add_parser("show", help="check a rules file and list its rules")
    show.add_argument("--rules", help="rules YAML (default: the bundled ingest/rules/rules.yaml)")
    show.set_defaults(func=cmd_rules_show)
    score = sub.add_parser(
        "score",
        help="run the twin with a fault scenario through Kafka and the database, and score "
        "the anomaly rules against the injected faults",
    )
    kafka_opts(score)
    score.add_argument("--scenario", required=True, help="fault scenario TOML")
    score.add_argument("--database", help="PostgreSQL URL (default: $TWIN_DATABASE_URL)")
    _store_option(score)
    _ingest_database_option(score)
    score.add_argument("--rules", help="rules YAML (default: the bundled ingest/rules/rules.yaml)")
    score.add_argument("--step", default="1s", help="tick length (default 1s)")
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
    print(
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
    print(
        f"{ruleset.source}: {len(ruleset.satellite)} satellite rules, "
        f"{len(ruleset.fleet)} fleet rules"
    )
    for rule in (*ruleset.satellite, *ruleset.fleet):
        what = rule.channel or rule.group or rule.measure
        print(
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
    print(
        f"twin score: scenario {s.name} ({s.n_faults} faults, seed {s.seed}) on {s.preset}, "
        f"{score.n_sat} satellites over {score.hours:g} h; {stats.rows_inserted} samples "
        f"stored, {stats.anomaly_steps} anomaly steps; score id {score_id}"
    )
    print(score.table())
    return 0 if score.passed else 1


def _scenario_parser(sub) -> None:
    scenario = sub.add_parser("scenario", help="fault scenarios").add_subparsers(
        dest="scenario_command", required=True
    )
    gen = scenario.add_parser(
        "generate", help="draw faults of every kind on distinct satellites of a preset's fleet"
    )
    gen.add_argument("--preset", required=True, help="fleet preset, a name or a .toml path")
    gen.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    gen.add_argument("--duration", default="6h", help="run length the faults fit in (>= 2h)")
    gen.add_argument("--per-kind", type=int, default=6, help="faults of each kind (default 6)")
    gen.add_argument("--out", required=True, help="TOML file to write")
    gen.set_defaults(func=cmd_scenario_generate, walker=None, elements=None)


def _report_parser(sub) -> None:
    report = sub.add_parser(
        "report", help="write one self-contained HTML file of plots from the database"
    )
    report.add_argument(
        "--database", help="PostgreSQL URL (default: $TWIN_DATABASE_URL, else the embedded store)"
    )
    report.add_argument("--data-dir", help="the embedded store's directory (as twin run)")
    report.add_argument("--out", required=True, help="HTML file to write, e.g. report.html")
    report.add_argument("--since", help="ISO-8601 UTC start (default: the first sample stored)")
    report.add_argument("--until", help="ISO-8601 UTC end (default: the last sample stored)")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from twin.app.report import parse_time, write_report

    since, until = parse_time("--since", args.since), parse_time("--until", args.until)
    with _store(args) as (url, _, server):
        # The embedded store is a private server whose only login is its superuser.
        written = write_report(url, args.out, since, until, embedded=server is not None)
    print(
        f"twin report: wrote {written.path} ({written.size_bytes / 1024:.0f} KiB) in "
        f"{written.wall_s:.1f} s; {len(written.figures)} figures: {', '.join(written.figures)}"
    )
    return 0


def cmd_grafana_publish(args: argparse.Namespace) -> int:
    from twin.grafana.publish import default_grafana_dir, grafana_auth, publish

    grafana_dir = Path(args.grafana_dir) if args.grafana_dir else default_grafana_dir()
    report = publish(args.url, grafana_dir, grafana_auth(os.environ), os.environ)
    print(f"twin grafana publish: {report.summary()}")
    return 0


def _jobs_since(value: str) -> dict[str, int]:
    if value == "launch":
        return {}
    if value == "now":
        raise ConfigError("--jobs-since", value, "'launch' or an ISO-8601 UTC time")
    try:
        return {"launched_ms": parse_start(value) // 1_000_000}
    except ValueError:
        raise ConfigError("--jobs-since", value, "'launch' or an ISO-8601 UTC time") from None


def _job_summary(stats) -> str:
    pay = stats.final_state.payload
    return (
        f"jobs accepted {pay.total('accepted'):.0f}, downlinked {pay.total('downlinked'):.0f}, "
        f"failed {pay.total('failed'):.0f}, rejected {pay.total('rejected'):.0f}, "
        f"in flight {pay.jobs.n}"
    )


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
    print(
        f"twin ingest: {stats.messages} messages ({stats.frames} frames, {stats.events} events, "
        f"{stats.job_messages} job messages), "
        f"{stats.rows_inserted} rows inserted, {stats.rows_repeated} repeated, "
        f"{stats.dead_letters} dead letters, {stats.job_steps_inserted} job steps stored, "
        f"{stats.anomaly_steps} anomaly steps, "
        f"{stats.batches} batches; {stats.conflicting_samples} repeated samples conflicted "
        "with the stored ones (dead-lettered)"
    )
    return 0


def cmd_db_fleet(args: argparse.Namespace) -> int:
    from ingest.store.dimensions import register_fleet, register_stations
    from twin.payload.ground import load_stations

    url = database_url(args.database)
    try:
        start_ns = parse_start(args.start)
        step_ns = parse_duration_ns("--step", args.step)
        fleet, hw, shells = load_fleet(args, start_ns)
        stations = load_stations(args.stations)
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(str(exc)) from None
    name = Path(args.preset).stem if not (args.walker or args.elements) else shells[0]
    written = register_fleet(url, fleet, hw, name, shells, step_ns / NS_PER_S)
    stored = register_stations(url, stations)
    print(f"twin db fleet: {written} satellites registered as {name!r}, {stored} ground stations")
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from ingest.store.db import connect, refuse_superuser
    from ingest.store.migrate import StoreSettings, migrate, store_name
    from ingest.store.policies import change_policies, interval
    from ingest.store.roles import configured_logins

    url = database_url(args.database)
    if args.status:
        return _migration_status(url)
    given = {
        f.name: interval(f"--{f.name.replace('_', '-')}", getattr(args, f.name))
        for f in fields(StoreSettings)
        if getattr(args, f.name) is not None
    }
    settings = StoreSettings(**given)
    logins = configured_logins()
    try:
        with connect(url, autocommit=True, application_name="twin-migrate") as conn:
            # The owner needs no superuser; a superuser owner (a Docker image's default
            # user) still migrates, warned: the components that run all day refuse one.
            refuse_superuser(
                conn, "twin db migrate", "migrate as a schema owner without it", warn_only=True
            )
        applied = migrate(url, settings, logins, store=args.store)
        path = store_name(url)
        changed = []
        if given and path == "TimescaleDB" and 1 not in applied:  # a new store has them
            changed = change_policies(url, settings, given)
    except OperationalError as exc:
        raise InputError(f"--database: {exc.orig}".splitlines()[0]) from None
    print(f"twin db migrate: applied {applied or 'nothing (up to date)'} ({path})")
    for line in changed:
        print(f"twin db migrate: policy changed: {line}")
    if given and path != "TimescaleDB":
        print(
            "twin db migrate: plain PostgreSQL runs no policies: drop old telemetry with "
            "twin db retain --older-than N (on a schedule)"
        )
    for role, (_, where) in logins.items():
        print(f"twin db migrate: {role} may log in (password from {where})")
    return 0


def _migration_status(url: str) -> int:
    """Print each migration, applied (when) or pending; exit 1 when any is pending."""
    from ingest.store.migrate import status

    rows = status(url)
    for version, description, applied_at in rows:
        print(f"{version:3d}  {applied_at or 'pending':32}  {description}")
    pending = sum(applied_at is None for _, _, applied_at in rows)
    print(f"twin db migrate --status: {len(rows) - pending} applied, {pending} pending")
    return 1 if pending else 0


def cmd_db_retain(args: argparse.Namespace) -> int:
    from ingest.store.migrate import store_name
    from ingest.store.policies import drop_old_partitions, interval

    url = database_url(args.database)
    older_than = interval("--older-than", args.older_than)
    if store_name(url) == "TimescaleDB":
        raise InputError(
            "twin db retain: this store is on TimescaleDB, whose retention policy drops old "
            "chunks by itself; change it with twin db migrate --retain-telemetry N"
        )
    dropped = drop_old_partitions(url, older_than)
    print(
        f"twin db retain: dropped {len(dropped)} telemetry partitions older than {older_than}"
        + (f" ({dropped[0]} .. {dropped[-1]})" if dropped else "")
    )
    return 0


def _check_ephemeris_range(first_ns: int, last_ns: int) -> None:
    """The Sun comes from DE421 (``twin.physics.sun``): a run must lie within its span."""
    from twin.physics.sun import EPHEMERIS_FIRST_NS, EPHEMERIS_LAST_NS

    if first_ns < EPHEMERIS_FIRST_NS or last_ns > EPHEMERIS_LAST_NS:
        raise ConfigError(
            "--start / --duration",
            f"{iso(first_ns)} .. {iso(last_ns)}",
            f"a run within {iso(EPHEMERIS_FIRST_NS)} .. {iso(EPHEMERIS_LAST_NS)} (the DE421 "
            "ephemeris)",
        )


def _topics(args: argparse.Namespace, prefix: str):
    from twin.stream.broker import DEFAULT_TOPICS_FILE, load_topics

    return load_topics(Path(args.topics) if args.topics else DEFAULT_TOPICS_FILE, prefix)


def cmd_topics_ensure(args: argparse.Namespace) -> int:
    from twin.stream.broker import ensure_topics

    bootstrap = kafka_bootstrap(args.kafka)
    topics = _topics(args, topic_prefix(args.topic_prefix))
    created = ensure_topics(bootstrap, list(topics.values()), kafka_security(vars(args)))
    print(f"twin topics ensure: created {created or 'nothing (all present)'}")
    return 0


def _ingest_database_option(parser) -> None:
    parser.add_argument(
        "--ingest-database",
        help="URL ingest logs in with, as twin_ingest (default: $TWIN_INGEST_DATABASE_URL, "
        "else --database as twin_ingest with $TWIN_INGEST_PASSWORD[_FILE], else --database "
        "switching to twin_ingest)",
    )


def _store_option(parser) -> None:
    parser.add_argument(
        "--store",
        choices=STORES,
        help="a new store's path: auto (TimescaleDB where the server preloads it, else plain "
        "PostgreSQL), timescaledb, or postgresql (default: $TWIN_STORE, else auto); a "
        "migrated store keeps its path",
    )


def build_parser() -> argparse.ArgumentParser:
    from twin.app import config

    parser = argparse.ArgumentParser(prog="twin", description=__doc__)
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default INFO ($TWIN_LOG_LEVEL, twin.toml [log] level)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text (default) or json, one object per line, for services",
    )
    parser.add_argument("--config", help="settings TOML (default: ./twin.toml when present)")
    sub = parser.add_subparsers(dest="command", required=True)

    def fleet_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--preset",
            default="threebody-12",
            help="fleet and hardware preset, a name or a .toml path (default threebody-12)",
        )
        p.add_argument(
            "--walker", help="replace the preset's fleet by a Walker-delta TOTAL/PLANES/PHASING"
        )
        p.add_argument("--altitude-km", type=float, default=500.0, help="with --walker")
        p.add_argument("--inclination-deg", type=float, default=97.4, help="with --walker")
        p.add_argument("--elements", help="replace the preset's fleet by a TLE or OMM file")

    def kafka_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kafka", help="bootstrap servers (default: $TWIN_KAFKA_BOOTSTRAP)")
        p.add_argument("--topic-prefix", help="prefix for topic names ($TWIN_TOPIC_PREFIX)")
        # TLS and SASL: from the environment or twin.toml only (twin.app.config), no options.
        p.set_defaults(**{s.dest: None for s in config.SETTINGS if s.dest.startswith("kafka_")})

    run = sub.add_parser(
        "run",
        help="run the twin: to Kafka with --kafka, else the whole pipeline in this process "
        "into --database or an embedded PostgreSQL",
    )
    kafka_opts(run)
    fleet_opts(run)
    run.add_argument("--start", default="now", help="'now' or ISO-8601 UTC time")
    run.add_argument("--duration", default="10m", help="simulated time, e.g. 600, 10m, 2h")
    run.add_argument("--step", default="1s", help="tick length (default 1s)")
    run.add_argument(
        "--speed", default="1", help="simulated seconds per wall second, or 'max' (default 1)"
    )
    run.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="GROUP=DURATION",
        help="sample a channel group (orbit, power, thermal, compute, links) every "
        "DURATION instead of every tick; repeatable",
    )
    run.add_argument(
        "--shard", default="0/1", help="run shard i of n (whole frame groups), e.g. 1/4"
    )
    run.add_argument(
        "--checkpoint-every",
        default="5m",
        help="simulated time between checkpoints, or 'off' (default 5m)",
    )
    run.add_argument(
        "--run-id",
        help="checkpoint key; a run restarted with the same id "
        "resumes (default: preset, start and shard)",
    )
    run.add_argument("--topics", help="topic settings TOML (default: the bundled topics.toml)")
    run.add_argument(
        "--seed", type=int, default=0, help="seed of job arrivals and radiation upsets"
    )
    run.add_argument("--stations", help="ground stations TOML (default: the bundled list)")
    run.add_argument("--targets", help="imagery target regions TOML (default: the bundled map)")
    run.add_argument("--scenario", help="fault scenario TOML made for --preset (twin.sim.faults)")
    run.add_argument(
        "--jobs-since",
        default="launch",
        help="take job submissions sent since this UTC time (ISO-8601), or since 'launch' "
        "(default); a resumed run continues where its checkpoint left off",
    )
    local = run.add_argument_group("local pipeline (without --kafka)")
    local.add_argument(
        "--database", help="PostgreSQL URL (default: $TWIN_DATABASE_URL, else embedded)"
    )
    _ingest_database_option(local)
    _store_option(local)
    local.add_argument(
        "--data-dir",
        help="the embedded PostgreSQL's directory (default: $TWIN_DATA_DIR, else "
        "the user's data directory)",
    )
    local.add_argument(
        "--rules", help="anomaly rules YAML (default: the bundled ingest/rules/rules.yaml)"
    )
    local.add_argument("--no-rules", action="store_true", help="store telemetry without rules")
    run.add_argument("--quiet", action="store_true", help="no progress bar or status lines")
    run.add_argument(
        "--status-every",
        default="10s",
        help="wall time between status lines when paced or not on a terminal (default 10s)",
    )
    run.set_defaults(func=cmd_run)
    cfg = sub.add_parser("config", help="configuration").add_subparsers(
        dest="config_command", required=True
    )
    cfg.add_parser(
        "show", help="the effective settings and where each comes from, secrets masked"
    ).set_defaults(func=cmd_config_show)

    ing = sub.add_parser("ingest", help="consume telemetry into PostgreSQL/TimescaleDB")
    kafka_opts(ing)
    ing.add_argument("--database", help="PostgreSQL URL (default: $TWIN_DATABASE_URL)")
    _ingest_database_option(ing)
    ing.add_argument("--group", default="twin-ingest", help="consumer group id")
    ing.add_argument(
        "--rules", help="anomaly rules YAML (default: the bundled ingest/rules/rules.yaml)"
    )
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
    _rules_parsers(sub, kafka_opts)

    db = sub.add_parser("db", help="database administration").add_subparsers(
        dest="db_command", required=True
    )
    mig = db.add_parser("migrate", help="apply pending schema migrations (idempotent)")
    mig.add_argument("--database", help="PostgreSQL URL (default: $TWIN_DATABASE_URL)")
    _store_option(mig)
    mig.add_argument(
        "--status",
        action="store_true",
        help="list the migrations, applied (when) or pending, and change nothing (exit 1 "
        "when any is pending)",
    )
    from ingest.store.migrate import StoreSettings

    for f in fields(StoreSettings):
        mig.add_argument(
            f"--{f.name.replace('_', '-')}",
            help=f"interval like 30d or '30 days' (new store: {f.default!r}); on an existing "
            "TimescaleDB store, changes its policy",
        )
    mig.set_defaults(func=cmd_db_migrate)
    retain = db.add_parser(
        "retain", help="plain PostgreSQL: drop the daily telemetry partitions older than N"
    )
    retain.add_argument("--database", help="PostgreSQL URL (default: $TWIN_DATABASE_URL)")
    retain.add_argument(
        "--older-than", required=True, help="whole days or weeks, e.g. 90d, 12w, '90 days'"
    )
    retain.set_defaults(func=cmd_db_retain)
    reg = db.add_parser("fleet", help="register a fleet's satellites (ingest accepts only these)")
    reg.add_argument("--database", help="PostgreSQL URL (default: $TWIN_DATABASE_URL)")
    fleet_opts(reg)
    reg.add_argument("--start", default="now", help="element epoch: 'now' or ISO-8601 UTC")
    reg.add_argument("--step", default="1s", help="expected seconds between orbit samples")
    reg.add_argument("--stations", help="ground stations TOML (default: the bundled list)")
    reg.set_defaults(func=cmd_db_fleet)

    topics = sub.add_parser("topics", help="Kafka topic administration").add_subparsers(
        dest="topics_command", required=True
    )
    ens = topics.add_parser("ensure", help="create missing topics with their settings")
    kafka_opts(ens)
    ens.add_argument("--topics", help="topic settings TOML (default: the bundled topics.toml)")
    ens.set_defaults(func=cmd_topics_ensure)
    graf = sub.add_parser("grafana", help="Grafana administration").add_subparsers(
        dest="grafana_command", required=True
    )
    pub = graf.add_parser(
        "publish",
        help="upsert the folder, datasource, dashboards and alert rules of grafana/ "
        "through Grafana's HTTP API (idempotent)",
    )
    pub.add_argument(
        "--url",
        required=True,
        help="Grafana's address, e.g. http://127.0.0.1:3000 (credential: $TWIN_GRAFANA_TOKEN, "
        "or $TWIN_GRAFANA_USER and $TWIN_GRAFANA_PASSWORD)",
    )
    pub.add_argument("--grafana-dir", help="the grafana/ directory (default: this checkout's)")
    pub.set_defaults(func=cmd_grafana_publish)
    _scenario_parser(sub)
    _report_parser(sub)
    return parser


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (``--log-format json``)."""

    def format(self, record: logging.LogRecord) -> str:
        import json

        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLogFormatter()
        if args.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    level = (
        "WARNING" if getattr(args, "quiet", False) and args.log_level == "INFO" else args.log_level
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # kafka-python logs every reconnect attempt; the twin reports what failed itself.
    logging.getLogger("kafka").setLevel(
        logging.DEBUG if args.log_level == "DEBUG" else logging.CRITICAL
    )


def main(argv: list[str] | None = None) -> int:
    from twin.app import config

    parser = build_parser()
    config.defer_defaults(parser, keep=frozenset({"scenario"}))
    args = parser.parse_args(argv)
    try:
        file_values, args.config_path = config.read_file(args.config)
        args.sources = config.resolve(args, file_values, every=args.command == "config")
    except InputError as exc:
        print(f"twin: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _logging(args)
    if args.command in ("run", "ingest", "score"):
        shutdown.install()
    try:
        return shutdown.exit_code(args.func(args))
    except InputError as exc:
        print(f"twin: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        import psycopg
        import sqlalchemy.exc

        from twin.stream.broker import DeliveryError

        if isinstance(exc, sqlalchemy.exc.OperationalError):
            exc = exc.orig if exc.orig is not None else exc
        if isinstance(exc, psycopg.OperationalError | sqlalchemy.exc.OperationalError):
            tried = getattr(args, "database", None)
            where = f" at {mask_url(tried)}" if tried else ""
            print(f"twin: database unreachable{where}: {str(exc).splitlines()[0]}", file=sys.stderr)
            return EXIT_CONFIG
        if isinstance(exc, DeliveryError):
            print(f"twin: Kafka did not take the messages: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())

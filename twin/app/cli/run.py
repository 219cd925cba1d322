"""``twin run``: its options, the fleet it flies (``load_fleet``, shared with ``twin db fleet``
and ``twin scenario generate``), the checks of a run before it starts (speed, Walker pattern,
the run's size against this machine's memory, the ephemeris span), the run itself (to Kafka
with ``--kafka``, else the local pipeline into ``--database`` or an embedded PostgreSQL) and
the summary it prints at the end."""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

from twin.app.cli.options import (
    database_option,
    fleet_options,
    ingest_database_option,
    kafka_options,
    open_store,
    rules_option,
    store_option,
    topics_of,
)
from twin.app.output import say
from twin.app.progress import Progress
from twin.core.clock import NS_PER_S, iso, parse_duration_ns, parse_start
from twin.core.settings import (
    ENV_KAFKA,
    PLAINTEXT,
    ConfigError,
    InputError,
    kafka_bootstrap,
    kafka_security,
    topic_prefix,
)

log = logging.getLogger("twin")

MIN_STEP_NS = 1_000_000  # 1 ms: finer ticks say nothing more of orbit, power or heat
# What a run holds in memory, measured: ~7 KB per satellite (a 1,000,000-satellite Walker
# at 60 s ticks ran at 6.7 GB resident), and the plan's 8-byte time of every tick.
BYTES_PER_SATELLITE = 8 * 1024
BYTES_PER_TICK = 8
MEMORY_SHARE = 0.5  # of this machine's memory, at most, for one run


def add_parsers(sub) -> None:
    from twin.app import config

    run = sub.add_parser(
        "run",
        help="run the twin: to Kafka with --kafka, else the whole pipeline in this process "
        "into --database or an embedded PostgreSQL",
    )
    kafka_options(run)
    fleet_options(run)
    run.add_argument(
        "--start",
        default="now",
        help="'now' or ISO-8601 UTC time; 'now' at --speed max runs the duration up to now",
    )
    config.add_setting_option(
        run, "duration", help="simulated time, e.g. 600, 10m, 2h", show_default=False
    )
    config.add_setting_option(run, "step", help="tick length")
    config.add_setting_option(run, "speed", help="simulated seconds per wall second, or 'max'")
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
    config.add_setting_option(
        run, "seed", help="seed of job arrivals and radiation upsets", show_default=False
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
    database_option(local, help="PostgreSQL URL (default: $TWIN_DATABASE_URL, else embedded)")
    ingest_database_option(local)
    store_option(local)
    config.add_setting_option(
        local,
        "data_dir",
        help="the embedded PostgreSQL's directory (default: $TWIN_DATA_DIR, else "
        "the user's data directory)",
    )
    rules_option(local, help="anomaly rules YAML (default: the bundled ingest/rules/rules.yaml)")
    local.add_argument("--no-rules", action="store_true", help="store telemetry without rules")
    run.add_argument("--quiet", action="store_true", help="no progress bar or status lines")
    run.add_argument(
        "--status-every",
        default="10s",
        help="wall time between status lines when paced or not on a terminal (default 10s)",
    )
    run.set_defaults(func=cmd_run)


def parse_speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = -1.0
    if not speed > 0:
        raise ConfigError("--speed", value, "a positive number (1 = real time) or 'max'")
    return speed


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


def fleet_name(args: argparse.Namespace) -> str:
    """The fleet's name in the registry and reports: the catalogue's for ``--elements``,
    ``walker`` for ``--walker``, else the preset's."""
    from twin.fleet.elements import catalogue_name

    if args.elements:
        return catalogue_name(args.elements)
    return "walker" if args.walker else Path(args.preset).stem


def fleet_registry(args: argparse.Namespace, fleet, shells: list[str], step_ns: int) -> list:
    """The ``twin.satellites`` records of the fleet ``load_fleet`` gave: its preset's name,
    shells and hardware models (the first model for ``--walker`` or ``--elements``), and the
    catalogue numbers of element sets read from a file."""
    from twin.fleet.registry import records
    from twin.sim import presets
    from twin.wire.satellites import safe_name

    preset = presets.load_preset(args.preset)
    models = [shell.hardware for shell in preset.shells]
    if args.walker or args.elements:
        models = models[:1] * len(shells)
    return records(
        fleet,
        safe_name(fleet_name(args)),
        [safe_name(s) for s in shells],
        [safe_name(m) for m in models],
        step_ns / NS_PER_S,
        catalogued=bool(args.elements),
    )


def load_fleet(args: argparse.Namespace, start_ns: int):
    """The fleet, hardware and shell names for ``twin run`` and ``twin db fleet``: a preset,
    optionally with its geometry replaced by a Walker pattern (``--walker``) or element sets
    (``--elements``), flown with the preset's first hardware model."""
    import numpy as np

    from twin.fleet.constellation import walker_delta
    from twin.fleet.elements import catalogue_fleet, catalogue_name, read_elements
    from twin.fleet.hardware import Hardware, hardware_arrays
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
        shells = ["walker"]
    else:  # shells and planes recovered from the elements, each shell named by its centre
        fleet, found = catalogue_fleet(read_elements(Path(args.elements))[0])
        shells = found.names(catalogue_name(args.elements))
    first_model = preset.hardware[preset.shells[0].hardware]
    hw = hardware_arrays([first_model], [fleet.n_sat])
    if args.elements:  # a satellite in transit is in no laser mesh: its terminals stay idle
        transit = found.in_transit[fleet.shell]
        idle = np.where(transit, 0, hw.laser_terminals).astype(hw.laser_terminals.dtype)
        hw = Hardware({**hw.arrays, "laser_terminals": idle})
    return fleet, hw, shells


def cmd_run(args: argparse.Namespace) -> int:
    from twin.stream import runner

    local = not (args.kafka or os.environ.get(ENV_KAFKA))  # no broker: the local pipeline
    bootstrap = "" if local else kafka_bootstrap(args.kafka)
    security = PLAINTEXT if local else kafka_security(vars(args))
    prefix = topic_prefix(args.topic_prefix)
    speed = parse_speed(args.speed)
    try:
        step_ns = parse_duration_ns("--step", args.step)
        if step_ns < MIN_STEP_NS:
            raise ConfigError("--step", args.step, "a tick of at least 1ms")
        duration_ns = parse_duration_ns("--duration", args.duration)
        start_ns = run_start_ns(args.start, speed, duration_ns, step_ns)
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
            topics=topics_of(args, prefix),
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
        stats = runner.run(
            config,
            fleet,
            hw,
            progress=progress,
            registry=fleet_registry(args, fleet, shells, step_ns),
        )
        stored = None
    if progress is not None:
        progress.close()
    say(_run_summary(stats, step_ns))
    if stored is not None:
        say(stored)
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
    with open_store(args) as (url, where, server):
        log.info("local pipeline into %s", where)
        if server is None:  # a superuser login is refused before anything is written
            ingest = ingest_url(args.ingest_database, url)
            with connect(ingest, autocommit=True, application_name="twin-ingest") as conn:
                refuse_superuser(conn, "twin-ingest", f"log in as {INGEST_ROLE}")
        # As the owner, as is registering the fleet; ingest as twin_ingest. The embedded
        # store's logins are trusted on its socket: no password from the environment.
        migrate(url, logins=None if server is None else {}, store=args.store)
        where = f"{where} ({store_name(url)})"
        register_fleet(url, fleet, hw, fleet_name(args), shells, config.step_ns / NS_PER_S)
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


def run_start_ns(value: str, speed: float | None, duration_ns: int, step_ns: int) -> int:
    """The first tick of a run from ``--start``: an ISO time as given; "now" at a paced speed
    is now (the run keeps pace with the wall clock), and at ``--speed max`` (``speed`` None)
    the whole duration up to now, on a whole tick, so that the data ends in the present
    rather than in the future (where a dashboard's "last 6 hours" does not look)."""
    if value == "now" and speed is None:
        start_ns = time.time_ns() - duration_ns
        return start_ns - start_ns % step_ns
    return parse_start(value)


def _job_summary(stats) -> str:
    pay = stats.final_state.payload
    return (
        f"jobs accepted {pay.total('accepted'):.0f}, downlinked {pay.total('downlinked'):.0f}, "
        f"failed {pay.total('failed'):.0f}, rejected {pay.total('rejected'):.0f}, "
        f"in flight {pay.jobs.n}"
    )


def _jobs_since(value: str) -> dict[str, int]:
    if value == "launch":
        return {}
    if value == "now":
        raise ConfigError("--jobs-since", value, "'launch' or an ISO-8601 UTC time")
    try:
        return {"launched_ms": parse_start(value) // 1_000_000}
    except ValueError:
        raise ConfigError("--jobs-since", value, "'launch' or an ISO-8601 UTC time") from None


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

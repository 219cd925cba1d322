"""The operator's smaller commands: ``twin config show`` (the effective settings and their
sources), ``twin report`` (one HTML file of plots from the database), ``twin grafana publish``
(the dashboards and alert rules into Grafana), ``twin topics ensure`` (the Kafka topics with
their settings) and ``twin scenario generate`` (a fault scenario drawn for a preset's fleet,
whose ``--seed`` and ``--duration`` are the draw's own, not the run settings)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from twin.app.cli.options import (
    database_option,
    fleet_options,
    kafka_options,
    open_store,
    satellite_ids,
    topics_of,
)
from twin.app.output import say
from twin.core.clock import NS_PER_S, parse_duration_ns, parse_start
from twin.core.settings import (
    ConfigError,
    InputError,
    kafka_bootstrap,
    kafka_security,
    topic_prefix,
)


def add_config_parser(sub) -> None:
    cfg = sub.add_parser("config", help="configuration").add_subparsers(
        dest="config_command", required=True
    )
    cfg.add_parser(
        "show", help="the effective settings and where each comes from, secrets masked"
    ).set_defaults(func=cmd_config_show)


def add_parsers(sub) -> None:
    """``topics``, ``grafana``, ``scenario`` and ``report`` (``config`` comes earlier in the
    list of commands: ``add_config_parser``)."""
    from twin.app import config

    topics = sub.add_parser("topics", help="Kafka topic administration").add_subparsers(
        dest="topics_command", required=True
    )
    ens = topics.add_parser("ensure", help="create missing topics with their settings")
    kafka_options(ens)
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

    exp = sub.add_parser(
        "export", help="write a table or view of the store to CSV or Parquet (for auditors)"
    )
    exp.add_argument("--table", required=True, help="a table or view, e.g. telemetry, events")
    exp.add_argument("--format", dest="export_format", choices=("csv", "parquet"), default="csv")
    exp.add_argument("--out", required=True, help="file to write")
    exp.add_argument("--since", help="ISO-8601 UTC start, on the relation's time column")
    exp.add_argument("--until", help="ISO-8601 UTC end (exclusive)")
    exp.add_argument("--satellites", help="comma-separated satellite ids, e.g. 3,7,12")
    database_option(
        exp, help="PostgreSQL URL (default: $TWIN_DATABASE_URL, else the embedded store)"
    )
    config.add_setting_option(exp, "data_dir", help="the embedded store's directory")
    exp.set_defaults(func=cmd_export)

    eph = sub.add_parser(
        "ephemeris",
        help="write the fleet's predicted trajectories (SGP4) as a CCSDS OEM (TEME) for flight "
        "dynamics tools, or as CZML (Earth-fixed, with the ground stations) for a Cesium globe",
    )
    eph.add_argument("--format", dest="ephemeris_format", choices=("oem", "czml"), default="oem")
    eph.add_argument("--stations", help="ground stations TOML for CZML (default: bundled)")
    fleet_options(eph)
    eph.add_argument("--start", default="now", help="first epoch: 'now' or ISO-8601 UTC")
    eph.add_argument("--duration", dest="ephemeris_duration", default="1h", help="span, e.g. 90m")
    eph.add_argument("--step", dest="ephemeris_step", default="60s", help="between states")
    eph.add_argument("--satellites", help="comma-separated satellite ids (default: all)")
    eph.add_argument("--out", required=True, help="file to write (OEM as KVN, or CZML)")
    eph.set_defaults(func=cmd_ephemeris)

    channels = sub.add_parser(
        "channels",
        help="write the telemetry dictionary (units, ranges, resolutions, yellow and red "
        "limits) as JSON or XTCE for ground-segment tools",
    )
    channels.add_argument(
        "--format", dest="dictionary_format", choices=("json", "xtce"), default="json"
    )
    channels.add_argument(
        "--preset",
        dest="dictionary_preset",
        metavar="PRESET",
        help="resolve the limits that depend on hardware for this preset's models",
    )
    channels.add_argument("--out", help="file to write (default: standard output)")
    channels.set_defaults(func=cmd_channels)

    scenario = sub.add_parser("scenario", help="fault scenarios").add_subparsers(
        dest="scenario_command", required=True
    )
    gen = scenario.add_parser(
        "generate", help="draw faults of every kind on distinct satellites of a preset's fleet"
    )
    gen.add_argument("--preset", required=True, help="fleet preset, a name or a .toml path")
    # The draw's own seed and length, not the run settings --seed and --duration: dests of
    # their own, which twin.app.config.resolve leaves alone.
    gen.add_argument(
        "--seed",
        dest="draw_seed",
        metavar="SEED",
        type=int,
        default=0,
        help="seed of the draw (default 0)",
    )
    gen.add_argument(
        "--duration",
        dest="draw_duration",
        metavar="DURATION",
        default="6h",
        help="run length the faults fit in (>= 2h)",
    )
    gen.add_argument("--per-kind", type=int, default=6, help="faults of each kind (default 6)")
    gen.add_argument("--out", required=True, help="TOML file to write")
    gen.set_defaults(func=cmd_scenario_generate, walker=None, elements=None)

    report = sub.add_parser(
        "report", help="write one self-contained HTML file of plots from the database"
    )
    database_option(
        report, help="PostgreSQL URL (default: $TWIN_DATABASE_URL, else the embedded store)"
    )
    config.add_setting_option(
        report, "data_dir", help="the embedded store's directory (as twin run)"
    )
    report.add_argument("--out", required=True, help="HTML file to write, e.g. report.html")
    report.add_argument("--since", help="ISO-8601 UTC start (default: the first sample stored)")
    report.add_argument("--until", help="ISO-8601 UTC end (default: the last sample stored)")
    report.set_defaults(func=cmd_report)


def cmd_config_show(args: argparse.Namespace) -> int:
    from twin.app import config

    source = args.config_path or f"none ({config.CONFIG_FILE} not found)"
    print(f"twin config: settings file {source}; option > environment > file > default")
    rows = config.effective(args, args.sources)
    name_width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    for name, value, origin in rows:
        print(f"  {name:<{name_width}}  {value:<{value_width}}  {origin}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from twin.app.report import parse_time, write_report

    since, until = parse_time("--since", args.since), parse_time("--until", args.until)
    with open_store(args, create=False) as (url, _, server):
        # The embedded store is a private server whose only login is its superuser.
        written = write_report(url, args.out, since, until, embedded=server is not None)
    say(
        f"twin report: wrote {written.path} ({written.size_bytes / 1024:.0f} KiB) in "
        f"{written.wall_s:.1f} s; {len(written.figures)} figures: {', '.join(written.figures)}"
    )
    return 0


def cmd_grafana_publish(args: argparse.Namespace) -> int:
    from twin.grafana.publish import default_grafana_dir, grafana_auth, publish

    grafana_dir = Path(args.grafana_dir) if args.grafana_dir else default_grafana_dir()
    report = publish(args.url, grafana_dir, grafana_auth(os.environ), os.environ)
    say(f"twin grafana publish: {report.summary()}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export one relation of the store."""
    from twin.app.export import export
    from twin.app.report import parse_time

    since, until = parse_time("--since", args.since), parse_time("--until", args.until)
    satellites = satellite_ids(args.satellites)
    with open_store(args, create=False) as (url, _, _):
        done = export(url, args.table, Path(args.out), args.export_format, since, until,
                      satellites)  # fmt: skip
    say(f"twin export: {done.rows} rows of {args.table} ({len(done.columns)} columns) "
        f"written to {done.path} as {args.export_format}")  # fmt: skip
    return 0


MAX_EPHEMERIS_STATES = 10_000_000  # satellites x epochs in one file


def cmd_ephemeris(args: argparse.Namespace) -> int:
    """Propagate the fleet (one SGP4 call) and write its states as an OEM."""
    import numpy as np

    from twin.app.cli.run import load_fleet
    from twin.physics.orbit import propagate
    from twin.wire import oem

    start_ns = parse_start(args.start)
    duration_ns = parse_duration_ns("--duration", args.ephemeris_duration)
    step_ns = parse_duration_ns("--step", args.ephemeris_step)
    fleet, _, _ = load_fleet(args, start_ns)
    rows = np.arange(fleet.n_sat)
    wanted = satellite_ids(args.satellites)
    if wanted is not None:
        rows = np.flatnonzero(np.isin(fleet.sat_id, wanted))
        if rows.size != len(set(wanted)):
            raise InputError(f"--satellites: {args.satellites!r} names ids not in the fleet")
    t_ns = start_ns + np.arange(duration_ns // step_ns + 1, dtype=np.int64) * step_ns
    if rows.size * t_ns.size > MAX_EPHEMERIS_STATES:
        raise InputError(
            f"--duration / --step: {rows.size * t_ns.size:,} states; at most "
            f"{MAX_EPHEMERIS_STATES:,} in one file"
        )
    from sgp4.api import SatrecArray

    orbit = propagate(SatrecArray([fleet.elements[i] for i in rows]), t_ns)
    ids = fleet.sat_id[rows]
    names, object_ids = [f"SAT-{int(s):05d}" for s in ids], [str(int(s)) for s in ids]
    if args.ephemeris_format == "czml":
        import json

        from twin.payload.ground import elevation_deg, load_stations, visible
        from twin.wire import czml

        ground = load_stations(args.stations)
        places = [
            (str(n), float(la), float(lo), float(h) * 1000.0)
            for n, la, lo, h in zip(
                ground.name, ground.lat_deg, ground.lon_deg, ground.alt_km, strict=True
            )
        ]
        seen = visible(elevation_deg(orbit.r_itrs_km, ground), ground)
        document = czml.write(names, object_ids, t_ns, orbit.r_itrs_km, places, seen)
        text = json.dumps(document)
    else:
        text = oem.write(names, object_ids, t_ns, orbit.r_teme_km, orbit.v_teme_km_s)
    Path(args.out).write_text(text)
    say(f"twin ephemeris: {rows.size} satellites x {t_ns.size} epochs written to {args.out}")
    return 0


def cmd_channels(args: argparse.Namespace) -> int:
    """Write the telemetry dictionary."""
    import json
    import sys

    from twin.fleet.dictionary import to_json, to_xtce
    from twin.sim.presets import load_preset

    preset = load_preset(args.dictionary_preset) if args.dictionary_preset else None
    named = (preset.name, preset.hardware) if preset else (None, None)
    if args.dictionary_format == "xtce":
        body = to_xtce(*named)
    else:
        body = (json.dumps(to_json(*named), indent=2) + "\n").encode()
    if args.out:
        Path(args.out).write_bytes(body)
    else:
        sys.stdout.buffer.write(body)
    return 0


def cmd_topics_ensure(args: argparse.Namespace) -> int:
    from twin.stream.broker import ensure_topics

    bootstrap = kafka_bootstrap(args.kafka)
    topics = topics_of(args, topic_prefix(args.topic_prefix))
    created = ensure_topics(bootstrap, list(topics.values()), kafka_security(vars(args)))
    say(f"twin topics ensure: created {created or 'nothing (all present)'}")
    return 0


def cmd_scenario_generate(args: argparse.Namespace) -> int:
    """Draw a fault scenario for a preset's fleet and write it as TOML."""
    from twin.app.cli.run import load_fleet
    from twin.sim import faults

    options = {
        "duration_s": "--duration",
        "per_kind": "--per-kind",
        "sat_id": "--preset",
        "seed": "--seed",
    }
    try:
        duration_ns = parse_duration_ns("--duration", args.draw_duration)
        fleet, _, _ = load_fleet(args, parse_start("now"))
        scenario = faults.generate(
            Path(args.preset).stem,
            fleet.sat_id,
            args.draw_seed,
            duration_ns / NS_PER_S,
            args.per_kind,
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
    say(f"twin scenario generate: {scenario.n_faults} faults ({counts}) written to {args.out}")
    return 0

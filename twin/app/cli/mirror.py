"""``twin elements``: element sets of a real fleet onto ``twin.elements``; ``twin emulate``:
a truth fleet with hidden parameters, seen as a ground segment sees a real one."""

from __future__ import annotations

import argparse
from pathlib import Path

from twin.app.cli.options import database_option, fleet_options, kafka_options, topics_of
from twin.app.output import say
from twin.core.settings import kafka_bootstrap, kafka_security, topic_prefix


def add_parsers(sub) -> None:
    elements = sub.add_parser(
        "elements", help="element sets of a real fleet (TLE or OMM) onto twin.elements"
    ).add_subparsers(dest="elements_command", required=True)
    publish = elements.add_parser(
        "publish",
        help="check every element set of the files (SGP4 must fly it) and publish each, "
        "keyed by its catalogue number; a bad file publishes nothing",
    )
    publish.add_argument("files", nargs="+", help="TLE (.tle/.txt/.3le) or OMM (.csv/.xml/.json)")
    publish.add_argument(
        "--format", dest="elements_format", help="tle, omm-csv, omm-xml or omm-json (default: "
        "from each file's suffix)"
    )  # fmt: skip
    publish.add_argument("--topics", help="topics TOML (default: the bundled topics.toml)")
    kafka_options(publish)
    publish.set_defaults(func=cmd_elements_publish)

    from twin.app import config

    emulate = sub.add_parser(
        "emulate",
        help="fly a truth fleet whose satellites differ from the preset in hidden parameters, "
        "and publish only what a ground segment receives: housekeeping telemetry on "
        "twin.observed, dumped from each satellite's recorder while it is in contact",
    )
    kafka_options(emulate)
    fleet_options(emulate)
    emulate.add_argument("--start", default="now", help="'now' or ISO-8601 UTC time")
    config.add_setting_option(emulate, "duration", help="simulated time", show_default=False)
    config.add_setting_option(emulate, "step", help="tick length")
    config.add_setting_option(emulate, "speed", help="simulated seconds per wall second, or 'max'")
    config.add_setting_option(emulate, "seed", help="seed of the truth run", show_default=False)
    emulate.add_argument(
        "--truth-salt-file",
        help="file holding the salt of the hidden parameters (default: $TWIN_TRUTH_SALT, else "
        "a random one); the mirror never sees it",
    )
    emulate.add_argument("--run-id", help="the truth's key in truth_parameters (default: random)")
    emulate.add_argument("--topics", help="topics TOML (default: the bundled topics.toml)")
    emulate.add_argument(
        "--dump-every",
        default="1m",
        help="simulated time between recorder dumps of the satellites in contact (default 1m)",
    )
    database_option(
        emulate, help="PostgreSQL URL (owner) to keep the hidden truth in (default: "
        "$TWIN_DATABASE_URL)"
    )  # fmt: skip
    emulate.set_defaults(func=cmd_emulate)


def cmd_elements_publish(args: argparse.Namespace) -> int:
    from sgp4.exporter import export_tle

    from twin.fleet.elements import detect_format, read_elements
    from twin.stream.broker import Producer, schema_headers
    from twin.wire import elements

    # Every file is read and checked before anything is sent; a TLE file's sets go as TLEs.
    messages = []
    for name in args.files:
        path = Path(name)
        fmt = args.elements_format or detect_format(path)
        sats, names = read_elements(path, fmt)
        for sat, sat_name in zip(sats, names, strict=True):
            value = (
                elements.encode_tle(*export_tle(sat), sat_name)
                if fmt == "tle"
                else elements.encode(sat, sat_name)
            )
            messages.append((sat.satnum, value))
    topic = topics_of(args, topic_prefix(args.topic_prefix))[elements.ELEMENTS_TOPIC].name
    producer = Producer(
        kafka_bootstrap(args.kafka), client_id="twin-elements", security=kafka_security(vars(args))
    )
    headers = schema_headers(elements.SCHEMA_ID, elements.SCHEMA_VERSION)
    try:
        for satnum, value in messages:
            producer.send(topic, str(satnum).encode(), value, headers)
        producer.flush()
    finally:
        producer.close()
    say(f"twin elements publish: {len(messages)} element sets sent to {topic}")
    return 0


def cmd_emulate(args: argparse.Namespace) -> int:
    import os
    import secrets

    from twin.app.cli.run import load_fleet, parse_speed, run_start_ns
    from twin.core.clock import NS_PER_S, parse_duration_ns
    from twin.core.settings import database_url
    from twin.sim import reality
    from twin.sim.engine import RunPlan, run
    from twin.stream.broker import Producer, schema_headers
    from twin.wire import observed

    speed = parse_speed(args.speed)
    step_ns = parse_duration_ns("--step", args.step)
    duration_ns = parse_duration_ns("--duration", args.duration)
    dump_ns = parse_duration_ns("--dump-every", args.dump_every)
    start_ns = run_start_ns(args.start, speed, duration_ns, step_ns)
    url = database_url(args.database)
    salt = (
        Path(args.truth_salt_file).read_text().strip()
        if args.truth_salt_file
        else os.environ.get("TWIN_TRUTH_SALT") or secrets.token_hex(16)
    )
    run_id = args.run_id or f"emulate-{secrets.token_hex(4)}"
    fleet, hw, _ = load_fleet(args, start_ns)
    hidden = reality.hidden_parameters(fleet.sat_id, args.seed, salt)
    truth = reality.truth_hardware(hw, hidden)
    _store_truth(url, run_id, fleet.sat_id, hw, hidden)
    topic = topics_of(args, topic_prefix(args.topic_prefix))[observed.OBSERVED_TOPIC].name
    producer = Producer(
        kafka_bootstrap(args.kafka), client_id="twin-emulate", security=kafka_security(vars(args))
    )
    headers = schema_headers(observed.SCHEMA_ID, observed.SCHEMA_VERSION)
    sink = reality.EmulatorSink(
        reality.Recorder(fleet.sat_id),
        start_ns,
        step_ns,
        dump_ns,
        args.seed,
        lambda p: producer.send(topic, str(p.sat_id).encode(), observed.encode(p), headers),
    )
    try:
        plan = RunPlan(start_ns, step_ns, max(1, duration_ns // step_ns), speed)
        run(fleet, truth, plan, sink, seed=args.seed)
        producer.flush()
    finally:
        producer.close()
    recorder = sink.recorder
    say(
        f"twin emulate: run {run_id}, {fleet.n_sat} satellites over "
        f"{duration_ns / NS_PER_S / 3600:.2f} h; {recorder.recorded} samples recorded, "
        f"{recorder.sent} sent in {sink.packets} packets to {topic}, {recorder.on_board} still "
        "on board (no contact since); hidden truth in truth_parameters"
    )
    return 0


def _store_truth(url: str, run_id: str, sat_id, hw, hidden: dict) -> None:
    """Keep the hidden parameters where only the owner reads them (``truth_parameters``)."""
    from ingest.store.db import connect

    rows = [
        (run_id, int(s), name, float(m), float(m * hw.arrays[name][i]))
        for name, multipliers in hidden.items()
        for i, (s, m) in enumerate(zip(sat_id.tolist(), multipliers.tolist(), strict=True))
    ]
    with connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO truth_parameters (run_id, sat_id, parameter, multiplier, value) "
            "VALUES (%s, %s, %s, %s, %s)",
            rows,
        )

"""``twin elements``: element sets of a real fleet onto ``twin.elements``; ``twin emulate``:
a truth fleet with hidden parameters, seen as a ground segment sees a real one; ``twin
mirror``: each satellite's parameters estimated from what was observed, and scored against
the emulator's truth."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from twin.app.cli.options import (
    database_option,
    fleet_options,
    ingest_database_option,
    kafka_options,
    topics_of,
)
from twin.app.output import say
from twin.core.settings import InputError, kafka_bootstrap, kafka_security, topic_prefix


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
    emulate.add_argument(
        "--recorder",
        default="6h",
        help="what each satellite's recorder holds before it overwrites its oldest samples "
        "(default 6h)",
    )
    emulate.add_argument("--topics", help="topics TOML (default: the bundled topics.toml)")
    emulate.add_argument(
        "--elements-every",
        default="8h",
        help="simulated time between a satellite's element sets, each refitted at its epoch "
        "with a fit error (default 8h; every satellite's first at the start)",
    )
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

    mirror = sub.add_parser(
        "mirror", help="the model synchronised to the real fleet's observations"
    ).add_subparsers(dest="mirror_command", required=True)
    estimate = mirror.add_parser(
        "estimate",
        help="estimate each satellite's array efficiency and battery capacity from its "
        "observed telemetry against the preset, stored in mirror_estimates (as twin_ingest, "
        "which never reads the emulator's truth)",
    )
    fleet_options(estimate)
    estimate.add_argument("--since", help="only samples from this ISO-8601 UTC time")
    database_option(estimate)
    ingest_database_option(estimate)
    estimate.set_defaults(func=cmd_mirror_estimate)
    score = mirror.add_parser(
        "score",
        help="the latest estimates against an emulate run's hidden truth: error per "
        "parameter, median and p95 (as the owner)",
    )
    score.add_argument("--run-id", required=True, help="the twin emulate run")
    database_option(score)
    score.set_defaults(func=cmd_mirror_score)


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
    from twin.wire import elements, observed

    speed = parse_speed(args.speed)
    step_ns = parse_duration_ns("--step", args.step)
    duration_ns = parse_duration_ns("--duration", args.duration)
    dump_ns = parse_duration_ns("--dump-every", args.dump_every)
    elements_ns = parse_duration_ns("--elements-every", args.elements_every)
    capacity = -(-parse_duration_ns("--recorder", args.recorder) // step_ns)
    start_ns = run_start_ns(args.start, speed, duration_ns, step_ns)
    url = database_url(args.database)
    salt = os.environ.get("TWIN_TRUTH_SALT") or secrets.token_hex(16)
    if args.truth_salt_file:
        try:
            salt = Path(args.truth_salt_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--truth-salt-file: cannot read it ({exc})") from None
    run_id = args.run_id or f"emulate-{secrets.token_hex(4)}"
    fleet, hw, _ = load_fleet(args, start_ns)
    hidden = reality.hidden_parameters(fleet.sat_id, args.seed, salt)
    truth = reality.truth_hardware(hw, hidden)
    _store_truth(url, run_id, fleet, hw, hidden)
    topics = topics_of(args, topic_prefix(args.topic_prefix))
    topic = topics[observed.OBSERVED_TOPIC].name
    producer = Producer(
        kafka_bootstrap(args.kafka), client_id="twin-emulate", security=kafka_security(vars(args))
    )
    elements_topic = topics[elements.ELEMENTS_TOPIC].name
    sets_headers = schema_headers(elements.SCHEMA_ID, elements.SCHEMA_VERSION)

    def send_elements(sat_id: int, sat) -> None:  # as a catalogue publishes them
        value = elements.encode(sat, f"SAT-{sat.satnum}")
        producer.send(elements_topic, str(sat.satnum).encode(), value, sets_headers)

    headers = schema_headers(observed.SCHEMA_ID, observed.SCHEMA_VERSION)
    sink = reality.EmulatorSink(
        reality.Recorder(fleet.sat_id, capacity),
        start_ns,
        step_ns,
        dump_ns,
        args.seed,
        lambda p: producer.send(topic, str(p.sat_id).encode(), observed.encode(p), headers),
        reality.ElementFeed(fleet.elements, fleet.sat_id, start_ns, elements_ns, args.seed),
        send_elements,
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
        f"on board (no contact since), {recorder.overwritten} overwritten on board; "
        f"{sink.element_sets} element sets to {elements_topic}; hidden truth in "
        "truth_parameters and truth_elements"
    )
    return 0


def _store_truth(url: str, run_id: str, fleet, hw, hidden: dict) -> None:
    """Keep the hidden parameters and the truth orbits where only the owner reads them
    (``truth_parameters``, ``truth_elements``)."""
    from psycopg.types.json import Jsonb

    from ingest.store.db import connect
    from twin.wire.elements import omm_fields

    rows = [
        (run_id, int(s), name, float(m), float(m * hw.arrays[name][i]))
        for name, multipliers in hidden.items()
        for i, (s, m) in enumerate(zip(fleet.sat_id.tolist(), multipliers.tolist(), strict=True))
    ]
    orbits = [
        (run_id, int(s), Jsonb(omm_fields(sat, f"SAT-{sat.satnum}")))
        for s, sat in zip(fleet.sat_id.tolist(), fleet.elements, strict=True)
    ]
    with connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO truth_parameters (run_id, sat_id, parameter, multiplier, value) "
            "VALUES (%s, %s, %s, %s, %s)",
            rows,
        )
        cur.executemany(
            "INSERT INTO truth_elements (run_id, sat_id, omm) VALUES (%s, %s, %s)", orbits
        )


def cmd_mirror_estimate(args: argparse.Namespace) -> int:
    from ingest.store.db import connect
    from ingest.store.roles import INGEST_ROLE, ingest_url
    from twin.app.cli.run import load_fleet
    from twin.core.clock import NS_PER_US, iso, parse_start
    from twin.mirror import estimate

    url = ingest_url(args.ingest_database, args.database)
    since_ns = parse_start(args.since) if args.since else 0
    with connect(url, role=INGEST_ROLE) as conn:
        received = received_elements(conn)
        columns = _observed_columns(conn, since_ns)
    if columns["sat_id"].size == 0:
        say("twin mirror estimate: no observed samples; nothing estimated")
        return 0
    ids, t_us = columns["sat_id"], columns["time_us"]
    fleet, hw, _ = load_fleet(args, int(t_us[0]) * NS_PER_US)
    fleet = flown_from_elements(fleet, received)
    known = np.isin(ids, fleet.sat_id)
    order = np.argsort(fleet.sat_id)
    row = order[np.searchsorted(fleet.sat_id[order], ids[known])]
    t_ns = t_us[known] * NS_PER_US
    by = np.lexsort((t_ns, row))  # by fleet row, then time
    samples = estimate.Samples(
        row[by].astype(np.intp),
        t_ns[by],
        {name: columns[name][known][by] for name in ESTIMATED_FROM},
    )
    env = estimate.sample_environment(fleet, samples.row, samples.t_ns)  # once for both
    found = {
        "array_cell_efficiency": estimate.array_efficiency(fleet, hw, samples, env),
        "battery_capacity_wh": estimate.battery_capacity(hw, samples),
        "radiator_emissivity": estimate.radiator_emissivity(fleet, hw, samples, env),
    }
    del env
    first = np.full(fleet.n_sat, np.iinfo(np.int64).max)
    last = np.full(fleet.n_sat, np.iinfo(np.int64).min)
    np.minimum.at(first, samples.row, samples.t_ns)
    np.maximum.at(last, samples.row, samples.t_ns)
    stored = []
    for name, est in found.items():
        for i in np.flatnonzero(np.isfinite(est.multiplier)).tolist():
            stored.append(
                (
                    int(fleet.sat_id[i]),
                    name,
                    float(est.multiplier[i]),
                    float(est.multiplier[i] * hw.arrays[name][i]),
                    float(est.stderr[i]),
                    int(est.samples[i]),
                    iso(int(first[i])),
                    iso(int(last[i])),
                )
            )
    with connect(url, role=INGEST_ROLE) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO mirror_estimates (sat_id, parameter, multiplier, value, stderr, "
            "samples, data_from, data_until) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            stored,
        )
    for name, est in found.items():
        ok = np.isfinite(est.multiplier)
        say(
            f"twin mirror estimate: {name}: {int(ok.sum())} of {fleet.n_sat} satellites, "
            f"multiplier {np.nanmin(est.multiplier) if ok.any() else float('nan'):.4f}.."
            f"{np.nanmax(est.multiplier) if ok.any() else float('nan'):.4f}, median standard "
            f"error {np.nanmedian(est.stderr) if ok.any() else float('nan'):.2e}"
        )
    say(f"twin mirror estimate: {len(stored)} estimates stored in mirror_estimates")
    return 0


ESTIMATED_FROM = ("battery_v", "battery_a", "array_w", "temp_payload_c", "temp_radiator_c")
# Observed samples as fixed-width binary rows (NULL as NaN): read straight into numpy.
COPY_OBSERVED = (
    "COPY (SELECT sat_id, (extract(epoch FROM time) * 1e6)::int8, {channels} "
    "FROM observed WHERE time >= to_timestamp({since} / 1e9) ORDER BY sat_id, time) "
    "TO STDOUT (FORMAT BINARY)"
)
_ROW = np.dtype(
    [("fields", ">i2"), ("n1", ">i4"), ("sat_id", ">i4"), ("n2", ">i4"), ("time_us", ">i8")]
    + [field for name in ESTIMATED_FROM for field in ((f"n_{name}", ">i4"), (name, ">f8"))]
)
_HEADER = 19  # PGCOPY signature, flags, header extension length


def _observed_columns(conn, since_ns: int) -> dict[str, np.ndarray]:
    """The observed samples from ``since_ns`` on as columns (sat_id, time_us, and the channels
    the estimates read), sorted by satellite and time, by one binary COPY."""
    from psycopg import sql

    channels = sql.SQL(", ").join(
        sql.SQL("coalesce({}, 'NaN')::float8").format(sql.Identifier(name))
        for name in ESTIMATED_FROM
    )
    query = sql.SQL(COPY_OBSERVED).format(channels=channels, since=sql.Literal(since_ns))
    buffer = bytearray()
    with conn.cursor().copy(query) as copy:
        for block in copy:
            buffer += block
    body = np.frombuffer(bytes(buffer[_HEADER:-2]), dtype=_ROW)  # less the trailer's -1
    return {
        "sat_id": body["sat_id"].astype(np.int64),
        "time_us": body["time_us"].astype(np.int64),
        **{name: body[name].astype(np.float64) for name in ESTIMATED_FROM},
    }


def received_elements(conn) -> dict[int, dict]:
    """Each satellite's newest element set received, as OMM keys, by catalogue number."""
    rows = conn.execute(
        "SELECT DISTINCT ON (norad_cat_id) norad_cat_id, omm FROM element_sets "
        "ORDER BY norad_cat_id, epoch DESC"
    ).fetchall()
    return dict(rows)


def flown_from_elements(fleet, received: dict[int, dict]):
    """``fleet`` with the orbits of the element sets received for its satellites (the
    mirror flies what reality reports; the preset's own elements where none came)."""
    from twin.fleet.constellation import make_fleet
    from twin.wire.elements import satrec_from_omm

    elements = [
        satrec_from_omm(received[s]) if s in received else e
        for s, e in zip(fleet.sat_id.tolist(), fleet.elements, strict=True)
    ]
    return make_fleet(fleet.sat_id, fleet.plane, elements, fleet.shell)


def cmd_mirror_score(args: argparse.Namespace) -> int:
    from ingest.store.db import connect
    from twin.core.settings import database_url

    with connect(database_url(args.database)) as conn:
        rows = conn.execute(
            "SELECT t.parameter, e.multiplier / t.multiplier - 1, e.samples "
            "FROM truth_parameters t JOIN latest_mirror_estimates e "
            "ON e.sat_id = t.sat_id AND e.parameter = t.parameter "
            "WHERE t.run_id = %s ORDER BY t.parameter",
            (args.run_id,),
        ).fetchall()
        truth = conn.execute(
            "SELECT parameter, count(*) FROM truth_parameters WHERE run_id = %s "
            "GROUP BY parameter ORDER BY parameter",
            (args.run_id,),
        ).fetchall()
        orbits = conn.execute(
            "SELECT t.omm, s.omm FROM truth_elements t JOIN element_sets s "
            "ON s.norad_cat_id = (t.omm ->> 'NORAD_CAT_ID')::int "
            "WHERE t.run_id = %s ORDER BY s.norad_cat_id, s.epoch",
            (args.run_id,),
        ).fetchall()
    if not truth:
        raise InputError(f"--run-id: {args.run_id!r} has no truth in truth_parameters")
    print(f"{'parameter':<24} {'satellites':>10} {'median |error| %':>17} {'p95 |error| %':>14}")
    for parameter, n_truth in truth:
        errors = np.array([abs(e) for p, e, _ in rows if p == parameter]) * 100.0
        if errors.size == 0:
            print(f"{parameter:<24} {f'0/{n_truth}':>10} {'-':>17} {'-':>14}")
            continue
        print(
            f"{parameter:<24} {f'{errors.size}/{n_truth}':>10} "
            f"{np.median(errors):>17.3f} {np.percentile(errors, 95):>14.3f}"
        )
    error_km, jump_km = _position_errors(orbits)
    print(f"\n{'orbit':<28} {'sets':>6} {'median km':>10} {'p95 km':>8} {'max km':>8}")
    for label, km in (
        ("position error at epoch", error_km),
        ("position change at update", jump_km),
    ):
        if km.size == 0:
            print(f"{label:<28} {0:>6} {'-':>10} {'-':>8} {'-':>8}")
            continue
        print(
            f"{label:<28} {km.size:>6} {np.median(km):>10.3f} {np.percentile(km, 95):>8.3f} "
            f"{km.max():>8.3f}"
        )
    return 0


def _position_errors(orbits: list[tuple[dict, dict]]) -> tuple[np.ndarray, np.ndarray]:
    """Each received element set against the truth orbit, (truth OMM, received OMM) pairs
    sorted by satellite and epoch: (the set's position error at its epoch, km; the change of
    the predicted position at each update, the previous set's against the new one's, km)."""
    from twin.wire.elements import satrec_from_omm

    error_km, jump_km = [], []
    previous: tuple[int, object] | None = None
    for truth_omm, omm in orbits:  # one SGP4 call per set and epoch: a score, not a hot path
        truth, sat = satrec_from_omm(truth_omm), satrec_from_omm(omm)
        jd, fraction = sat.jdsatepoch, sat.jdsatepochF
        r_set = np.array(sat.sgp4(jd, fraction)[1])
        error_km.append(float(np.linalg.norm(r_set - np.array(truth.sgp4(jd, fraction)[1]))))
        if previous is not None and previous[0] == sat.satnum:
            r_before = np.array(previous[1].sgp4(jd, fraction)[1])
            jump_km.append(float(np.linalg.norm(r_set - r_before)))
        previous = (sat.satnum, sat)
    return np.array(error_km), np.array(jump_km)

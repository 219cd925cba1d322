"""``twin forecast``: what comes next for every satellite, flown from the newest element sets
received (``make``: eclipse and contact windows, stored in ``forecast_windows``), and a
forecast scored against an emulated fleet's truth orbits (``score``)."""

from __future__ import annotations

import argparse
import logging
import secrets
from dataclasses import replace

import numpy as np

from twin.app.cli.options import (
    database_option,
    fleet_options,
    fork_options,
    fork_setup,
    ingest_database_option,
    topics_of,
)
from twin.app.output import say
from twin.core.settings import InputError

log = logging.getLogger(__name__)
STALE_DAYS = 3.0  # a low orbit's set this old predicts positions kilometres off


def add_parsers(sub) -> None:

    forecast = sub.add_parser(
        "forecast", help="what comes next for every satellite, from the newest element sets"
    ).add_subparsers(dest="forecast_command", required=True)
    make = forecast.add_parser(
        "make",
        help="eclipse and contact windows over --horizon, each edge refined between grid "
        "times, flown from the newest element set received of each satellite (the preset's "
        "where none came), stored in forecast_windows (as twin_ingest)",
    )
    fleet_options(make)
    make.add_argument("--start", default="now", help="'now' or ISO-8601 UTC time")
    make.add_argument("--horizon", default="24h", help="how far ahead (default 24h)")
    make.add_argument(
        "--step",
        default="10s",
        help="grid the crossings are found on, at most 60s (default 10s; each crossing is "
        "refined between grid times)",
    )
    make.add_argument("--stations", help="stations TOML (default: the bundled stations)")
    make.add_argument("--forecast-id", help="the forecast's key (default: random)")
    database_option(make)
    ingest_database_option(make)
    make.set_defaults(func=cmd_forecast_make)
    states = forecast.add_parser(
        "states",
        help="every satellite flown ahead from a run's newest checkpoint (or the initial state, "
        "with --mirrored the mirror's latest estimates applied): per orbit the lowest state "
        "of charge, the hottest payload, the work delivered and available, stored in "
        "forecast_states (as twin_ingest)",
    )
    from twin.app import config

    fork_options(states, horizon="24h", observed=True)
    states.add_argument(
        "--at",
        help="--from observed: when the forecast starts (ISO-8601 UTC, on the run's tick grid "
        "from --start; default: --start)",
    )
    states.add_argument(
        "--max-age",
        default="1m",
        help="--from observed: the oldest sample that still says a satellite's state at "
        "--start (default 1m; older, or none: the preset's initial state)",
    )
    states.add_argument(
        "--mirrored",
        action="store_true",
        help="fly each satellite with the mirror's latest estimates of its battery capacity, "
        "array efficiency and radiator emissivity (latest_mirror_estimates)",
    )
    states.add_argument("--forecast-id", help="the forecast's key (default: random)")
    states.add_argument(
        "--publish",
        action="store_true",
        help="also send each satellite's forecast to twin.forecasts (keyed by satellite, "
        "compacted: other systems read the newest)",
    )
    database_option(states)
    ingest_database_option(states)
    states.set_defaults(func=cmd_forecast_states)
    score_states = forecast.add_parser(
        "score-states",
        help="a state forecast against an emulate run's truth, flown again: per satellite "
        "and orbit the error of the lowest state of charge, the peak payload temperature and "
        "the work delivered (median, p95, max; as the owner)",
    )
    fleet_options(score_states)
    score_states.add_argument("--run-id", required=True, help="the twin emulate run")
    score_states.add_argument("--forecast-id", required=True, help="the state forecast")
    score_states.add_argument("--start", required=True, help="the emulate run's --start")
    config.add_setting_option(score_states, "step", help="the emulate run's tick")
    config.add_setting_option(
        score_states, "seed", help="the emulate run's seed", show_default=False
    )
    database_option(score_states)
    score_states.set_defaults(func=cmd_forecast_score_states)
    score = forecast.add_parser(
        "score",
        help="a forecast's window edges against an emulate run's truth orbits: timing error "
        "per kind, median, p95 and max, and edges missed or extra (as the owner)",
    )
    score.add_argument("--run-id", required=True, help="the twin emulate run")
    score.add_argument("--forecast-id", required=True, help="the forecast to score")
    score.add_argument("--stations", help="stations TOML (default: the bundled stations)")
    database_option(score)
    score.set_defaults(func=cmd_forecast_score)


def cmd_forecast_make(args: argparse.Namespace) -> int:
    from ingest.store.db import connect
    from ingest.store.forecasts import write_forecast
    from ingest.store.roles import INGEST_ROLE, ingest_url
    from twin.app.cli.mirror import flown_from_elements, received_elements
    from twin.app.cli.run import load_fleet
    from twin.core.clock import NS_PER_DAY, NS_PER_S, iso, parse_duration_ns, parse_start
    from twin.fleet.elements import epochs_ns
    from twin.forecast.windows import windows
    from twin.payload.ground import load_stations

    start_ns = parse_start(args.start)
    horizon_ns = parse_duration_ns("--horizon", args.horizon)
    step_ns = parse_duration_ns("--step", args.step)
    if step_ns > 60 * NS_PER_S:
        raise InputError("--step: at most 60s (a pass shorter than the grid could be missed)")
    if horizon_ns < step_ns:
        raise InputError(f"--horizon: {args.horizon} is shorter than one --step ({args.step})")
    forecast_id = args.forecast_id or f"forecast-{secrets.token_hex(4)}"
    url = ingest_url(args.ingest_database, args.database)
    with connect(url, role=INGEST_ROLE) as conn:
        received = received_elements(conn)
    fleet, _, _ = load_fleet(args, start_ns)
    fleet = flown_from_elements(fleet, received)
    stations = load_stations(args.stations)
    eclipses, contacts = windows(fleet, stations, start_ns, horizon_ns, step_ns)
    flown = [received[s] for s in fleet.sat_id.tolist() if s in received]
    newest = max((omm["EPOCH"] for omm in flown), default=None)
    end_ns = start_ns + horizon_ns // step_ns * step_ns
    with connect(url, role=INGEST_ROLE) as conn:
        write_forecast(
            conn, forecast_id, fleet.sat_id, stations.station_id, (eclipses, contacts),
            (start_ns, end_ns), step_ns, len(flown), newest,
        )  # fmt: skip
    age_days = (start_ns - epochs_ns(fleet.elements)) / NS_PER_DAY
    stale = int((age_days > STALE_DAYS).sum())
    if stale:
        log.warning(
            "%d of %d satellites fly element sets older than %g days at the forecast's start "
            "(oldest %.1f days): their windows may be off by seconds to minutes",
            stale, fleet.n_sat, STALE_DAYS, float(age_days.max()),
        )  # fmt: skip
    say(
        f"twin forecast: {forecast_id}: {fleet.n_sat} satellites ({len(flown)} flown from "
        f"element sets received) over {horizon_ns / NS_PER_S / 3600:.2f} h from "
        f"{iso(start_ns)}: {eclipses.sat_row.size} eclipses, {contacts.sat_row.size} contacts "
        f"with {stations.n_st} stations, stored in forecast_windows; element sets "
        f"{np.median(age_days):.2f} days old (median), {stale} older than {STALE_DAYS:g} days"
    )
    return 0


LOWEST_ROWS = 5  # the predicted minima printed


def cmd_forecast_states(args: argparse.Namespace) -> int:
    from ingest.store.db import connect
    from ingest.store.forecasts import write_states
    from ingest.store.roles import INGEST_ROLE, ingest_url
    from twin.core.clock import NS_PER_S, iso, parse_duration_ns, parse_start
    from twin.forecast.states import forecast_states, mirrored, mirrored_battery, observed_state
    from twin.stream import forks

    url = ingest_url(args.ingest_database, args.database)
    horizon_ns = parse_duration_ns("--horizon", args.horizon)
    max_age_ns = parse_duration_ns("--max-age", args.max_age)
    at_ns = None if args.at is None else parse_start(args.at)
    setup = fork_setup(args, kafka=args.fork_from == "latest")
    estimates = []
    if args.mirrored:
        with connect(url, role=INGEST_ROLE) as conn:
            estimates = conn.execute(
                "SELECT sat_id, parameter, multiplier FROM latest_mirror_estimates"
            ).fetchall()
        setup = replace(setup, hw=mirrored(setup.hw, _multipliers(setup.fleet.sat_id, estimates)))
    fleet, ctx, fork, run_id = forks.fork_of(
        setup, args.fork_from, args.run_id, args.shell, horizon_ns
    )
    if args.fork_from == "observed":
        if at_ns is not None:  # the run's tick numbers kept: its workload's dice too
            if at_ns < fork.start_ns or (at_ns - fork.start_ns) % fork.step_ns:
                raise InputError(f"--at: {args.at} is not a tick of the run from --start")
            fork = replace(fork, tick=(at_ns - fork.start_ns) // fork.step_ns)
        with connect(url, role=INGEST_ROLE) as conn:
            seen = _latest_observed(conn, fleet.sat_id, fork.time_ns, max_age_ns)
        fork = replace(fork, state=observed_state(fork.state, seen))
        fresh = int((seen.time_ns >= 0).sum())
        say(
            f"twin forecast: {fresh} of {fleet.n_sat} satellites start from a sample within "
            f"{args.max_age} of {iso(fork.time_ns)}; the rest from the preset's initial state"
        )
    if args.mirrored and run_id is not None:  # a checkpoint's batteries hold their capacity
        capacity = _multipliers(fleet.sat_id, estimates).get("battery_capacity_wh")
        if capacity is not None:
            fork = replace(fork, state=mirrored_battery(fork.state, capacity))
    found = forecast_states(fleet, ctx, fork, horizon_ns)
    forecast_id = args.forecast_id or f"forecast-{secrets.token_hex(4)}"
    end_ns = fork.time_ns + horizon_ns // fork.step_ns * fork.step_ns
    with connect(url, role=INGEST_ROLE) as conn:
        write_states(conn, forecast_id, found, (fork.time_ns, end_ns), fork.step_ns)
    if args.publish:
        sent = _publish_states(args, forecast_id, found, (fork.time_ns, end_ns))
        say(f"twin forecast: {sent} satellites' forecasts sent to twin.forecasts")
    source = f"run {run_id}" if run_id else "the initial state"
    say(
        f"twin forecast: {forecast_id}: {fleet.n_sat} satellites from {iso(fork.time_ns)} "
        f"({source}{', mirrored' if args.mirrored else ''}) over "
        f"{horizon_ns / NS_PER_S / 3600:.2f} h: up to {found.n_orbit} orbits each, stored in "
        "forecast_states"
    )
    lowest = np.where(found.min_soc_ns >= 0, found.min_soc, np.inf)
    order = np.argsort(lowest.min(axis=1), kind="stable")[:LOWEST_ROWS]
    print(f"{'sat_id':>7} {'lowest state of charge %':>25} {'at':<30} {'peak payload °C':>16}")
    for row in order.tolist():
        k = int(np.argmin(lowest[row]))
        print(
            f"{int(fleet.sat_id[row]):>7} {100 * lowest[row, k]:>25.2f} "
            f"{iso(int(found.min_soc_ns[row, k])):<30} "
            f"{float(np.max(found.max_temp_payload_c[row])):>16.2f}"
        )
    delivered, available = found.tera_ops.sum(), found.available_tera_ops.sum()
    say(
        f"work: {delivered / 1e3:,.0f} of {available / 1e3:,.0f} peta-operations available "
        f"({100 * delivered / max(available, 1e-9):.1f} %)"
    )
    return 0


def _publish_states(args: argparse.Namespace, forecast_id: str, found, span_ns) -> int:
    """Send each satellite's forecast to ``twin.forecasts``; return how many were sent."""
    import time

    from twin.core.settings import kafka_bootstrap, kafka_security, topic_prefix
    from twin.forecast.states import orbit_columns
    from twin.stream.broker import Producer, ensure_topics, schema_headers
    from twin.wire import forecasts

    bootstrap, security = kafka_bootstrap(args.kafka), kafka_security(vars(args))
    spec = topics_of(args, topic_prefix(args.topic_prefix))[forecasts.FORECASTS_TOPIC]
    ensure_topics(bootstrap, [spec], security)
    producer = Producer(bootstrap, client_id="twin-forecast", security=security)
    headers = schema_headers(forecasts.SCHEMA_ID, forecasts.SCHEMA_VERSION)
    sent = 0
    try:
        for key, value in forecasts.encode_states(
            forecast_id, time.time_ns(), found.sat_id, orbit_columns(found, span_ns)
        ):
            producer.send(spec.name, key, value, headers)
            sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent


OBSERVED_STATE = (
    "SELECT DISTINCT ON (sat_id) sat_id, (extract(epoch FROM time) * 1e6)::int8, battery_v, "
    "battery_a, temp_payload_c, temp_radiator_c, safe_mode::int FROM observed "
    "WHERE time <= %(at)s AND time > %(at)s - %(age)s::interval ORDER BY sat_id, time DESC"
)


def _latest_observed(conn, sat_id: np.ndarray, at_ns: int, max_age_ns: int):
    """Each satellite's latest observed sample within ``max_age_ns`` before ``at_ns``, as a
    ``twin.forecast.states.Observed`` by ``sat_id``'s order."""
    from twin.core.clock import NS_PER_S, NS_PER_US, iso
    from twin.fleet.constellation import RowsOf
    from twin.forecast.states import Observed

    age = f"{max_age_ns / NS_PER_S} seconds"
    rows = conn.execute(OBSERVED_STATE, {"at": iso(at_ns), "age": age}).fetchall()
    n = sat_id.shape[0]
    columns = [np.full(n, -1, np.int64), *(np.full(n, np.nan) for _ in range(5))]
    if rows:
        found = np.array(rows, dtype=np.float64)  # NULL (not sampled) becomes NaN
        row = RowsOf(sat_id)(found[:, 0].astype(np.int64))
        mine = row >= 0
        columns[0][row[mine]] = found[mine, 1].astype(np.int64) * NS_PER_US
        for k, column in enumerate(columns[1:], start=2):
            column[row[mine]] = found[mine, k]
    return Observed(*columns)


def _multipliers(sat_id: np.ndarray, estimates: list[tuple]) -> dict[str, np.ndarray]:
    """Rows (sat_id, parameter, multiplier) as parameter -> (n_sat,) by ``sat_id``'s order,
    NaN where a satellite has no estimate (satellites not in the fleet are left out)."""
    from twin.fleet.constellation import RowsOf

    out: dict[str, np.ndarray] = {}
    if not estimates:
        return out
    sat, parameter, multiplier = (np.array(c) for c in zip(*estimates, strict=True))
    row = RowsOf(sat_id)(sat.astype(np.int64))
    for name in np.unique(parameter).tolist():  # a few parameters, each for every satellite
        mine = (parameter == name) & (row >= 0)
        out[name] = np.full(sat_id.shape[0], np.nan)
        out[name][row[mine]] = multiplier[mine].astype(np.float64)
    return out


def cmd_forecast_score_states(args: argparse.Namespace) -> int:
    from ingest.store.db import connect
    from twin.app.cli.run import load_fleet
    from twin.core.clock import NS_PER_US, parse_duration_ns, parse_start
    from twin.core.settings import database_url
    from twin.fleet.constellation import RowsOf
    from twin.forecast.states import mirrored, truth_states

    start_ns = parse_start(args.start)
    step_ns = parse_duration_ns("--step", args.step)
    with connect(database_url(args.database)) as conn:
        span = conn.execute(
            "SELECT (extract(epoch FROM starts_at) * 1e6)::int8, "
            "(extract(epoch FROM ends_at) * 1e6)::int8 FROM forecast_runs WHERE forecast_id = %s",
            (args.forecast_id,),
        ).fetchone()
        stored = conn.execute(
            "SELECT sat_id, orbit, min_soc, max_temp_payload_c, tera_ops FROM forecast_states "
            "WHERE forecast_id = %s AND min_soc IS NOT NULL",
            (args.forecast_id,),
        ).fetchall()
        truth = conn.execute(
            "SELECT sat_id, parameter, multiplier FROM truth_parameters WHERE run_id = %s",
            (args.run_id,),
        ).fetchall()
    if span is None or not stored:
        raise InputError(f"--forecast-id: {args.forecast_id!r} has no forecast_states rows")
    if not truth:
        raise InputError(f"--run-id: {args.run_id!r} has no truth in truth_parameters")
    fleet, hw, _ = load_fleet(args, start_ns)
    truth_hw = mirrored(hw, _multipliers(fleet.sat_id, truth))  # the hidden truth applied
    span_ns = (span[0] * NS_PER_US, span[1] * NS_PER_US)
    if span_ns[0] < start_ns:
        raise InputError("--start: the forecast starts before the emulate run")
    flown = truth_states(fleet, truth_hw, start_ns, step_ns, args.seed, span_ns)
    sat, orbit, soc, temp, work = (np.array(c) for c in zip(*stored, strict=True))
    row = RowsOf(fleet.sat_id)(sat)
    ok = (row >= 0) & (orbit < flown.n_orbit)
    row, orbit = row[ok], orbit[ok]
    seen = flown.min_soc_ns[row, orbit] >= 0
    print(f"{'quantity per orbit':<36} {'compared':>9} {'median |error|':>15} {'p95':>8} "
          f"{'max':>8}")  # fmt: skip
    for label, ours, theirs, scale in (
        ("lowest state of charge (points of %)", soc[ok], flown.min_soc[row, orbit], 100.0),
        ("peak payload temperature (K)", temp[ok], flown.max_temp_payload_c[row, orbit], 1.0),
        ("work delivered (%)", work[ok], flown.tera_ops[row, orbit], None),
    ):
        if scale is None:
            error = 100.0 * (ours - theirs) / np.maximum(theirs, 1e-9)
        else:
            error = scale * (ours - theirs)
        error = np.abs(error[seen])
        print(
            f"{label:<36} {error.size:>9} {np.median(error):>15.3f} "
            f"{np.percentile(error, 95):>8.3f} {error.max():>8.3f}"
        )
    return 0


def cmd_forecast_score(args: argparse.Namespace) -> int:
    from ingest.store.db import connect
    from twin.core.clock import NS_PER_S, NS_PER_US
    from twin.core.settings import database_url
    from twin.fleet.constellation import make_fleet
    from twin.forecast.windows import windows
    from twin.payload.ground import load_stations
    from twin.wire.elements import satrec_from_omm

    with connect(database_url(args.database)) as conn:
        run = conn.execute(
            "SELECT (extract(epoch FROM starts_at) * 1e6)::int8, "
            "(extract(epoch FROM ends_at) * 1e6)::int8, step_s FROM forecast_runs "
            "WHERE forecast_id = %s",
            (args.forecast_id,),
        ).fetchone()
        truth = conn.execute(
            "SELECT sat_id, omm FROM truth_elements WHERE run_id = %s ORDER BY sat_id",
            (args.run_id,),
        ).fetchall()
        stored = conn.execute(
            "SELECT sat_id, kind, station_id, (extract(epoch FROM starts_at) * 1e6)::int8, "
            "(extract(epoch FROM ends_at) * 1e6)::int8, open_start, open_end "
            "FROM forecast_windows WHERE forecast_id = %s",
            (args.forecast_id,),
        ).fetchall()
    if run is None:
        raise InputError(f"--forecast-id: {args.forecast_id!r} is not in forecast_runs")
    if not truth:
        raise InputError(f"--run-id: {args.run_id!r} has no truth orbits in truth_elements")
    start_ns, end_ns = run[0] * NS_PER_US, run[1] * NS_PER_US
    step_ns = round(run[2] * NS_PER_S)
    sat_id = np.array([s for s, _ in truth])
    fleet = make_fleet(sat_id, np.arange(sat_id.size), [satrec_from_omm(o) for _, o in truth])
    stations = load_stations(args.stations)
    true_windows = windows(fleet, stations, start_ns, end_ns - start_ns, step_ns)
    print(f"{'edges':<9} {'compared':>9} {'median |dt| s':>14} {'p95 s':>8} {'max s':>8} "
          f"{'missed':>7} {'extra':>6}")  # fmt: skip
    for truth_w in true_windows:
        station = np.where(
            truth_w.station_row >= 0, stations.station_id[np.maximum(truth_w.station_row, 0)], 0
        )
        expected = _edges(
            sat_id[truth_w.sat_row], station, truth_w.start_ns / 1e9, truth_w.end_ns / 1e9,
            truth_w.open_start, truth_w.open_end,
        )  # fmt: skip
        ours = [r for r in stored if r[1] == truth_w.kind]
        sat, _, station_id, start_us, end_us, open_start, open_end = (
            (np.array(c) for c in zip(*ours, strict=True)) if ours else (np.zeros(0),) * 7
        )
        found = _edges(sat, station_id, start_us / 1e6, end_us / 1e6, open_start, open_end)
        dt_s, missed, extra = _match(expected, found)
        if dt_s.size:
            print(
                f"{truth_w.kind:<9} {dt_s.size:>9} {np.median(dt_s):>14.3f} "
                f"{np.percentile(dt_s, 95):>8.3f} {dt_s.max():>8.3f} {missed:>7} {extra:>6}"
            )
        else:
            print(f"{truth_w.kind:<9} {0:>9} {'-':>14} {'-':>8} {'-':>8} {missed:>7} {extra:>6}")
    return 0


MATCH_S = 60.0  # an edge further than this from every edge of the other side is unmatched


def _edges(sat_id, station_id, start_s, end_s, open_start, open_end) -> dict:
    """(sat_id, station_id, rising) -> sorted edge times in s, of windows not cut by the
    horizon; every argument (m,), one entry per window."""
    edges: dict = {}
    for rising, when, cut in ((True, start_s, open_start), (False, end_s, open_end)):
        keep = ~np.asarray(cut, bool)
        for s, st, t in zip(  # grouped per satellite and station: a score, not a hot path
            np.asarray(sat_id)[keep].tolist(), np.asarray(station_id)[keep].tolist(),
            np.asarray(when)[keep].tolist(), strict=True,
        ):  # fmt: skip
            edges.setdefault((s, st, rising), []).append(t)
    return {k: np.sort(v) for k, v in edges.items()}


def _match(expected: dict, found: dict) -> tuple[np.ndarray, int, int]:
    """|Δt| of each expected edge to the nearest found edge of its satellite, station and
    direction (within ``MATCH_S``), and the edges missed and extra."""
    dt, missed, extra = [], 0, 0
    for key in expected.keys() | found.keys():
        want = expected.get(key, np.zeros(0))
        got = found.get(key, np.zeros(0))
        if got.size == 0 or want.size == 0:
            missed += want.size
            extra += got.size
            continue
        nearest = np.abs(want[:, None] - got[None, :])  # a handful of edges per key
        best = nearest.min(axis=1)
        dt += best[best <= MATCH_S].tolist()
        missed += int((best > MATCH_S).sum())
        extra += int((nearest.min(axis=0) > MATCH_S).sum())
    return np.array(dt), missed, extra

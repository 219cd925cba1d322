"""``twin report``: one self-contained HTML file of plots from any store the twin wrote.

Read-only queries, in one repeatable-read transaction, on plain PostgreSQL or TimescaleDB.
Every query is bounded so that a store of 2,800 satellites over hours reports in seconds:

- the stored span comes from each satellite's first and last sample (index probes);
- series are thinned to at most ``MAX_BUCKETS`` time buckets over the span; rollups are read
  in whole minutes, the minute holding the span's start included (a run that starts
  mid-minute counts every sample);
- fleet and per-satellite rollups come from ``fleet_1m`` and ``telemetry_1m`` where those are
  cheap (TimescaleDB's continuous aggregates, or a plain-PostgreSQL store whose telemetry is
  under ``ROLLUP_BYTES_AT_MOST``: there the rollups are views over the whole raw table);
  since schema version 6 the plain path's rollup is a table too, so every migrated store is
  read from its rollups;
  otherwise from one tick sampled at the start of each bucket (the rows within the longest
  telemetry interval after it), which reads ``MAX_BUCKETS`` ticks of the fleet, not all;
- raw telemetry is read only for the few satellites plotted (tracks and worst satellites);
- contacts, anomalies and injected faults come from ``events``, ``audit_anomaly_history``
  and ``fault_truth`` (latest ``score_id``) within the span.

Times are timezone-aware ``datetime`` (UTC); the plotting lives in ``twin.app.report_plots``.

Length: one bounded query per figure, each beside the reason it is bounded that way.
"""

from __future__ import annotations

import base64
import html
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psycopg

from twin.core.clock import parse_start
from twin.core.settings import ConfigError, InputError

FIGURES = ("ground-tracks", "worst-satellites", "fleet-compute", "contacts", "anomalies")
MAX_BUCKETS = 360  # time buckets per plotted series
TRACK_SATELLITES = 12  # ground tracks drawn, the worst satellites first
WORST_EACH = 3  # satellites of lowest state of charge, and of hottest payload
TRACK_SPAN_AT_MOST = timedelta(hours=2)  # tracks cover the end of a longer span (readable)
ROLLUP_BYTES_AT_MOST = 256 * 2**20  # a plain store before version 6: rollups are raw views
SCHEMA_VERSION_AT_LEAST = 2  # contact events name their station from version 2 on
REQUIRED_RELATIONS = (
    "schema_migrations",
    "satellites",
    "ground_stations",
    "telemetry",
    "events",
    "telemetry_1m",
    "fleet_1m",
)
# Made by later schema versions: without them a figure says so instead.
OPTIONAL_RELATIONS = ("audit_anomaly_history", "fault_truth", "whatif_runs")
WHATIFS_SHOWN = 5  # the newest what-ifs listed


@dataclass
class Worst:
    """A satellite picked as one of the worst, with its extremes over the span."""

    sat_id: int
    shell: str
    plane: int
    soc_min: float | None  # lowest state of charge, 0..1
    temp_payload_max_c: float | None  # hottest payload, °C
    why: list[str] = field(default_factory=list)  # "lowest SoC", "hottest payload"


@dataclass
class ReportData:
    """Everything the report shows; series are lists or (n,) arrays, times UTC datetimes."""

    database: str
    since: datetime | None
    until: datetime | None
    bucket: timedelta
    exact: bool  # rollups read (True) or one tick sampled per bucket (False)
    timescaledb: bool
    registered: int  # satellites registered
    reporting: int  # satellites with telemetry in the span
    samples: int  # telemetry rows in the span (estimated when not exact)
    fleets: list[tuple[str, int]]  # fleet name, satellites
    fleet_times: list[datetime] = field(default_factory=list)
    fleet_tops: np.ndarray = field(default_factory=lambda: np.zeros(0))  # delivered TOPS
    fleet_sunlit: np.ndarray = field(default_factory=lambda: np.zeros(0))  # share 0..1
    worst: list[Worst] = field(default_factory=list)
    # sat_id -> (times, soc_min 0..1, payload temperature max °C), one value per bucket
    series: dict[int, tuple[list[datetime], np.ndarray, np.ndarray]] = field(default_factory=dict)
    track_since: datetime | None = None
    # sat_id -> (times, lat_deg, lon_deg), at most one point per minute
    tracks: dict[int, tuple[list[datetime], np.ndarray, np.ndarray]] = field(default_factory=dict)
    stations: list[tuple[int, str, float, float]] = field(
        default_factory=list
    )  # id, name, lat, lon
    contacts: list[tuple[int, datetime, datetime]] = field(
        default_factory=list
    )  # station, aos, los
    contacts_in_progress: int = 0  # of those, already in progress at the span's start (no AOS)
    anomalies: list[tuple[int | None, str, str, datetime, datetime | None]] = field(
        default_factory=list
    )  # sat_id (None: fleet), rule, severity, opened, closed
    score_id: int | None = None
    faults: list[tuple[int, str, datetime, datetime | None]] = field(
        default_factory=list
    )  # sat_id, kind, onset, end (None: permanent)
    # the newest what-ifs: id, made, fork time, horizon h, satellites, verdict, broken only
    # in the branch, the branch's lowest state of charge less the baseline's
    whatifs: list[tuple[str, datetime, datetime, float, int, bool, int, float | None]] = field(
        default_factory=list
    )
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    """What ``write_report`` wrote."""

    path: Path
    size_bytes: int
    figures: tuple[str, ...]
    wall_s: float
    data: ReportData


def parse_time(option: str, value: str | None) -> datetime | None:
    """An ISO-8601 time of ``--since``/``--until`` (naive means UTC), or None."""
    if value is None:
        return None
    try:
        if value.strip() == "now":
            raise ValueError(value)
        ns = parse_start(value)
    except ValueError:
        raise ConfigError(
            option, value, "an ISO-8601 UTC time, e.g. 2026-03-20T12:00:00Z"
        ) from None
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC) + timedelta(
        microseconds=ns % 1_000_000_000 // 1000
    )


def _check_schema(conn: psycopg.Connection, database: str) -> None:
    found = conn.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NULL",
        (list(REQUIRED_RELATIONS),),
    ).fetchall()
    missing = [name for (name,) in found]
    if missing:
        what = (
            "no twin schema"
            if len(missing) == len(REQUIRED_RELATIONS)
            else "an incomplete twin schema"
        )
        raise InputError(
            f"--database: database {database!r} has {what} (missing: {', '.join(missing)}); "
            "create it with `twin db migrate` and fill it with `twin ingest` or `twin score`"
        )
    version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    if version is None or version < SCHEMA_VERSION_AT_LEAST:
        raise InputError(
            f"--database: database {database!r} has twin schema version {version}; the report "
            f"needs version {SCHEMA_VERSION_AT_LEAST} or later: upgrade it with `twin db migrate`"
        )


def _store_facts(conn: psycopg.Connection) -> tuple[bool, bool, int, timedelta]:
    """TimescaleDB or not; whether the rollups are materialised (its continuous aggregates,
    or the plain path's minute table of schema version 6); bytes of raw telemetry where they
    are not; the longest sample interval."""
    timescaledb = conn.execute(
        "SELECT count(*) > 0 FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()[0]
    minute_table = conn.execute("SELECT to_regclass('telemetry_1m_sums') IS NOT NULL").fetchone()
    materialised = timescaledb or minute_table[0]
    raw_bytes = 0
    if not materialised:
        raw_bytes = conn.execute(
            "SELECT coalesce(sum(pg_relation_size(relid)), 0)::int8 "
            "FROM pg_partition_tree('telemetry')"
        ).fetchone()[0]
    interval_s = conn.execute(
        "SELECT coalesce(max(telemetry_interval_s), 1) FROM satellites"
    ).fetchone()[0]
    return timescaledb, materialised, raw_bytes, timedelta(seconds=float(interval_s))


def _stored_span(conn: psycopg.Connection) -> tuple[datetime | None, datetime | None]:
    """First and last telemetry sample, from each satellite's first and last (index probes)."""
    return conn.execute(
        "SELECT min(f.time), max(l.time) FROM satellites s "
        "CROSS JOIN LATERAL (SELECT time FROM telemetry t WHERE t.sat_id = s.sat_id "
        "ORDER BY time LIMIT 1) f "
        "CROSS JOIN LATERAL (SELECT time FROM telemetry t WHERE t.sat_id = s.sat_id "
        "ORDER BY time DESC LIMIT 1) l"
    ).fetchone()


def bucket_width(since: datetime, until: datetime) -> timedelta:
    """Whole minutes, at least one, giving at most ``MAX_BUCKETS`` buckets over the span."""
    minutes = math.ceil((until - since).total_seconds() / 60.0 / MAX_BUCKETS)
    return timedelta(minutes=max(1, minutes))


def _rollups(conn: psycopg.Connection, d: ReportData) -> dict[int, tuple]:
    """Fleet series from ``fleet_1m``; per satellite (soc_min, temp_max) from telemetry_1m."""
    span = {"since": d.since, "until": d.until, "width": d.bucket}
    rows = conn.execute(
        "SELECT twin_bucket(%(width)s, bucket) AS b, avg(throughput_tops), avg(sunlit_share), "
        "sum(samples)::int8 FROM fleet_1m "
        "WHERE bucket > %(since)s::timestamptz - interval '1 minute' AND bucket < %(until)s "
        "GROUP BY 1 ORDER BY 1",
        span,
    ).fetchall()
    d.fleet_times = [r[0] for r in rows]
    d.fleet_tops = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=float)
    d.fleet_sunlit = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float)
    d.samples = int(sum(r[3] or 0 for r in rows))
    per_sat = conn.execute(
        "SELECT sat_id, min(soc_min), max(temp_payload_max_c) FROM telemetry_1m "
        "WHERE bucket > %(since)s::timestamptz - interval '1 minute' AND bucket < %(until)s "
        "GROUP BY sat_id",
        span,
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in per_sat}


def _sampled(conn: psycopg.Connection, d: ReportData, window: timedelta) -> dict[int, tuple]:
    """Like ``_rollups`` from one tick per bucket: the rows within ``window`` of its start."""
    rows = conn.execute(
        # OFFSET 0 keeps the lateral subquery apart: one time-index scan per bucket start,
        # not a join over the whole table.
        "WITH sampled AS ("
        " SELECT g.t AS bucket, s.sat_id, avg(s.throughput_tops) AS tops,"
        " avg(CASE WHEN s.sunlit THEN 1.0 WHEN NOT s.sunlit THEN 0.0 END) AS sunlit,"
        " min(s.soc) AS soc_min, max(s.temp_payload_c) AS temp_max, count(*) AS n"
        " FROM generate_series(%(since)s::timestamptz, %(until)s::timestamptz - %(window)s,"
        " %(width)s) AS g(t)"
        " CROSS JOIN LATERAL (SELECT sat_id, throughput_tops, sunlit, soc, temp_payload_c"
        " FROM telemetry WHERE time >= g.t AND time < g.t + %(window)s OFFSET 0) s"
        " GROUP BY g.t, s.sat_id)"
        "SELECT bucket, sat_id, sum(tops), avg(sunlit), min(soc_min), max(temp_max),"
        " sum(n)::int8 FROM sampled GROUP BY GROUPING SETS ((bucket), (sat_id))",
        {"since": d.since, "until": d.until, "width": d.bucket, "window": window},
    ).fetchall()
    fleet = sorted((r for r in rows if r[0] is not None), key=lambda r: r[0])
    d.fleet_times = [r[0] for r in fleet]
    d.fleet_tops = np.array([np.nan if r[2] is None else r[2] for r in fleet], dtype=float)
    d.fleet_sunlit = np.array([np.nan if r[3] is None else r[3] for r in fleet], dtype=float)
    sampled_rows = sum(r[6] for r in fleet)
    d.samples = round(sampled_rows * d.bucket / window)
    d.notes.append(
        "Fleet series, samples and the worst satellites come from one tick sampled per "
        f"bucket of {_minutes(d.bucket)} (the store's telemetry is too large to aggregate "
        "in full); the sample count is an estimate."
    )
    return {r[1]: (r[4], r[5]) for r in rows if r[0] is None and r[1] is not None}


def _pick_worst(conn: psycopg.Connection, per_sat: dict[int, tuple]) -> list[Worst]:
    ids = np.array(list(per_sat), dtype=np.int64)
    if not ids.size:
        return []
    soc = np.array([np.inf if v[0] is None else v[0] for v in per_sat.values()], dtype=float)
    temp = np.array([-np.inf if v[1] is None else v[1] for v in per_sat.values()], dtype=float)
    picked: dict[int, list[str]] = {}
    for order, values, why in (
        (np.argsort(soc, kind="stable"), soc, "lowest SoC"),
        (np.argsort(-temp, kind="stable"), temp, "hottest payload"),
    ):
        for i in order[:WORST_EACH]:
            if np.isfinite(values[i]):
                picked.setdefault(int(ids[i]), []).append(why)
    rows = conn.execute(
        "SELECT sat_id, shell, plane FROM satellites WHERE sat_id = ANY(%s)", (list(picked),)
    ).fetchall()
    info = {r[0]: (r[1], r[2]) for r in rows}
    return [
        Worst(sat, *info.get(sat, ("?", -1)), *per_sat[sat], why=why) for sat, why in picked.items()
    ]


def _series(conn: psycopg.Connection, d: ReportData, sat_ids: list[int]) -> None:
    """Lowest state of charge and hottest payload per bucket of the worst satellites."""
    span = {"since": d.since, "until": d.until, "width": d.bucket, "ids": sat_ids}
    if d.exact:
        query = (
            "SELECT sat_id, twin_bucket(%(width)s, bucket) AS b, min(soc_min), "
            "max(temp_payload_max_c) FROM telemetry_1m WHERE sat_id = ANY(%(ids)s) "
            "AND bucket > %(since)s::timestamptz - interval '1 minute' "
            "AND bucket < %(until)s GROUP BY 1, 2 ORDER BY 1, 2"
        )
    else:
        query = (
            "SELECT sat_id, twin_bucket(%(width)s, time) AS b, min(soc), max(temp_payload_c) "
            "FROM telemetry WHERE sat_id = ANY(%(ids)s) AND time >= %(since)s "
            "AND time < %(until)s GROUP BY 1, 2 ORDER BY 1, 2"
        )
    for sat, times, values in _by_satellite(conn.execute(query, span).fetchall()):
        d.series[sat] = (times, values[:, 0], values[:, 1])


def _tracks(conn: psycopg.Connection, d: ReportData, sat_ids: list[int]) -> None:
    """Latitude and longitude, the first sample of each minute, over the span's end."""
    d.track_since = max(d.since, d.until - TRACK_SPAN_AT_MOST)
    rows = conn.execute(
        "SELECT DISTINCT ON (sat_id, twin_bucket(interval '1 minute', time)) "
        "sat_id, time, lat_deg, lon_deg FROM telemetry WHERE sat_id = ANY(%(ids)s) "
        "AND time >= %(since)s AND time < %(until)s AND lat_deg IS NOT NULL "
        "AND lon_deg IS NOT NULL ORDER BY sat_id, twin_bucket(interval '1 minute', time), time",
        {"ids": sat_ids, "since": d.track_since, "until": d.until},
    ).fetchall()
    for sat, times, values in _by_satellite(rows):
        d.tracks[sat] = (times, values[:, 0], values[:, 1])


def _by_satellite(rows: Sequence[tuple]):
    """Rows ``(sat_id, time, v1, v2)`` ordered by satellite → (sat_id, times, (n, 2) array)."""
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][0] != rows[start][0]:
            chunk = rows[start:i]
            values = np.array(
                [[np.nan if v is None else v for v in r[2:4]] for r in chunk], dtype=float
            )
            yield chunk[0][0], [r[1] for r in chunk], values
            start = i


def _sample_tracks(reporting: list[int], worst: list[Worst]) -> list[int]:
    """The worst satellites, then others evenly spread over the ids, ``TRACK_SATELLITES``."""
    chosen = [w.sat_id for w in worst][:TRACK_SATELLITES]
    others = [s for s in sorted(reporting) if s not in chosen]
    room = TRACK_SATELLITES - len(chosen)
    if room > 0 and others:
        picks = np.unique(np.linspace(0, len(others) - 1, min(room, len(others))).round())
        chosen += [others[int(i)] for i in picks]
    return chosen


def _contacts(conn: psycopg.Connection, d: ReportData) -> None:
    """Contact intervals per station: AOS to the next step of the same satellite and station
    (to the span's end when none), and from the span's start to a first LOS."""
    d.stations = conn.execute(
        "SELECT station_id, name, lat_deg, lon_deg FROM ground_stations ORDER BY station_id"
    ).fetchall()
    rows = conn.execute(
        "WITH steps AS ("
        " SELECT sat_id, station_id, time, kind,"
        " lead(time) OVER w AS next_time, lag(kind) OVER w AS previous_kind"
        " FROM events WHERE kind IN ('contact_aos', 'contact_los')"
        " AND time >= %(since)s AND time < %(until)s"
        " WINDOW w AS (PARTITION BY sat_id, station_id ORDER BY time))"
        "SELECT station_id,"
        " CASE WHEN kind = 'contact_aos' THEN time ELSE %(since)s::timestamptz END,"
        " CASE WHEN kind = 'contact_aos' THEN coalesce(next_time, %(until)s::timestamptz)"
        " ELSE time END, kind <> 'contact_aos' "
        "FROM steps WHERE kind = 'contact_aos' OR previous_kind IS NULL "
        "ORDER BY station_id, 2",
        {"since": d.since, "until": d.until},
    ).fetchall()
    d.contacts = [(station, aos, los) for station, aos, los, _ in rows]
    d.contacts_in_progress = sum(1 for *_, in_progress in rows if in_progress)


def _anomalies(conn: psycopg.Connection, d: ReportData) -> None:
    """Anomalies open at some time in the span; the faults of the latest scored run."""
    present = dict(
        conn.execute(
            "SELECT name, to_regclass(name) IS NOT NULL FROM unnest(%s::text[]) AS name",
            (list(OPTIONAL_RELATIONS),),
        ).fetchall()
    )
    if not present["audit_anomaly_history"]:
        d.notes.append("Anomalies are not shown: this store has no anomaly history (migrate it).")
        return
    d.anomalies = conn.execute(
        "SELECT sat_id, rule, severity, opened_at, closed_at FROM audit_anomaly_history "
        "WHERE opened_at IS NOT NULL AND opened_at < %(until)s "
        "AND (closed_at IS NULL OR closed_at >= %(since)s) "
        "ORDER BY sat_id NULLS FIRST, opened_at",
        {"since": d.since, "until": d.until},
    ).fetchall()
    if not present["fault_truth"]:
        return
    readable = conn.execute("SELECT has_table_privilege('fault_truth', 'SELECT')").fetchone()[0]
    if not readable:
        d.notes.append("Injected faults are not shown: this role may not read fault_truth.")
        return
    d.score_id = conn.execute("SELECT max(score_id) FROM fault_truth").fetchone()[0]
    if d.score_id is None:
        return
    d.faults = conn.execute(
        "SELECT sat_id, kind, onset, ends FROM fault_truth WHERE score_id = %(score)s "
        "AND onset < %(until)s AND (ends IS NULL OR ends >= %(since)s) ORDER BY sat_id, onset",
        {"score": d.score_id, "since": d.since, "until": d.until},
    ).fetchall()


def gather(
    url: str,
    since: datetime | None = None,
    until: datetime | None = None,
    embedded: bool = False,
) -> ReportData:
    """Query everything the report shows, read-only, in one snapshot of the store. A
    superuser login is refused (``ingest.store.db.refuse_superuser``) but on the ``embedded``
    store, a private server whose only login is its superuser."""
    from ingest.store.db import connect, refuse_superuser

    database = urlsplit(url).path.lstrip("/") or "?"
    with connect(url, autocommit=True, application_name="twin-report") as conn:
        if not embedded:
            refuse_superuser(conn, "twin report", "read as twin_reader or the schema owner")
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET jit = off")  # compiling costs more than these short queries take
        _check_schema(conn, database)
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            timescaledb, materialised, raw_bytes, window = _store_facts(conn)
            first, last = _stored_span(conn)
            since = since or first
            until = until or (None if last is None else last + timedelta(microseconds=1))
            fleets = conn.execute(
                "SELECT fleet, count(*) FROM satellites GROUP BY fleet ORDER BY fleet"
            ).fetchall()
            d = ReportData(
                database=database,
                since=since,
                until=until,
                bucket=timedelta(minutes=1),
                exact=materialised or raw_bytes <= ROLLUP_BYTES_AT_MOST,
                timescaledb=timescaledb,
                registered=sum(n for _, n in fleets),
                reporting=0,
                samples=0,
                fleets=fleets,
            )
            _whatifs(conn, d)
            if since is None or until is None or since >= until:
                d.notes.append("No telemetry is stored in the span.")
                return d
            d.bucket = bucket_width(since, until)
            per_sat = _rollups(conn, d) if d.exact else _sampled(conn, d, window)
            d.reporting = len(per_sat)
            d.worst = _pick_worst(conn, per_sat)
            _series(conn, d, [w.sat_id for w in d.worst])
            _tracks(conn, d, _sample_tracks(list(per_sat), d.worst))
            _contacts(conn, d)
            _anomalies(conn, d)
    return d


def _whatifs(conn: psycopg.Connection, d: ReportData) -> None:
    """The newest what-ifs (``twin whatif``), whatever the span: a store before schema
    version 16 has none."""
    if conn.execute("SELECT to_regclass('whatif_runs')").fetchone()[0] is None:
        return
    d.whatifs = conn.execute(
        "SELECT r.whatif_id, r.made_at, r.fork_at, r.horizon_s / 3600, r.satellites, "
        "r.violates, (SELECT count(*) FROM whatif_violations v WHERE v.whatif_id = r.whatif_id "
        "AND v.only_in_branch), (SELECT min(min_soc) FILTER (WHERE branch) - min(min_soc) "
        "FILTER (WHERE NOT branch) FROM whatif_satellites w WHERE w.whatif_id = r.whatif_id) "
        "FROM whatif_runs r ORDER BY r.made_at DESC, r.whatif_id LIMIT %s",
        (WHATIFS_SHOWN,),
    ).fetchall()


def _minutes(width: timedelta) -> str:
    minutes = round(width.total_seconds() / 60)
    return "one minute" if minutes == 1 else f"{minutes} minutes"


def _when(t: datetime | None) -> str:
    return "—" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | None, fmt: str) -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, fmt)


_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1300px; }
h1 { font-size: 22px; margin-bottom: 4px; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 12px 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; }
td.text, th.text { text-align: left; }
figure { margin: 24px 0; }
figure img { width: 100%; max-width: 1200px; border: 1px solid #ddd; }
figcaption { font-size: 14px; color: #333; margin-top: 6px; max-width: 1200px; }
ul.notes { color: #555; font-size: 13px; }
"""


def _header(d: ReportData) -> str:
    e = html.escape
    span = f"{_when(d.since)} to {_when(d.until)}" if d.since and d.until else "no telemetry"
    hours = (d.until - d.since).total_seconds() / 3600 if d.since and d.until else 0.0
    opened = len(d.anomalies)
    still_open = sum(a[4] is None for a in d.anomalies)
    fleets = ", ".join(f"{e(name)} ({n})" for name, n in d.fleets) or "none registered"
    samples = f"{'' if d.exact else '≈ '}{d.samples:,}"
    faults = (
        f"; {len(d.faults)} injected faults of scored run {d.score_id}"
        if d.score_id is not None
        else ""
    )
    rows = "".join(
        f"<tr><td>{w.sat_id}</td><td class='text'>{e(w.shell)}</td><td>{w.plane}</td>"
        f"<td>{_number(w.soc_min, '.3f')}</td><td>{_number(w.temp_payload_max_c, '.1f')}</td>"
        f"<td>{sum(a[0] == w.sat_id for a in d.anomalies)}</td>"
        f"<td class='text'>{e(', '.join(f[1] for f in d.faults if f[0] == w.sat_id)) or '—'}"
        f"</td><td class='text'>{e(' and '.join(w.why))}</td></tr>"
        for w in d.worst
    )
    table = (
        "<table><tr><th>satellite</th><th class='text'>shell</th><th>plane</th>"
        "<th>lowest SoC</th><th>hottest payload (°C)</th><th>anomalies</th>"
        f"<th class='text'>injected faults</th><th class='text'>why listed</th></tr>{rows}</table>"
        if d.worst
        else "<p>No satellite reported in the span.</p>"
    )
    engine = "TimescaleDB" if d.timescaledb else "PostgreSQL"
    notes = "".join(f"<li>{e(n)}</li>" for n in d.notes)
    whatifs = "".join(
        f"<tr><td class='text'>{e(w[0])}</td><td class='text'>{_when(w[1])}</td>"
        f"<td class='text'>{_when(w[2])}</td><td>{w[3]:.2f}</td><td>{w[4]:,}</td>"
        f"<td class='text'>{'breaks a constraint' if w[5] else 'keeps all'}</td><td>{w[6]}</td>"
        f"<td>{_number(None if w[7] is None else 100 * w[7], '+.2f')}</td></tr>"
        for w in d.whatifs
    )
    whatif_table = (
        f"<h2>What-ifs (newest {WHATIFS_SHOWN})</h2><table id='whatifs'><tr>"
        "<th class='text'>what-if</th><th class='text'>made</th><th class='text'>forked at</th>"
        "<th>horizon (h)</th><th>satellites</th><th class='text'>verdict</th>"
        "<th>broken only in the branch</th><th>lowest SoC, branch − baseline (points)</th>"
        f"</tr>{whatifs}</table>"
        if d.whatifs
        else ""
    )
    return (
        "<header><h1>Orbital twin report</h1>"
        f"<p class='sub'>Database {e(d.database)} ({engine}), written "
        f"{_when(datetime.now(UTC))}</p>"
        f"<p id='summary'><b>{d.reporting:,}</b> of {d.registered:,} registered satellites "
        f"reporting ({fleets}) from {span} ({hours:.2f} h); <b>{samples}</b> telemetry samples; "
        f"<b>{opened:,}</b> anomalies ({still_open:,} still open at the end){faults}. Series "
        f"in buckets of {_minutes(d.bucket)}.</p>"
        f"<h2>Worst satellites</h2>{table}{whatif_table}"
        f"{f'<ul class=notes>{notes}</ul>' if notes else ''}</header>"
    )


def render_html(d: ReportData) -> tuple[str, tuple[str, ...]]:
    """The report page and the ids of its figures."""
    from twin.app import report_plots

    figures = report_plots.all_figures(d)
    assert tuple(f.figure_id for f in figures) == FIGURES
    body = "".join(
        f"<figure id='{f.figure_id}'><img alt='{html.escape(f.title)}' "
        f"src='data:image/png;base64,{base64.b64encode(f.png).decode('ascii')}'>"
        f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption>"
        "</figure>"
        for f in figures
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Orbital twin report: {html.escape(d.database)}</title>"
        f"<style>{_STYLE}</style></head><body>{_header(d)}<main>{body}</main></body></html>"
    )
    return page, FIGURES


def check_out(out: str) -> Path:
    """The ``--out`` path, refused when its folder is missing or not writable."""
    path = Path(out)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"--out: {out!r} is a directory; give a file name such as report.html")
    if not folder.is_dir():
        raise InputError(f"--out: {out!r} cannot be written: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"--out: {out!r} cannot be written: folder {str(folder)!r} is read-only")
    return path


def write_report(
    url: str,
    out: str,
    since: datetime | None = None,
    until: datetime | None = None,
    embedded: bool = False,
) -> Written:
    """Gather, render and write the report to ``out``; raise ``InputError`` on bad input.
    ``embedded``: ``url`` is the embedded store's (see ``gather``)."""
    started = time.monotonic()
    path = check_out(out)
    if since is not None and until is not None and since >= until:
        raise ConfigError(
            "--since / --until", f"{_when(since)} .. {_when(until)}", "--since before --until"
        )
    data = gather(url, since, until, embedded)
    page, figures = render_html(data)
    encoded = page.encode("utf-8")
    try:
        path.write_bytes(encoded)
    except OSError as exc:
        raise InputError(f"--out: {out!r} cannot be written: {exc.strerror or exc}") from None
    return Written(path, len(encoded), figures, time.monotonic() - started, data)

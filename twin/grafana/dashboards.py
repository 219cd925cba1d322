"""The operations dashboards, as code: ``python -m twin.grafana`` writes them to grafana/.

Fleet panels read the rollups (``telemetry_1m``: per satellite and minute, a continuous
aggregate on TimescaleDB) joined with ``satellites`` for the fleet, shell and plane picked;
they never scan raw telemetry over the dashboard's range. Panels about one satellite read
its raw samples through the ``(sat_id, time)`` key. Positions on maps read the last two
minutes of raw samples only.
"""

from __future__ import annotations

from dataclasses import replace

from twin.grafana.board import SATELLITE_LINK, SELECTED, Board, Panel, Variable, by_name

# Grafana's custom unit for tera-operations per second.
TOPS_UNIT = "suffix: TOPS"

VARIABLES = (
    Variable("fleet", "Fleet", "SELECT DISTINCT fleet FROM satellites ORDER BY 1"),
    Variable(
        "shell", "Shell", "SELECT DISTINCT shell FROM satellites WHERE fleet IN ($fleet) ORDER BY 1"
    ),
    Variable(
        "plane",
        "Plane",
        "SELECT DISTINCT plane FROM satellites WHERE fleet IN ($fleet) AND shell IN ($shell) "
        "ORDER BY 1",
    ),
    Variable(
        "satellite",
        "Satellite",
        "SELECT sat_id FROM satellites WHERE fleet IN ($fleet) AND shell IN ($shell) "
        "AND plane IN ($plane) ORDER BY 1",
        multi=False,
    ),
)
# The satellites picked by the variables, with what panels need of their hardware, read once
# per query (not once per rollup row): rollup panels start with this and join ``s``.
_PICKED = (
    "WITH s AS {}(SELECT sat_id, fleet, shell, plane, "
    "(hardware->>'accelerator_peak_tops')::float8 AS peak_tops FROM satellites "
    "WHERE fleet IN ($fleet) AND shell IN ($shell) AND plane IN ($plane)) "
)
PICKED = _PICKED.format("")
# A panel that reads ``peak_tops`` takes ``s`` MATERIALIZED: inlined, the whole hardware
# document travels with every rollup row into the per-minute sort (measured on TimescaleDB,
# 6 h of 2,800 satellites: 2.9 s, 640 MB spilled for 2 h). Panels that do not read it keep the
# inlined CTE, whose join the planner estimates better (2-3x faster there).
PICKED_HARDWARE = _PICKED.format("MATERIALIZED ")


def _picked(sql: str) -> str:
    return (PICKED_HARDWARE if "s.peak_tops" in sql else PICKED) + sql


def _per_minute(columns: str, where: str = "") -> str:
    """Fleet sums per minute bucket of the picked satellites (a subquery named ``m1``)."""
    return (
        f"(SELECT m.bucket, {columns} FROM telemetry_1m m JOIN s USING (sat_id) "
        f"WHERE $__timeFilter(m.bucket){where} GROUP BY m.bucket) m1"
    )


def _series(outer: str, inner: str) -> str:
    """Per-minute fleet sums averaged into Grafana's interval."""
    return (
        f"SELECT $__timeGroupAlias(bucket, $__interval), {outer} FROM {_per_minute(inner)} "
        "GROUP BY 1 ORDER BY 1"
    )


def _world_map(layer: str, name: str, config: dict) -> dict:
    """Geomap options: the whole world, one layer placed by the latitude and longitude
    columns."""
    location = {"mode": "coords", "latitude": "latitude", "longitude": "longitude"}
    return {
        "view": {"id": "zero", "lat": 0, "lon": 0, "zoom": 1},
        "controls": {"showZoom": True, "mouseWheelZoom": True},
        "layers": [{"type": layer, "name": name, "location": location, "config": config}],
    }


LAST_MINUTE = "m.bucket = (SELECT max(bucket) FROM telemetry_1m WHERE $__timeFilter(bucket))"
LATEST_POSITIONS = (
    "SELECT DISTINCT ON (t.sat_id) t.sat_id, t.lat_deg AS latitude, t.lon_deg AS longitude, "
    "t.soc, CASE WHEN t.safe_mode THEN 'safe mode' "
    "WHEN EXISTS (SELECT 1 FROM audit_anomaly_history a WHERE a.sat_id = t.sat_id "
    "AND a.closed_at IS NULL) THEN 'anomaly' ELSE 'nominal' END AS health "
    "FROM telemetry t WHERE t.lat_deg IS NOT NULL AND t.safe_mode IS NOT NULL "
    "AND t.time BETWEEN $__timeTo()::timestamptz - interval '2 minutes' AND $__timeTo() "
    f"AND t.{SELECTED} ORDER BY t.sat_id, t.time DESC"
)

FLEET = Board(
    "twin-fleet",
    "Fleet overview",
    "Modes and health, delivered against available compute, sunlight, contacts, batteries, "
    "anomalies and where every satellite is now.",
    (
        Panel(
            "Satellites by mode and health",
            "stat",
            "SELECT count(*) FILTER (WHERE m.safe_mode_samples = 0) AS nominal, "
            "count(*) FILTER (WHERE m.safe_mode_samples > 0) AS safe_mode, "
            "count(*) FILTER (WHERE m.throttle_level_max > 0) AS throttled, "
            "count(*) FILTER (WHERE EXISTS (SELECT 1 FROM audit_anomaly_history a "
            "WHERE a.sat_id = m.sat_id AND a.closed_at IS NULL)) AS with_open_anomalies "
            f"FROM telemetry_1m m JOIN s USING (sat_id) WHERE {LAST_MINUTE} "
            f"",
            ("nominal", "safe_mode", "throttled", "with_open_anomalies"),
            unit="short",
            table=True,
            width=8,
        ),
        Panel(
            "Open anomalies",
            "stat",
            "SELECT count(*) AS open_anomalies FROM audit_anomaly_history "
            f"WHERE closed_at IS NULL AND (sat_id IS NULL OR {SELECTED})",
            ("open_anomalies",),
            unit="short",
            table=True,
            width=4,
        ),
        Panel(
            "Delivered and available compute",
            "timeseries",
            _series(
                "avg(delivered) AS delivered_tops, avg(available) AS available_tops",
                "sum(m.throughput_tops_avg) AS delivered, "
                "sum(s.peak_tops * (1 - m.safe_mode_samples::float8 / m.samples)) AS available",
            ),
            ("time", "delivered_tops", "available_tops"),
            unit=TOPS_UNIT,
            description="TOPS delivered by the accelerators, and the peak of those not in "
            "safe mode.",
        ),
        Panel(
            "Sunlit and in contact",
            "timeseries",
            _series(
                "avg(sunlit) AS sunlit, avg(in_contact) AS in_contact",
                "sum(m.sunlit_share) AS sunlit, sum(m.in_contact_share) AS in_contact",
            ),
            ("time", "sunlit", "in_contact"),
            unit="short",
            description="Satellites in sunlight and satellites downlinking to a station.",
        ),
        Panel(
            "State of charge, last minute",
            "histogram",
            "SELECT m.soc_avg AS soc FROM telemetry_1m m JOIN s USING (sat_id) "
            f"WHERE {LAST_MINUTE}",
            ("soc",),
            table=True,
            unit="percentunit",
        ),
        Panel(
            "Where the satellites are",
            "geomap",
            LATEST_POSITIONS,
            ("sat_id", "latitude", "longitude", "health"),
            unit="degree",
            field_units=(("sat_id", "none"), ("health", "none")),
            links=(SATELLITE_LINK,),
            table=True,
            width=24,
            height=12,
            description="Last position of each satellite, coloured by health.",
            options=_world_map(
                "markers", "satellites", {"color": {"field": "health"}, "size": {"fixed": 4}}
            ),
        ),
    ),
    VARIABLES,
)


def _limit(channel: str, which: str, name: str) -> str:
    """A select-list item: the picked satellite's ``which`` limit of ``channel``, as ``name``."""
    return (
        f"(SELECT {which} FROM channel_limits WHERE sat_id = ${{satellite:sqlstring}} "
        f"AND channel = '{channel}') AS {name}"
    )


def _fleet_limit(channel: str, which: str, name: str) -> str:
    """A select-list item: the strictest ``which`` limit of ``channel`` over the satellites
    picked (``s``), as ``name``: the highest low limit, the lowest high one."""
    strictest = "max" if which.endswith("_low") else "min"
    return (
        f"(SELECT {strictest}(l.{which}) FROM channel_limits l JOIN s USING (sat_id) "
        f"WHERE l.channel = '{channel}') AS {name}"
    )


def _limit_lines(**colours: str) -> tuple[dict, ...]:
    """Overrides drawing the limit series named as dashed lines of the colour given."""
    return tuple(
        by_name(
            name,
            ("color", {"mode": "fixed", "fixedColor": colour}),
            ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
        )
        for name, colour in colours.items()
    )


# The state column of satellite_limit_states, as operators read it.
_STATE_COLOURS = by_name(
    "state",
    (
        "mappings",
        [
            {
                "type": "value",
                "options": {
                    "0": {"text": "ok", "color": "green", "index": 0},
                    "1": {"text": "warning", "color": "yellow", "index": 1},
                    "2": {"text": "critical", "color": "red", "index": 2},
                },
            }
        ],
    ),
    ("custom.cellOptions", {"type": "color-background"}),
)


SATELLITE = Board(
    "twin-satellite",
    "Satellite",
    "One satellite: ground track, power, thermal, compute, links, with its anomalies.",
    (
        Panel(
            "Ground track",
            "geomap",
            "SELECT time, lat_deg AS latitude, lon_deg AS longitude FROM telemetry "
            "WHERE sat_id = ${satellite:sqlstring} AND $__timeFilter(time) AND lat_deg IS NOT NULL "
            "ORDER BY time",
            ("time", "latitude", "longitude"),
            unit="degree",
            table=True,
            width=24,
            height=10,
            # Points, not Grafana's route layer: a route joins consecutive samples with
            # straight lines, across the whole map where the track passes ±180°.
            options=_world_map("markers", "track", {"size": {"fixed": 2}}),
        ),
        Panel(
            "Limits, latest sample",
            "table",
            "SELECT channel, value, unit, state, red_low, yellow_low, yellow_high, red_high "
            "FROM satellite_limit_states WHERE sat_id = ${satellite:sqlstring} "
            "ORDER BY state DESC NULLS LAST, channel",
            ("channel", "value", "unit", "state"),
            unit="none",
            table=True,
            width=24,
            description="The satellite's latest sample of each channel that has limits, "
            "against its yellow and red limits (the telemetry dictionary resolved for its "
            "hardware: twin channels).",
            overrides=(_STATE_COLOURS,),
        ),
        Panel(
            "Power",
            "timeseries",
            "SELECT $__timeGroupAlias(time, $__interval), avg(array_w) AS array_w, "
            "avg(load_w) AS load_w, avg(battery_w) AS battery_w FROM telemetry "
            "WHERE sat_id = ${satellite:sqlstring} AND $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ("time", "array_w", "load_w", "battery_w"),
            unit="watt",
        ),
        Panel(
            "State of charge",
            "timeseries",
            "SELECT $__timeGroupAlias(time, $__interval), min(soc) AS soc, "
            f"{_limit('soc', 'red_low', 'safe_mode_below')}, "
            f"{_limit('soc', 'yellow_low', 'no_new_jobs_below')} FROM telemetry "
            "WHERE sat_id = ${satellite:sqlstring} AND $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ("time", "soc", "safe_mode_below", "no_new_jobs_below"),
            unit="percentunit",
            channel="soc",
            overrides=_limit_lines(safe_mode_below="red", no_new_jobs_below="yellow"),
        ),
        Panel(
            "Temperatures",
            "timeseries",
            "SELECT $__timeGroupAlias(time, $__interval), max(temp_payload_c) AS payload, "
            "max(temp_radiator_c) AS radiator, "
            f"{_limit('temp_payload_c', 'yellow_high', 'payload_throttles_above')}, "
            f"{_limit('temp_payload_c', 'red_high', 'payload_critical_above')} FROM telemetry "
            "WHERE sat_id = ${satellite:sqlstring} AND $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ("time", "payload", "radiator", "payload_throttles_above", "payload_critical_above"),
            unit="celsius",
            channel="temp_payload_c",
            overrides=_limit_lines(payload_throttles_above="yellow", payload_critical_above="red"),
        ),
        Panel(
            "Compute",
            "timeseries",
            "SELECT $__timeGroupAlias(time, $__interval), avg(throughput_tops) AS tops, "
            "avg(utilisation) AS utilisation FROM telemetry "
            "WHERE sat_id = ${satellite:sqlstring} AND $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ("time", "tops", "utilisation"),
            unit=TOPS_UNIT,
            field_units=(("utilisation", "percentunit"),),
            right_axis=("utilisation",),
        ),
        Panel(
            "Jobs queued and throttle state",
            "timeseries",
            "SELECT $__timeGroupAlias(time, $__interval), avg(queue_depth) AS queue_depth, "
            "max(throttle_level) AS throttle_level FROM telemetry "
            "WHERE sat_id = ${satellite:sqlstring} AND $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ("time", "queue_depth", "throttle_level"),
            unit="short",
            field_units=(("throttle_level", "none"),),
            right_axis=("throttle_level",),
            description="Jobs queued or running (left); accelerator throttle state, 0 = full "
            "clock (right).",
        ),
        Panel(
            "Links",
            "timeseries",
            "SELECT $__timeGroupAlias(time, $__interval), avg(downlink_mbps) AS downlink_mbps, "
            "avg(backlog_mb) AS backlog_mb FROM telemetry "
            "WHERE sat_id = ${satellite:sqlstring} AND $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ("time", "downlink_mbps", "backlog_mb"),
            unit="Mbits",
            field_units=(("backlog_mb", "decmbytes"),),
            right_axis=("backlog_mb",),
        ),
        Panel(
            "Laser links",
            "timeseries",
            "SELECT $__timeGroupAlias(time, $__interval), avg(isl_up) AS laser_links, "
            "avg(hops_to_ground) AS hops_to_ground FROM telemetry "
            "WHERE sat_id = ${satellite:sqlstring} AND $__timeFilter(time) GROUP BY 1 ORDER BY 1",
            ("time", "laser_links", "hops_to_ground"),
            unit="short",
            field_units=(("hops_to_ground", "none"),),
            right_axis=("hops_to_ground",),
            description="Laser links carrying data (left); hops to a satellite in contact, -1 "
            "beyond reach (right).",
        ),
    ),
    VARIABLES,
    annotations=(
        {
            "name": "Anomalies",
            "enable": True,
            "iconColor": "red",
            "datasource": {"type": "grafana-postgresql-datasource", "uid": "twin-timescaledb"},
            "target": {
                "refId": "Anno",
                "editorMode": "code",
                "format": "table",
                "rawQuery": True,
                "rawSql": "SELECT opened_at AS time, coalesce(closed_at, now()) AS timeend, "
                "rule || ': ' || severity AS text FROM audit_anomaly_history "
                "WHERE sat_id = ${satellite:sqlstring} AND opened_at <= $__timeTo() "
                "AND coalesce(closed_at, now()) >= $__timeFrom()",
            },
        },
    ),
)

COMPUTE = Board(
    "twin-compute",
    "Compute throughput",
    "Fleet TOPS, jobs, latency and energy per job, by shell and plane.",
    (
        Panel(
            "Delivered TOPS by shell",
            "timeseries",
            "SELECT $__timeGroupAlias(bucket, $__interval), shell AS metric, avg(tops) AS tops "
            "FROM (SELECT m.bucket, s.shell, sum(m.throughput_tops_avg) AS tops "
            "FROM telemetry_1m m JOIN s USING (sat_id) "
            "WHERE $__timeFilter(m.bucket) GROUP BY m.bucket, s.shell) m1 "
            "GROUP BY 1, 2 ORDER BY 1",
            ("time", "metric", "tops"),
            unit=TOPS_UNIT,
        ),
        Panel(
            "Jobs landed and failed",
            "timeseries",
            "SELECT $__timeGroupAlias(j.time, $__interval), "
            "count(*) FILTER (WHERE j.state = 'downlinked') AS downlinked, "
            "count(*) FILTER (WHERE j.state = 'failed') AS failed FROM job_events j "
            f"WHERE $__timeFilter(j.time) AND j.{SELECTED} GROUP BY 1 ORDER BY 1",
            ("time", "downlinked", "failed"),
            unit="short",
        ),
        Panel(
            "Job latency, submission to ground",
            "timeseries",
            "SELECT $__timeGroupAlias(j.time, $__interval), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY j.latency_s) AS p50, "
            "percentile_cont(0.95) WITHIN GROUP (ORDER BY j.latency_s) AS p95 "
            "FROM job_events j WHERE j.state = 'downlinked' AND $__timeFilter(j.time) "
            f"AND j.{SELECTED} GROUP BY 1 ORDER BY 1",
            ("time", "p50", "p95"),
            unit="s",
        ),
        Panel(
            "Energy per job",
            "timeseries",
            "SELECT $__timeGroupAlias(j.time, $__interval), j.kind AS metric, "
            "avg(j.energy_j) / 3600 AS energy_wh FROM job_events j "
            "WHERE j.state = 'downlinked' AND $__timeFilter(j.time) "
            f"AND j.{SELECTED} GROUP BY 1, 2 ORDER BY 1",
            ("time", "metric", "energy_wh"),
            unit="watth",
        ),
        Panel(
            "Compute by shell and plane",
            "table",
            "SELECT s.shell, s.plane, sum(m.throughput_tops_avg * 60) AS tera_ops, "
            "avg(m.utilisation_avg) AS utilisation, sum(m.upsets) AS upsets "
            "FROM telemetry_1m m JOIN s USING (sat_id) "
            "WHERE $__timeFilter(m.bucket) GROUP BY s.shell, s.plane "
            "ORDER BY tera_ops DESC",
            ("shell", "plane", "tera_ops", "utilisation", "upsets"),
            unit="short",
            field_units=(("utilisation", "percentunit"),),
            table=True,
            width=24,
        ),
    ),
    VARIABLES,
)


def _latest_forecast(table: str) -> str:
    """A query of the id of the newest forecast with rows in ``table``."""
    return (
        "SELECT r.forecast_id FROM forecast_runs r WHERE EXISTS (SELECT 1 FROM "
        f"{table} x WHERE x.forecast_id = r.forecast_id) ORDER BY r.made_at DESC LIMIT 1"
    )


POWER_THERMAL = Board(
    "twin-power-thermal",
    "Power and thermal",
    "Batteries and temperatures across the fleet, and the worst satellites.",
    (
        Panel(
            "State of charge across the fleet",
            "timeseries",
            "SELECT $__timeGroupAlias(m.bucket, $__interval), min(m.soc_min) AS lowest, "
            f"avg(m.soc_avg) AS mean, {_fleet_limit('soc', 'red_low', 'safe_mode_below')}, "
            f"{_fleet_limit('soc', 'yellow_low', 'no_new_jobs_below')} "
            "FROM telemetry_1m m JOIN s USING (sat_id) "
            "WHERE $__timeFilter(m.bucket) GROUP BY 1 ORDER BY 1",
            ("time", "lowest", "mean", "safe_mode_below", "no_new_jobs_below"),
            unit="percentunit",
            channel="soc",
            overrides=_limit_lines(safe_mode_below="red", no_new_jobs_below="yellow"),
            description="Limits: the strictest of the satellites picked (their hardware's).",
        ),
        Panel(
            "Payload temperature across the fleet",
            "timeseries",
            "SELECT $__timeGroupAlias(m.bucket, $__interval), "
            "max(m.temp_payload_max_c) AS hottest, avg(m.temp_payload_avg_c) AS mean, "
            f"{_fleet_limit('temp_payload_c', 'yellow_high', 'payload_throttles_above')}, "
            f"{_fleet_limit('temp_payload_c', 'red_high', 'payload_critical_above')} "
            "FROM telemetry_1m m JOIN s USING (sat_id) "
            "WHERE $__timeFilter(m.bucket) GROUP BY 1 ORDER BY 1",
            ("time", "hottest", "mean", "payload_throttles_above", "payload_critical_above"),
            unit="celsius",
            channel="temp_payload_c",
            overrides=_limit_lines(payload_throttles_above="yellow", payload_critical_above="red"),
            description="Limits: the strictest of the satellites picked (their hardware's).",
        ),
        Panel(
            "Lowest batteries",
            "table",
            "SELECT m.sat_id, min(m.soc_min) AS soc_min, sum(m.safe_mode_samples) AS "
            "safe_mode_samples FROM telemetry_1m m JOIN s USING (sat_id) "
            "WHERE $__timeFilter(m.bucket) GROUP BY m.sat_id "
            "ORDER BY soc_min LIMIT 10",
            ("sat_id", "soc_min", "safe_mode_samples"),
            unit="short",
            field_units=(("sat_id", "none"), ("soc_min", "percentunit")),
            links=(SATELLITE_LINK,),
            table=True,
        ),
        Panel(
            "Hottest payloads",
            "table",
            "SELECT m.sat_id, max(m.temp_payload_max_c) AS temp_payload_max_c, "
            "max(m.throttle_level_max) AS throttle_level_max "
            "FROM telemetry_1m m JOIN s USING (sat_id) "
            "WHERE $__timeFilter(m.bucket) GROUP BY m.sat_id "
            "ORDER BY temp_payload_max_c DESC LIMIT 10",
            ("sat_id", "temp_payload_max_c", "throttle_level_max"),
            unit="short",
            field_units=(("sat_id", "none"), ("temp_payload_max_c", "celsius")),
            links=(SATELLITE_LINK,),
            table=True,
        ),
        Panel(
            "Predicted state-of-charge minima (latest state forecast)",
            "table",
            "SELECT f.min_soc_at AS time, f.sat_id, f.orbit, f.min_soc, f.max_temp_payload_c "
            f"FROM forecast_states f JOIN ({_latest_forecast('forecast_states')}) latest "
            "USING (forecast_id) JOIN s USING (sat_id) WHERE $__timeFilter(f.min_soc_at) "
            "ORDER BY f.min_soc, f.sat_id LIMIT 20",
            ("time", "sat_id", "orbit", "min_soc", "max_temp_payload_c"),
            unit="percentunit",
            field_units=(("sat_id", "none"), ("orbit", "none"), ("max_temp_payload_c", "celsius")),
            links=(SATELLITE_LINK,),
            table=True,
            width=24,
            description="The lowest state of charge each satellite reaches in each orbit, as "
            "the latest twin forecast states predicts, lowest first: set the range ahead of "
            "now to see tonight's.",
        ),
    ),
    VARIABLES,
)


def _next_windows(kind: str, title: str, description: str) -> Panel:
    """A table of the latest forecast's windows of ``kind`` starting in the range, for the
    picked satellites (``forecast_windows``)."""
    station = "g.name AS station, " if kind == "contact" else ""
    join = "JOIN ground_stations g USING (station_id) " if kind == "contact" else ""
    columns = ("time", "sat_id", *(("station",) if kind == "contact" else ()), "minutes")
    return Panel(
        title,
        "table",
        f"SELECT w.starts_at AS time, w.sat_id, {station}"
        "extract(epoch FROM w.ends_at - w.starts_at) / 60 AS minutes "
        f"FROM forecast_windows w JOIN ({_latest_forecast('forecast_windows')}) latest "
        "USING (forecast_id) "
        f"JOIN s USING (sat_id) {join}"
        f"WHERE w.kind = '{kind}' AND $__timeFilter(w.starts_at) "
        "ORDER BY w.starts_at, w.sat_id LIMIT 500",
        columns,
        table=True,
        unit="m",
        field_units=(("sat_id", "none"),),
        links=(SATELLITE_LINK,),
        description=description,
    )


CONTACTS = Board(
    "twin-contacts",
    "Contacts and links",
    "Passes over each ground station, laser link availability, downlink volume, and the "
    "contacts and eclipses the latest forecast predicts.",
    (
        Panel(
            "Passes per station",
            "timeseries",
            "SELECT $__timeGroupAlias(e.time, $__interval), g.name AS metric, "
            "count(*) AS passes FROM events e JOIN ground_stations g USING (station_id) "
            f"WHERE e.kind = 'contact_aos' AND $__timeFilter(e.time) AND e.{SELECTED} "
            "GROUP BY 1, 2 ORDER BY 1",
            ("time", "metric", "passes"),
            unit="short",
            width=24,
            description="Acquisitions of signal: satellites rising above each station's mask.",
        ),
        Panel(
            "Laser links up",
            "timeseries",
            _series("avg(links) / 4 AS share_up", "avg(m.isl_up_avg) AS links"),
            ("time", "share_up"),
            unit="percentunit",
        ),
        Panel(
            "Downlink volume",
            "timeseries",
            # Per minute first (the fleet's sums), then over the interval: the backlog is the
            # mean of the minutes' totals without a DISTINCT over every row.
            "SELECT $__timeGroupAlias(bucket, $__interval), "
            "sum(downlink_mbps) * 60 / 8 AS downlink_mb, avg(backlog_mb) AS backlog_mb "
            "FROM (SELECT m.bucket, sum(m.downlink_mbps_avg) AS downlink_mbps, "
            "sum(m.backlog_mb_avg) AS backlog_mb FROM telemetry_1m m JOIN s USING (sat_id) "
            "WHERE $__timeFilter(m.bucket) GROUP BY m.bucket) per_minute GROUP BY 1 ORDER BY 1",
            ("time", "downlink_mb", "backlog_mb"),
            unit="decmbytes",
            right_axis=("backlog_mb",),
            description="Megabytes the granted downlinks could carry, and results waiting "
            "on board.",
        ),
        _next_windows(
            "contact",
            "Coming contacts (latest forecast)",
            "Passes the latest forecast (twin forecast make) predicts in the dashboard's "
            "range: set the range ahead of now to see what comes next.",
        ),
        _next_windows(
            "eclipse",
            "Coming eclipses (latest forecast)",
            "Eclipses the latest forecast predicts in the dashboard's range, with their length.",
        ),
    ),
    VARIABLES,
)

DATA_HEALTH = Board(
    "twin-data-health",
    "Anomalies and data health",
    "Open and past anomalies, data completeness, ingest lag and dead letters.",
    (
        Panel(
            "Open anomalies",
            "table",
            "SELECT anomaly_id, sat_id, rule, severity, opened_at, worst_value, "
            "CASE WHEN shelved THEN 'shelved until ' || to_char(shelved_until, "
            "'YYYY-MM-DD HH24:MI') WHEN acknowledged THEN 'acknowledged' ELSE 'new' END "
            "AS status, by_whom, reason FROM anomaly_status WHERE closed_at IS NULL "
            f"AND (sat_id IS NULL OR {SELECTED}) ORDER BY opened_at DESC",
            ("anomaly_id", "sat_id", "rule", "severity", "opened_at", "status", "by_whom"),
            unit="none",
            field_units=(("opened_at", "dateTimeAsIso"),),
            links=(SATELLITE_LINK,),
            table=True,
            width=24,
        ),
        Panel(
            "Anomalies opened",
            "timeseries",
            "SELECT $__timeGroupAlias(time, $__interval), count(*) AS opened FROM anomalies "
            f"WHERE state = 'open' AND $__timeFilter(time) AND (sat_id IS NULL OR {SELECTED}) "
            "GROUP BY 1 ORDER BY 1",
            ("time", "opened"),
            unit="short",
        ),
        Panel(
            "Data completeness",
            "timeseries",
            "SELECT $__timeGroupAlias(c.hour, '1h'), sum(c.received)::float8 / "
            "sum(c.expected) AS completeness FROM audit_completeness_hourly c "
            f"WHERE $__timeFilter(c.hour) AND c.{SELECTED} GROUP BY 1 ORDER BY 1",
            ("time", "completeness"),
            unit="percentunit",
        ),
        Panel(
            "Since ingest last stored a batch",
            "stat",
            "SELECT extract(epoch FROM now() - max(received_at)) AS ingest_idle_s "
            "FROM ingest_batches",
            ("ingest_idle_s",),
            table=True,
            unit="s",
        ),
        Panel(
            "Dead letters by reason",
            "table",
            "SELECT topic, left(reason, 120) AS reason, count(*) AS messages, "
            "max(received_at) AS last_at FROM dead_letters GROUP BY 1, 2 ORDER BY messages DESC",
            ("topic", "reason", "messages", "last_at"),
            unit="short",
            field_units=(("last_at", "dateTimeAsIso"),),
            table=True,
        ),
    ),
    VARIABLES,
)


WHATIF_VARIABLES = (
    Variable(
        "whatif",
        "What-if",
        "SELECT whatif_id FROM whatif_runs ORDER BY made_at DESC, whatif_id LIMIT 200",
        multi=False,
    ),
)
THE_WHATIF = "whatif_id = ${whatif:sqlstring}"

WHATIF = Board(
    "twin-whatif",
    "What-if",
    "A what-if fork (twin whatif) picked by name: the baseline and the branch side by side, "
    "the constraints only the branch breaks, the satellites whose batteries fall most and "
    "the added jobs' fates.",
    (
        Panel(
            "What-ifs",
            "table",
            "SELECT made_at, whatif_id, run_id, fork_at, horizon_s / 3600 AS horizon_h, "
            "satellites, CASE WHEN violates THEN 'breaks a constraint' ELSE 'keeps all' END "
            "AS verdict FROM whatif_runs ORDER BY made_at DESC LIMIT 50",
            ("made_at", "whatif_id", "run_id", "fork_at", "horizon_h", "satellites", "verdict"),
            unit="none",
            table=True,
            width=24,
            field_units=(
                ("made_at", "dateTimeAsIso"),
                ("fork_at", "dateTimeAsIso"),
                ("horizon_h", "h"),
            ),
            description="The newest what-ifs; pick one in the What-if variable.",
        ),
        Panel(
            "Baseline and branch",
            "table",
            "SELECT CASE WHEN w.branch THEN 'branch' ELSE 'baseline' END AS run, "
            "min(w.min_soc) AS min_soc, max(w.max_temp_payload_c) AS peak_payload_c, "
            "sum(w.jobs_completed) AS jobs_completed, sum(w.jobs_late) AS jobs_late, "
            "sum(w.jobs_failed) AS jobs_failed, sum(w.energy_wh) / 1000 AS energy_kwh, "
            "sum(w.tera_ops) / 1e3 AS peta_ops, max(CASE WHEN w.branch THEN "
            "r.branch_compute_energy_j ELSE r.baseline_compute_energy_j END) / 1e6 "
            "AS accelerator_mj FROM whatif_satellites w JOIN whatif_runs r USING (whatif_id) "
            f"WHERE w.{THE_WHATIF} GROUP BY w.branch ORDER BY w.branch",
            (
                "run",
                "min_soc",
                "peak_payload_c",
                "jobs_completed",
                "jobs_late",
                "energy_kwh",
                "peta_ops",
                "accelerator_mj",
            ),
            unit="none",
            table=True,
            width=24,
            field_units=(
                ("min_soc", "percentunit"),
                ("peak_payload_c", "celsius"),
                ("energy_kwh", "kwatth"),
                ("accelerator_mj", "none"),
            ),
            description="Fleet figures over the horizon: lowest state of charge, hottest "
            "payload, jobs, energy drawn, work delivered (peta-operations) and accelerator "
            "energy above idle (MJ).",
        ),
        Panel(
            "Constraints only the branch breaks",
            "table",
            "SELECT sat_id, constraint_name, first_at, worst FROM whatif_violations "
            f"WHERE {THE_WHATIF} AND only_in_branch ORDER BY first_at, sat_id LIMIT 500",
            ("sat_id", "constraint_name", "first_at", "worst"),
            unit="none",
            table=True,
            field_units=(("first_at", "dateTimeAsIso"),),
            links=(SATELLITE_LINK,),
            description="Red limits, the change's own constraints and added jobs that "
            "failed: what makes twin whatif exit 3.",
        ),
        Panel(
            "Lowest state of charge: largest falls",
            "table",
            "SELECT b.sat_id, a.min_soc AS baseline, b.min_soc AS branch, "
            "b.min_soc - a.min_soc AS change FROM whatif_satellites a JOIN whatif_satellites "
            f"b USING (whatif_id, sat_id) WHERE a.{THE_WHATIF} AND NOT a.branch AND b.branch "
            "ORDER BY b.min_soc - a.min_soc, b.sat_id LIMIT 20",
            ("sat_id", "baseline", "branch", "change"),
            unit="percentunit",
            table=True,
            field_units=(("sat_id", "none"),),
            links=(SATELLITE_LINK,),
        ),
        Panel(
            "Added jobs",
            "table",
            "SELECT job_id, step, sat_id, stepped_at, reason, energy_j / 1e6 AS energy_mj "
            f"FROM whatif_jobs WHERE {THE_WHATIF} ORDER BY job_id LIMIT 500",
            ("job_id", "step", "sat_id", "stepped_at", "reason", "energy_mj"),
            unit="none",
            table=True,
            width=24,
            field_units=(("stepped_at", "dateTimeAsIso"),),
            links=(SATELLITE_LINK,),
            description="Each job the change added: its last step by the horizon and the "
            "accelerator energy it took (MJ).",
        ),
    ),
    WHATIF_VARIABLES,
)


def _with_picked(board: Board) -> Board:
    """Start every query that joins the picked satellites ``s`` with their definition."""
    return replace(
        board,
        panels=tuple(
            replace(p, sql=_picked(p.sql)) if " JOIN s USING " in p.sql else p for p in board.panels
        ),
    )


BOARDS = tuple(
    _with_picked(b)
    for b in (FLEET, SATELLITE, COMPUTE, POWER_THERMAL, CONTACTS, DATA_HEALTH, WHATIF)
)

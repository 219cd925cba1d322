"""Rollups and audit views: the SQL that operations dashboards and auditors read.

The same view names and columns exist on both paths. On TimescaleDB, ``telemetry_1m``,
``fleet_1m`` and ``fleet_1h`` are continuous aggregates (hierarchical, real-time); on plain
PostgreSQL they are views over the raw table. ``twin_bucket(interval, time)`` is
``time_bucket`` on TimescaleDB and the equivalent ``date_bin`` (same origin) elsewhere.

These are today's definitions: a migration that changes a rollup or view copies its SQL from
here into a new frozen file (``ingest/store/migrations/``); migrations never import them.
"""

from __future__ import annotations

from psycopg import sql

# time_bucket's default origin for intervals under a month is Monday 2000-01-03.
BUCKET_FUNCTION = {
    True: [
        "CREATE OR REPLACE FUNCTION twin_bucket(width interval, ts timestamptz) "
        "RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
        "$$ SELECT time_bucket(width, ts) $$",
    ],
    False: [
        "CREATE OR REPLACE FUNCTION twin_bucket(width interval, ts timestamptz) "
        "RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
        "$$ SELECT date_bin(width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$",
    ],
}

_TELEMETRY_1M_COLUMNS = """
    sat_id,
    count(*) AS samples,
    count(sgp4_error) AS orbit_samples,
    avg(soc) AS soc_avg,
    min(soc) AS soc_min,
    avg(temp_payload_c) AS temp_payload_avg_c,
    max(temp_payload_c) AS temp_payload_max_c,
    max(temp_radiator_c) AS temp_radiator_max_c,
    avg(array_w) AS array_w_avg,
    avg(load_w) AS load_w_avg,
    avg(throughput_tops) AS throughput_tops_avg,
    sum(CASE WHEN safe_mode THEN 1 ELSE 0 END) AS safe_mode_samples,
    avg(CASE WHEN sunlit THEN 1.0 WHEN NOT sunlit THEN 0.0 END) AS sunlit_share,
    avg(utilisation) AS utilisation_avg,
    avg(queue_depth) AS queue_depth_avg,
    max(throttle_level) AS throttle_level_max,
    sum(upsets) AS upsets,
    avg(CASE WHEN in_contact THEN 1.0 WHEN NOT in_contact THEN 0.0 END) AS in_contact_share,
    avg(downlink_mbps) AS downlink_mbps_avg,
    avg(isl_up) AS isl_up_avg,
    avg(backlog_mb) AS backlog_mb_avg
"""
_FLEET_1M_COLUMNS = """
    count(*) AS satellites,
    sum(samples) AS samples,
    sum(throughput_tops_avg) AS throughput_tops,
    avg(soc_avg) AS soc_avg,
    min(soc_min) AS soc_min,
    max(temp_payload_max_c) AS temp_payload_max_c,
    sum(CASE WHEN safe_mode_samples > 0 THEN 1 ELSE 0 END) AS safe_mode_satellites,
    avg(sunlit_share) AS sunlit_share,
    sum(sunlit_share) AS sunlit_satellites,
    avg(utilisation_avg) AS utilisation_avg,
    sum(queue_depth_avg) AS jobs_queued,
    sum(upsets) AS upsets,
    sum(in_contact_share) AS in_contact_satellites,
    sum(downlink_mbps_avg) AS downlink_mbps,
    avg(isl_up_avg) AS isl_up_avg,
    sum(backlog_mb_avg) AS backlog_mb
"""
_FLEET_1H_COLUMNS = """
    max(satellites) AS satellites,
    sum(samples) AS samples,
    avg(throughput_tops) AS throughput_tops,
    avg(soc_avg) AS soc_avg,
    min(soc_min) AS soc_min,
    max(temp_payload_max_c) AS temp_payload_max_c,
    max(safe_mode_satellites) AS safe_mode_satellites,
    avg(sunlit_share) AS sunlit_share,
    avg(sunlit_satellites) AS sunlit_satellites,
    avg(utilisation_avg) AS utilisation_avg,
    avg(jobs_queued) AS jobs_queued,
    sum(upsets) AS upsets,
    avg(in_contact_satellites) AS in_contact_satellites,
    avg(downlink_mbps) AS downlink_mbps,
    avg(isl_up_avg) AS isl_up_avg,
    avg(backlog_mb) AS backlog_mb
"""
# A column only the current rollups have: its absence marks rollups made by an older version.
ROLLUP_MARKER = ("telemetry_1m", "in_contact_share")

# (name, source, time column, width, columns, grouping) of each rollup, finest first.
_ROLLUPS = (
    ("telemetry_1m", "telemetry", "time", "1 minute", _TELEMETRY_1M_COLUMNS, "1, sat_id"),
    ("fleet_1m", "telemetry_1m", "bucket", "1 minute", _FLEET_1M_COLUMNS, "1"),
    ("fleet_1h", "fleet_1m", "bucket", "1 hour", _FLEET_1H_COLUMNS, "1"),
)


def _rollup(template: str, name, source, time_col, width, columns, group) -> sql.Composed:
    """A rollup's DDL composed with psycopg.sql: names as identifiers, the width as a
    literal, the fixed column and grouping lists as SQL."""
    return sql.SQL(template).format(
        name=sql.Identifier(name),
        source=sql.Identifier(source),
        time_col=sql.Identifier(time_col),
        width=sql.Literal(width),
        columns=sql.SQL(columns),
        group=sql.SQL(group),
    )


CONTINUOUS_AGGREGATES: list[tuple[str, sql.Composed]] = [
    (
        r[0],
        _rollup(
            "CREATE MATERIALIZED VIEW {name} WITH (timescaledb.continuous, "
            "timescaledb.materialized_only = false) AS SELECT time_bucket({width}, {time_col}) "
            "AS bucket, {columns} FROM {source} GROUP BY {group} WITH NO DATA",
            *r,
        ),
    )
    for r in _ROLLUPS
]

PLAIN_ROLLUPS: list[sql.Composed] = [
    _rollup(
        "CREATE VIEW {name} AS SELECT twin_bucket({width}, {time_col}) AS bucket, {columns} "
        "FROM {source} GROUP BY {group}",
        *r,
    )
    for r in _ROLLUPS
]

# Daily partitions of the plain-PostgreSQL telemetry table, made on demand for the days (since
# 1970-01-01) a batch holds. SECURITY DEFINER runs it as the schema owner, so the ingest role
# may call it without CREATE rights; pg_temp last keeps a caller's temp tables out of it.
ENSURE_PARTITIONS_FUNCTION = """
CREATE OR REPLACE FUNCTION twin_ensure_partitions(unix_days bigint[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    day date;
    made integer := 0;
    name text;
BEGIN
    FOREACH day IN ARRAY ARRAY(SELECT DATE '1970-01-01' + d::integer FROM unnest(unix_days) d)
    LOOP
        name := format('telemetry_p%s', to_char(day, 'YYYYMMDD'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF telemetry FOR VALUES FROM (%L) TO (%L)',
                           name, day::timestamp AT TIME ZONE 'UTC',
                           (day + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$
"""

AUDIT_VIEWS = [
    # Share of each day a satellite was propagated, out of safe mode and computing.
    """CREATE OR REPLACE VIEW audit_satellite_availability_daily AS
    SELECT twin_bucket('1 day', bucket) AS day, sat_id,
           sum(samples) AS samples,
           1.0 - sum(safe_mode_samples)::float8 / nullif(sum(samples), 0) AS available_share,
           sum(orbit_samples) AS orbit_samples
    FROM telemetry_1m GROUP BY 1, sat_id""",
    # Energy per orbit, orbits counted at ascending node crossings (latitude turns positive).
    """CREATE OR REPLACE VIEW audit_energy_per_orbit AS
    WITH samples AS (
        SELECT sat_id, time, lat_deg, array_w, load_w, battery_w,
               lag(lat_deg) OVER w AS previous_lat_deg,
               extract(epoch FROM lead(time) OVER w - time) AS seconds
        FROM telemetry WHERE array_w IS NOT NULL AND lat_deg IS NOT NULL
        WINDOW w AS (PARTITION BY sat_id ORDER BY time)
    ), numbered AS (
        SELECT *, sum(CASE WHEN previous_lat_deg < 0 AND lat_deg >= 0 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY sat_id ORDER BY time) AS orbit
        FROM samples
    )
    SELECT sat_id, orbit, min(time) AS orbit_start, max(time) AS orbit_end,
           sum(array_w * seconds) / 3600 AS array_wh,
           sum(load_w * seconds) / 3600 AS load_wh,
           sum(battery_w * seconds) / 3600 AS battery_net_wh
    FROM numbered GROUP BY sat_id, orbit""",
    # Tera-operations delivered per satellite per day.
    """CREATE OR REPLACE VIEW audit_compute_daily AS
    SELECT twin_bucket('1 day', bucket) AS day, sat_id,
           sum(throughput_tops_avg * 60) AS tera_ops
    FROM telemetry_1m GROUP BY 1, sat_id""",
    # Each anomaly with when it opened and closed, and the worst score it last reported.
    """CREATE OR REPLACE VIEW audit_anomaly_history AS
    SELECT anomaly_id, sat_id, rule, max(severity) AS severity,
           min(time) FILTER (WHERE state = 'open') AS opened_at,
           max(time) FILTER (WHERE state = 'closed') AS closed_at,
           (array_agg(value ORDER BY time DESC) FILTER (WHERE state <> 'closed'))[1]
               AS worst_value
    FROM anomalies GROUP BY anomaly_id, sat_id, rule""",
    # Orbit samples expected (from the satellite's interval) against received, per hour:
    # expected over the part of the hour from the satellite's first sample to the fleet's
    # latest (a run starting or ending mid-hour is complete; a satellite that fell silent
    # while the others went on is not).
    """CREATE OR REPLACE VIEW audit_completeness_hourly AS
    WITH span AS (
        SELECT s.sat_id, s.telemetry_interval_s, f.time AS first_time, l.time AS last_time
        FROM satellites s
        CROSS JOIN LATERAL (SELECT t.time FROM telemetry t WHERE t.sat_id = s.sat_id
                            ORDER BY t.time LIMIT 1) f
        CROSS JOIN LATERAL (SELECT t.time FROM telemetry t WHERE t.sat_id = s.sat_id
                            ORDER BY t.time DESC LIMIT 1) l
    ), fleet AS (SELECT max(last_time) AS last_time FROM span),
    hourly AS (
        SELECT twin_bucket('1 hour', m.bucket) AS hour, m.sat_id,
               sum(m.orbit_samples) AS received
        FROM telemetry_1m m GROUP BY 1, m.sat_id
    ), expected AS (
        SELECT h.hour, h.sat_id, h.received,
               extract(epoch FROM
                   least(h.hour + interval '1 hour',
                         f.last_time + sp.telemetry_interval_s * interval '1 second')
                   - greatest(h.hour, sp.first_time)) / sp.telemetry_interval_s AS expected
        FROM hourly h JOIN span sp USING (sat_id) CROSS JOIN fleet f
    )
    SELECT hour, sat_id, expected::float8 AS expected, received,
           (received / nullif(expected, 0))::float8 AS completeness
    FROM expected""",
    # Where a stored row came from: the batch, the topic partition and the record's offset.
    """CREATE OR REPLACE VIEW audit_row_lineage AS
    SELECT t.sat_id, t.time, t.kafka_offset, b.topic, b.partition, b.batch_id,
           b.consumer_group, b.received_at, b.first_offset, b.last_offset
    FROM telemetry t JOIN ingest_batches b USING (batch_id)""",
]

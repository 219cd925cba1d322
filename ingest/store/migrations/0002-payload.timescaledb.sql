-- Version 2: compute, contact and link channels and rollups; contact station on events; job step details.
-- Frozen: never edited once released; a change to the schema is a new version.
-- The TimescaleDB path.
-- Brings a store made by the first version 1 (before these existed) up to date and changes
-- nothing on a store whose version 1 already made them: every step is conditional.

ALTER TABLE telemetry
    ADD COLUMN IF NOT EXISTS throttle_level smallint,
    ADD COLUMN IF NOT EXISTS queue_depth smallint,
    ADD COLUMN IF NOT EXISTS upsets smallint,
    ADD COLUMN IF NOT EXISTS job_latency_s double precision,
    ADD COLUMN IF NOT EXISTS job_energy_j double precision,
    ADD COLUMN IF NOT EXISTS in_contact boolean,
    ADD COLUMN IF NOT EXISTS station_id smallint,
    ADD COLUMN IF NOT EXISTS downlink_mbps double precision,
    ADD COLUMN IF NOT EXISTS isl_up smallint,
    ADD COLUMN IF NOT EXISTS hops_to_ground smallint,
    ADD COLUMN IF NOT EXISTS backlog_mb double precision;

ALTER TABLE events ADD COLUMN IF NOT EXISTS station_id integer NOT NULL DEFAULT 0;

DO $events_key$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.key_column_usage
        WHERE table_name = 'events' AND constraint_name = 'events_pkey'
          AND column_name = 'station_id'
    ) THEN
        ALTER TABLE events DROP CONSTRAINT events_pkey;
        ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (sat_id, time, kind, station_id);
    END IF;
END
$events_key$;

-- Version 1 keyed stations by text and wrote none; ids are the integers telemetry carries.
ALTER TABLE ground_stations ALTER COLUMN station_id TYPE integer USING station_id::integer;

ALTER TABLE ground_stations
    ADD COLUMN IF NOT EXISTS downlink_mbps float8,
    ADD COLUMN IF NOT EXISTS antennas integer;

ALTER TABLE job_events
    ADD COLUMN IF NOT EXISTS kind text,
    ADD COLUMN IF NOT EXISTS latency_s float8,
    ADD COLUMN IF NOT EXISTS energy_j float8,
    ADD COLUMN IF NOT EXISTS batch_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS kafka_offset bigint NOT NULL DEFAULT 0;

ALTER TABLE job_events ALTER COLUMN batch_id DROP DEFAULT, ALTER COLUMN kafka_offset DROP DEFAULT;

-- Rollups made before the payload channels lack them (marker: telemetry_1m.in_contact_share):
-- made again WITH NO DATA; being real-time they answer from raw telemetry until their policies
-- have materialised the recent past (older history: refresh_continuous_aggregate, outside a
-- transaction).
DO $rollups$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_name = 'telemetry_1m' AND column_name = 'in_contact_share'
    ) THEN
        DROP MATERIALIZED VIEW IF EXISTS fleet_1h CASCADE;
        DROP MATERIALIZED VIEW IF EXISTS fleet_1m CASCADE;
        DROP MATERIALIZED VIEW IF EXISTS telemetry_1m CASCADE;
        EXECUTE $q$CREATE MATERIALIZED VIEW "telemetry_1m" WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS SELECT time_bucket('1 minute', "time") AS bucket,
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
 FROM "telemetry" GROUP BY 1, sat_id WITH NO DATA$q$;
        PERFORM add_continuous_aggregate_policy(CAST('telemetry_1m' AS regclass), start_offset => CAST({{cagg_lookback}} AS interval), end_offset => INTERVAL '1 minute', schedule_interval => CAST({{cagg_refresh_every}} AS interval));
        EXECUTE $q$CREATE MATERIALIZED VIEW "fleet_1m" WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS SELECT time_bucket('1 minute', "bucket") AS bucket,
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
 FROM "telemetry_1m" GROUP BY 1 WITH NO DATA$q$;
        PERFORM add_continuous_aggregate_policy(CAST('fleet_1m' AS regclass), start_offset => CAST({{cagg_lookback}} AS interval), end_offset => INTERVAL '1 minute', schedule_interval => CAST({{cagg_refresh_every}} AS interval));
        EXECUTE $q$CREATE MATERIALIZED VIEW "fleet_1h" WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS SELECT time_bucket('1 hour', "bucket") AS bucket,
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
 FROM "fleet_1m" GROUP BY 1 WITH NO DATA$q$;
        PERFORM add_continuous_aggregate_policy(CAST('fleet_1h' AS regclass), start_offset => CAST('7 days' AS interval), end_offset => INTERVAL '1 minute', schedule_interval => CAST({{cagg_refresh_every}} AS interval));
        EXECUTE $q$CREATE OR REPLACE VIEW audit_satellite_availability_daily AS
    SELECT twin_bucket('1 day', bucket) AS day, sat_id,
           sum(samples) AS samples,
           1.0 - sum(safe_mode_samples)::float8 / nullif(sum(samples), 0) AS available_share,
           sum(orbit_samples) AS orbit_samples
    FROM telemetry_1m GROUP BY 1, sat_id$q$;
        EXECUTE $q$CREATE OR REPLACE VIEW audit_energy_per_orbit AS
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
    FROM numbered GROUP BY sat_id, orbit$q$;
        EXECUTE $q$CREATE OR REPLACE VIEW audit_compute_daily AS
    SELECT twin_bucket('1 day', bucket) AS day, sat_id,
           sum(throughput_tops_avg * 60) AS tera_ops
    FROM telemetry_1m GROUP BY 1, sat_id$q$;
        EXECUTE $q$CREATE OR REPLACE VIEW audit_anomaly_history AS
    SELECT anomaly_id, sat_id, rule, max(severity) AS severity,
           min(time) FILTER (WHERE state = 'open') AS opened_at,
           max(time) FILTER (WHERE state = 'closed') AS closed_at,
           (array_agg(value ORDER BY time DESC) FILTER (WHERE state <> 'closed'))[1]
               AS worst_value
    FROM anomalies GROUP BY anomaly_id, sat_id, rule$q$;
        EXECUTE $q$CREATE OR REPLACE VIEW audit_completeness_hourly AS
    SELECT twin_bucket('1 hour', m.bucket) AS hour, m.sat_id,
           3600 / s.telemetry_interval_s AS expected,
           sum(m.orbit_samples) AS received,
           sum(m.orbit_samples) / (3600 / s.telemetry_interval_s) AS completeness
    FROM telemetry_1m m JOIN satellites s USING (sat_id)
    GROUP BY 1, m.sat_id, s.telemetry_interval_s$q$;
        EXECUTE $q$CREATE OR REPLACE VIEW audit_row_lineage AS
    SELECT t.sat_id, t.time, t.kafka_offset, b.topic, b.partition, b.batch_id,
           b.consumer_group, b.received_at, b.first_offset, b.last_offset
    FROM telemetry t JOIN ingest_batches b USING (batch_id)$q$;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO twin_reader;
        GRANT SELECT ON telemetry_1m, fleet_1m, fleet_1h TO twin_ingest;
    END IF;
END
$rollups$;

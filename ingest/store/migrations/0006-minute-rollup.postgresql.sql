-- Version 6: the plain path's per-minute rollup is a table ingest keeps, not a view over raw rows.
-- Frozen: never edited once released; a change to the schema is a new version.
-- The plain PostgreSQL path (TimescaleDB keeps its continuous aggregate: nothing to do there).
-- telemetry_1m keeps its columns and types; fleet_1m, fleet_1h and the audit views over it are
-- unchanged. The backfill reads every stored row once.

CREATE TABLE telemetry_1m_sums (
    bucket timestamptz NOT NULL,
    sat_id integer NOT NULL,
    samples bigint NOT NULL,
    orbit_samples bigint NOT NULL,
    soc_avg_sum double precision NOT NULL,
    soc_avg_n bigint NOT NULL,
    soc_min double precision,
    temp_payload_avg_c_sum double precision NOT NULL,
    temp_payload_avg_c_n bigint NOT NULL,
    temp_payload_max_c double precision,
    temp_radiator_max_c double precision,
    array_w_avg_sum double precision NOT NULL,
    array_w_avg_n bigint NOT NULL,
    load_w_avg_sum double precision NOT NULL,
    load_w_avg_n bigint NOT NULL,
    throughput_tops_avg_sum double precision NOT NULL,
    throughput_tops_avg_n bigint NOT NULL,
    safe_mode_samples_sum bigint NOT NULL,
    safe_mode_samples_n bigint NOT NULL,
    sunlit_share_sum bigint NOT NULL,
    sunlit_share_n bigint NOT NULL,
    utilisation_avg_sum double precision NOT NULL,
    utilisation_avg_n bigint NOT NULL,
    queue_depth_avg_sum bigint NOT NULL,
    queue_depth_avg_n bigint NOT NULL,
    throttle_level_max smallint,
    upsets_sum bigint NOT NULL,
    upsets_n bigint NOT NULL,
    in_contact_share_sum bigint NOT NULL,
    in_contact_share_n bigint NOT NULL,
    downlink_mbps_avg_sum double precision NOT NULL,
    downlink_mbps_avg_n bigint NOT NULL,
    isl_up_avg_sum bigint NOT NULL,
    isl_up_avg_n bigint NOT NULL,
    backlog_mb_avg_sum double precision NOT NULL,
    backlog_mb_avg_n bigint NOT NULL,
    PRIMARY KEY (bucket, sat_id)
);

COMMENT ON TABLE telemetry_1m_sums IS 'Per minute and satellite: sample counts, sums and counts of averaged channels, extremes; kept by ingest in the transaction that stores the rows (read through the view telemetry_1m)';

INSERT INTO telemetry_1m_sums AS r (bucket, sat_id, samples, orbit_samples, soc_avg_sum, soc_avg_n, soc_min, temp_payload_avg_c_sum, temp_payload_avg_c_n, temp_payload_max_c, temp_radiator_max_c, array_w_avg_sum, array_w_avg_n, load_w_avg_sum, load_w_avg_n, throughput_tops_avg_sum, throughput_tops_avg_n, safe_mode_samples_sum, safe_mode_samples_n, sunlit_share_sum, sunlit_share_n, utilisation_avg_sum, utilisation_avg_n, queue_depth_avg_sum, queue_depth_avg_n, throttle_level_max, upsets_sum, upsets_n, in_contact_share_sum, in_contact_share_n, downlink_mbps_avg_sum, downlink_mbps_avg_n, isl_up_avg_sum, isl_up_avg_n, backlog_mb_avg_sum, backlog_mb_avg_n)
SELECT twin_bucket('1 minute', time), sat_id, count(*), count(sgp4_error), coalesce(sum(soc), 0), count(soc), min(soc), coalesce(sum(temp_payload_c), 0), count(temp_payload_c), max(temp_payload_c), max(temp_radiator_c), coalesce(sum(array_w), 0), count(array_w), coalesce(sum(load_w), 0), count(load_w), coalesce(sum(throughput_tops), 0), count(throughput_tops), coalesce(sum(CASE WHEN safe_mode THEN 1 ELSE 0 END), 0), count(CASE WHEN safe_mode THEN 1 ELSE 0 END), coalesce(sum(CASE WHEN sunlit THEN 1 WHEN NOT sunlit THEN 0 END), 0), count(CASE WHEN sunlit THEN 1 WHEN NOT sunlit THEN 0 END), coalesce(sum(utilisation), 0), count(utilisation), coalesce(sum(queue_depth), 0), count(queue_depth), max(throttle_level), coalesce(sum(upsets), 0), count(upsets), coalesce(sum(CASE WHEN in_contact THEN 1 WHEN NOT in_contact THEN 0 END), 0), count(CASE WHEN in_contact THEN 1 WHEN NOT in_contact THEN 0 END), coalesce(sum(downlink_mbps), 0), count(downlink_mbps), coalesce(sum(isl_up), 0), count(isl_up), coalesce(sum(backlog_mb), 0), count(backlog_mb)
FROM telemetry
GROUP BY 1, 2
ON CONFLICT (bucket, sat_id) DO UPDATE SET samples = r.samples + EXCLUDED.samples, orbit_samples = r.orbit_samples + EXCLUDED.orbit_samples, soc_avg_sum = r.soc_avg_sum + EXCLUDED.soc_avg_sum, soc_avg_n = r.soc_avg_n + EXCLUDED.soc_avg_n, soc_min = LEAST(r.soc_min, EXCLUDED.soc_min), temp_payload_avg_c_sum = r.temp_payload_avg_c_sum + EXCLUDED.temp_payload_avg_c_sum, temp_payload_avg_c_n = r.temp_payload_avg_c_n + EXCLUDED.temp_payload_avg_c_n, temp_payload_max_c = GREATEST(r.temp_payload_max_c, EXCLUDED.temp_payload_max_c), temp_radiator_max_c = GREATEST(r.temp_radiator_max_c, EXCLUDED.temp_radiator_max_c), array_w_avg_sum = r.array_w_avg_sum + EXCLUDED.array_w_avg_sum, array_w_avg_n = r.array_w_avg_n + EXCLUDED.array_w_avg_n, load_w_avg_sum = r.load_w_avg_sum + EXCLUDED.load_w_avg_sum, load_w_avg_n = r.load_w_avg_n + EXCLUDED.load_w_avg_n, throughput_tops_avg_sum = r.throughput_tops_avg_sum + EXCLUDED.throughput_tops_avg_sum, throughput_tops_avg_n = r.throughput_tops_avg_n + EXCLUDED.throughput_tops_avg_n, safe_mode_samples_sum = r.safe_mode_samples_sum + EXCLUDED.safe_mode_samples_sum, safe_mode_samples_n = r.safe_mode_samples_n + EXCLUDED.safe_mode_samples_n, sunlit_share_sum = r.sunlit_share_sum + EXCLUDED.sunlit_share_sum, sunlit_share_n = r.sunlit_share_n + EXCLUDED.sunlit_share_n, utilisation_avg_sum = r.utilisation_avg_sum + EXCLUDED.utilisation_avg_sum, utilisation_avg_n = r.utilisation_avg_n + EXCLUDED.utilisation_avg_n, queue_depth_avg_sum = r.queue_depth_avg_sum + EXCLUDED.queue_depth_avg_sum, queue_depth_avg_n = r.queue_depth_avg_n + EXCLUDED.queue_depth_avg_n, throttle_level_max = GREATEST(r.throttle_level_max, EXCLUDED.throttle_level_max), upsets_sum = r.upsets_sum + EXCLUDED.upsets_sum, upsets_n = r.upsets_n + EXCLUDED.upsets_n, in_contact_share_sum = r.in_contact_share_sum + EXCLUDED.in_contact_share_sum, in_contact_share_n = r.in_contact_share_n + EXCLUDED.in_contact_share_n, downlink_mbps_avg_sum = r.downlink_mbps_avg_sum + EXCLUDED.downlink_mbps_avg_sum, downlink_mbps_avg_n = r.downlink_mbps_avg_n + EXCLUDED.downlink_mbps_avg_n, isl_up_avg_sum = r.isl_up_avg_sum + EXCLUDED.isl_up_avg_sum, isl_up_avg_n = r.isl_up_avg_n + EXCLUDED.isl_up_avg_n, backlog_mb_avg_sum = r.backlog_mb_avg_sum + EXCLUDED.backlog_mb_avg_sum, backlog_mb_avg_n = r.backlog_mb_avg_n + EXCLUDED.backlog_mb_avg_n;

CREATE OR REPLACE VIEW telemetry_1m AS
    SELECT bucket, sat_id,
        samples AS samples,
        orbit_samples AS orbit_samples,
        soc_avg_sum / nullif(soc_avg_n, 0) AS soc_avg,
        soc_min AS soc_min,
        temp_payload_avg_c_sum / nullif(temp_payload_avg_c_n, 0) AS temp_payload_avg_c,
        temp_payload_max_c AS temp_payload_max_c,
        temp_radiator_max_c AS temp_radiator_max_c,
        array_w_avg_sum / nullif(array_w_avg_n, 0) AS array_w_avg,
        load_w_avg_sum / nullif(load_w_avg_n, 0) AS load_w_avg,
        throughput_tops_avg_sum / nullif(throughput_tops_avg_n, 0) AS throughput_tops_avg,
        CASE WHEN safe_mode_samples_n > 0 THEN safe_mode_samples_sum END AS safe_mode_samples,
        sunlit_share_sum::numeric / nullif(sunlit_share_n, 0) AS sunlit_share,
        utilisation_avg_sum / nullif(utilisation_avg_n, 0) AS utilisation_avg,
        queue_depth_avg_sum::numeric / nullif(queue_depth_avg_n, 0) AS queue_depth_avg,
        throttle_level_max AS throttle_level_max,
        CASE WHEN upsets_n > 0 THEN upsets_sum END AS upsets,
        in_contact_share_sum::numeric / nullif(in_contact_share_n, 0) AS in_contact_share,
        downlink_mbps_avg_sum / nullif(downlink_mbps_avg_n, 0) AS downlink_mbps_avg,
        isl_up_avg_sum::numeric / nullif(isl_up_avg_n, 0) AS isl_up_avg,
        backlog_mb_avg_sum / nullif(backlog_mb_avg_n, 0) AS backlog_mb_avg
    FROM telemetry_1m_sums;

GRANT SELECT, INSERT, UPDATE ON telemetry_1m_sums TO twin_ingest;

GRANT SELECT ON telemetry_1m_sums TO twin_reader;

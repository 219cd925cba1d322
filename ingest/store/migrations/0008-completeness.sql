-- Version 8: completeness counts only the part of an hour from a satellite's first sample to the fleet's latest.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE OR REPLACE VIEW audit_completeness_hourly AS
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
    FROM expected;

-- Version 7: each satellite's yellow and red limits per channel, and its latest values against them.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE channel_limits (
    sat_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    unit TEXT NOT NULL,
    red_low DOUBLE PRECISION,
    yellow_low DOUBLE PRECISION,
    yellow_high DOUBLE PRECISION,
    red_high DOUBLE PRECISION,
    CONSTRAINT channel_limits_pkey PRIMARY KEY (sat_id, channel)
);

COMMENT ON TABLE channel_limits IS 'Yellow and red limits of each satellite''s channels, from the telemetry dictionary and its hardware (twin db fleet)';

COMMENT ON COLUMN channel_limits.unit IS 'the channel''s unit (UCUM; 1 for a fraction or count, empty for a flag or code)';

COMMENT ON COLUMN channel_limits.red_low IS 'below it the value is red (critical); NULL: no such limit';

COMMENT ON COLUMN channel_limits.yellow_low IS 'below it the value is yellow (warning)';

COMMENT ON COLUMN channel_limits.yellow_high IS 'above it the value is yellow (warning)';

COMMENT ON COLUMN channel_limits.red_high IS 'above it the value is red (critical); 0.5 on a flag: red when set';

-- The latest sample of each satellite, one row per limited channel: its value (a flag as
-- 0 or 1), its limits and its state, 0 green, 1 yellow, 2 red, NULL when that sample does
-- not carry the channel.
CREATE VIEW satellite_limit_states AS
SELECT l.sat_id, latest.time, l.channel, l.unit, v.value,
       l.red_low, l.yellow_low, l.yellow_high, l.red_high,
       CASE
           WHEN v.value IS NULL THEN NULL
           WHEN v.value < l.red_low OR v.value > l.red_high THEN 2
           WHEN v.value < l.yellow_low OR v.value > l.yellow_high THEN 1
           ELSE 0
       END AS state
FROM satellites s
CROSS JOIN LATERAL (
    SELECT t.time, to_jsonb(t) AS sample FROM telemetry t
    WHERE t.sat_id = s.sat_id ORDER BY t.time DESC LIMIT 1
) latest
JOIN channel_limits l ON l.sat_id = s.sat_id
CROSS JOIN LATERAL (
    SELECT CASE jsonb_typeof(latest.sample -> l.channel)
               WHEN 'boolean' THEN (latest.sample ->> l.channel)::boolean::int::float8
               WHEN 'number' THEN (latest.sample ->> l.channel)::float8
           END AS value
) v;

COMMENT ON VIEW satellite_limit_states IS 'Each satellite''s latest sample against its channel limits: state 0 green, 1 yellow, 2 red';

GRANT SELECT ON channel_limits, satellite_limit_states TO "twin_reader";

GRANT SELECT ON channel_limits TO "twin_ingest";

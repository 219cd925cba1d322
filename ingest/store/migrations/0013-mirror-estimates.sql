-- Version 13: the mirror's estimates of each satellite's parameters, kept whole so their convergence can be audited.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE mirror_estimates (
    estimated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    sat_id INTEGER NOT NULL,
    parameter TEXT NOT NULL,
    multiplier DOUBLE PRECISION NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    stderr DOUBLE PRECISION NOT NULL,
    samples INTEGER NOT NULL,
    data_from TIMESTAMP WITH TIME ZONE NOT NULL,
    data_until TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT mirror_estimates_pkey PRIMARY KEY (sat_id, parameter, estimated_at)
);

COMMENT ON TABLE mirror_estimates IS 'The mirror''s estimates of each satellite''s parameters from its observed telemetry (twin mirror estimate), every one kept';

COMMENT ON COLUMN mirror_estimates.multiplier IS 'the estimate over the preset''s value';

COMMENT ON COLUMN mirror_estimates.stderr IS 'standard error of the multiplier';

COMMENT ON COLUMN mirror_estimates.data_from IS 'the first observed sample it rests on';

CREATE VIEW latest_mirror_estimates AS
SELECT DISTINCT ON (sat_id, parameter) sat_id, parameter, multiplier, value, stderr, samples,
       data_from, data_until, estimated_at
FROM mirror_estimates
ORDER BY sat_id, parameter, estimated_at DESC;

COMMENT ON VIEW latest_mirror_estimates IS 'Each satellite''s latest estimate of each parameter';

GRANT SELECT ON mirror_estimates, latest_mirror_estimates TO "twin_reader";

GRANT SELECT ON mirror_estimates, latest_mirror_estimates TO "twin_ingest";

GRANT INSERT ON mirror_estimates TO "twin_ingest";

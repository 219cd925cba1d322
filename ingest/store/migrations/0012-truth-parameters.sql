-- Version 12: the reality emulator's hidden truth (each satellite's parameters), readable by the owner alone.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE truth_parameters (
    run_id TEXT NOT NULL,
    sat_id INTEGER NOT NULL,
    parameter TEXT NOT NULL,
    multiplier DOUBLE PRECISION NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    CONSTRAINT truth_parameters_pkey PRIMARY KEY (run_id, sat_id, parameter)
);

COMMENT ON TABLE truth_parameters IS 'Hidden truth of twin emulate runs: each satellite''s parameter against its preset; no role but the owner may read it (scores do, the mirror never)';

COMMENT ON COLUMN truth_parameters.multiplier IS 'the truth over the preset''s value';

COMMENT ON COLUMN truth_parameters.value IS 'the truth, in the parameter''s unit';

REVOKE ALL ON truth_parameters FROM "twin_ingest", "twin_reader";

-- Version 14: the reality emulator's truth orbits (each satellite's element set before any fit error), readable by the owner alone.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE truth_elements (
    run_id TEXT NOT NULL,
    sat_id INTEGER NOT NULL,
    omm JSONB NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    CONSTRAINT truth_elements_pkey PRIMARY KEY (run_id, sat_id)
);

COMMENT ON TABLE truth_elements IS 'Truth orbits of twin emulate runs: the element set each satellite flies, whose published sets carry a fit error; no role but the owner may read it (scores do, the mirror never)';

COMMENT ON COLUMN truth_elements.omm IS 'the truth orbit as CCSDS OMM keys (SGP4 mean elements)';

REVOKE ALL ON truth_elements FROM "twin_ingest", "twin_reader";

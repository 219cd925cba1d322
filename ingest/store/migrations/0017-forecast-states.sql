-- Version 17: state forecasts per satellite and orbit (state of charge, payload temperature, work), every forecast kept.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE forecast_states (
    forecast_id TEXT NOT NULL,
    sat_id INTEGER NOT NULL,
    orbit INTEGER NOT NULL,
    starts_at TIMESTAMP WITH TIME ZONE NOT NULL,
    ends_at TIMESTAMP WITH TIME ZONE NOT NULL,
    min_soc DOUBLE PRECISION,
    min_soc_at TIMESTAMP WITH TIME ZONE,
    max_temp_payload_c DOUBLE PRECISION,
    tera_ops DOUBLE PRECISION NOT NULL,
    available_tera_ops DOUBLE PRECISION NOT NULL,
    CONSTRAINT forecast_states_pkey PRIMARY KEY (forecast_id, sat_id, orbit)
);

CREATE INDEX forecast_states_by_min_soc_at ON forecast_states (min_soc_at);

COMMENT ON TABLE forecast_states IS 'What a state forecast (twin forecast states) predicts for each satellite and orbit';

COMMENT ON COLUMN forecast_states.orbit IS 'k: the k-th period of the satellite''s mean motion after the forecast''s start (the last one cut by its end)';

COMMENT ON COLUMN forecast_states.min_soc IS 'the lowest state of charge in the orbit (NULL: no position, nothing flown)';

COMMENT ON COLUMN forecast_states.tera_ops IS 'work delivered in the orbit';

COMMENT ON COLUMN forecast_states.available_tera_ops IS 'work the accelerator could deliver in the orbit: its peak at the clock of the throttle state run, none in safe mode';

GRANT SELECT ON forecast_states TO "twin_reader";

GRANT SELECT, INSERT ON forecast_states TO "twin_ingest";

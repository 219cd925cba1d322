-- Version 15: forecasts of eclipse and contact windows, every forecast kept so its accuracy can be audited against what happened.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE forecast_runs (
    forecast_id TEXT NOT NULL,
    made_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    starts_at TIMESTAMP WITH TIME ZONE NOT NULL,
    ends_at TIMESTAMP WITH TIME ZONE NOT NULL,
    step_s DOUBLE PRECISION NOT NULL,
    satellites INTEGER NOT NULL,
    element_sets INTEGER NOT NULL,
    newest_epoch TIMESTAMP WITH TIME ZONE,
    CONSTRAINT forecast_runs_pkey PRIMARY KEY (forecast_id)
);

COMMENT ON TABLE forecast_runs IS 'One row per twin forecast: its span, grid, and the element sets it flew';

COMMENT ON COLUMN forecast_runs.step_s IS 'the grid the crossings were found on (each refined between grid times)';

COMMENT ON COLUMN forecast_runs.element_sets IS 'satellites flown from an element set received on twin.elements (the rest from the preset)';

CREATE TABLE forecast_windows (
    forecast_id TEXT NOT NULL,
    sat_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    station_id INTEGER NOT NULL,
    starts_at TIMESTAMP WITH TIME ZONE NOT NULL,
    ends_at TIMESTAMP WITH TIME ZONE NOT NULL,
    open_start BOOLEAN NOT NULL,
    open_end BOOLEAN NOT NULL,
    CONSTRAINT forecast_windows_pkey PRIMARY KEY (forecast_id, kind, sat_id, station_id, starts_at),
    CONSTRAINT forecast_windows_kind CHECK (kind IN ('eclipse', 'contact'))
);

CREATE INDEX forecast_windows_by_start ON forecast_windows (starts_at);

COMMENT ON TABLE forecast_windows IS 'Eclipse and contact windows a forecast predicts: one row per satellite, window (and station for a contact)';

COMMENT ON COLUMN forecast_windows.station_id IS 'the ground station of a contact; 0 for an eclipse';

COMMENT ON COLUMN forecast_windows.open_start IS 'the window was already open at the forecast''s start (starts_at is that start)';

COMMENT ON COLUMN forecast_windows.open_end IS 'the window is still open at the forecast''s end (ends_at is that end)';

GRANT SELECT ON forecast_runs, forecast_windows TO "twin_reader";

GRANT SELECT, INSERT ON forecast_runs, forecast_windows TO "twin_ingest";

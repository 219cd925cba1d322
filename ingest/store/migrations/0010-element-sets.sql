-- Version 10: the element sets of the real fleet as received on twin.elements, and each satellite's newest with its age.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE element_sets (
    norad_cat_id INTEGER NOT NULL,
    epoch TIMESTAMP WITH TIME ZONE NOT NULL,
    object_name TEXT NOT NULL,
    object_id TEXT NOT NULL,
    mean_motion_rev_day DOUBLE PRECISION NOT NULL,
    eccentricity DOUBLE PRECISION NOT NULL,
    inclination_deg DOUBLE PRECISION NOT NULL,
    ra_of_asc_node_deg DOUBLE PRECISION NOT NULL,
    arg_of_pericenter_deg DOUBLE PRECISION NOT NULL,
    mean_anomaly_deg DOUBLE PRECISION NOT NULL,
    bstar DOUBLE PRECISION NOT NULL,
    omm JSONB NOT NULL,
    tle_line1 TEXT,
    tle_line2 TEXT,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    batch_id BIGINT NOT NULL,
    kafka_offset BIGINT NOT NULL,
    CONSTRAINT element_sets_pkey PRIMARY KEY (norad_cat_id, epoch)
);

COMMENT ON TABLE element_sets IS 'Element sets of the real fleet as received on twin.elements, one per satellite and epoch (a repeat is dropped)';

COMMENT ON COLUMN element_sets.omm IS 'the set as CCSDS OMM keys (CelesTrak GP JSON), a TLE converted by sgp4';

COMMENT ON COLUMN element_sets.tle_line1 IS 'the TLE''s first line when the set came as a TLE';

COMMENT ON COLUMN element_sets.batch_id IS 'lineage: the ingest batch that stored it (ingest_batches)';

-- Each satellite's newest element set and how old its epoch is now.
CREATE VIEW latest_element_sets AS
SELECT DISTINCT ON (norad_cat_id)
       norad_cat_id, epoch, object_name, object_id, mean_motion_rev_day, eccentricity,
       inclination_deg, ra_of_asc_node_deg, arg_of_pericenter_deg, mean_anomaly_deg, bstar,
       received_at, extract(epoch FROM now() - epoch) / 86400.0 AS age_days
FROM element_sets
ORDER BY norad_cat_id, epoch DESC;

COMMENT ON VIEW latest_element_sets IS 'Each satellite''s newest element set and the age of its epoch, days';

GRANT SELECT ON element_sets, latest_element_sets TO "twin_reader";

GRANT SELECT, INSERT ON element_sets TO "twin_ingest";

-- Version 11: housekeeping telemetry of the real fleet as received on twin.observed, one row per satellite and sample time.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE observed (
    time TIMESTAMP WITH TIME ZONE NOT NULL,
    sat_id INTEGER NOT NULL,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    seq BIGINT NOT NULL,
    battery_v DOUBLE PRECISION,
    battery_a DOUBLE PRECISION,
    array_w DOUBLE PRECISION,
    temp_payload_c DOUBLE PRECISION,
    temp_radiator_c DOUBLE PRECISION,
    safe_mode BOOLEAN,
    utilisation DOUBLE PRECISION,
    throughput_tops DOUBLE PRECISION,
    upsets SMALLINT,
    batch_id BIGINT NOT NULL,
    kafka_offset BIGINT NOT NULL,
    CONSTRAINT observed_pkey PRIMARY KEY (sat_id, time)
);

COMMENT ON TABLE observed IS 'Housekeeping telemetry of the real fleet as received on twin.observed: one row per satellite and sample time (a repeat is dropped), NULL where not sampled';

COMMENT ON COLUMN observed.received_at IS 'when the ground received the packet: received_at - time is the sample''s lateness';

COMMENT ON COLUMN observed.seq IS 'the packet''s sequence count on the satellite''s link';

COMMENT ON COLUMN observed.battery_a IS 'battery current, A, positive when charging';


GRANT SELECT ON observed TO "twin_reader";

GRANT SELECT, INSERT ON observed TO "twin_ingest";

-- Samples arrive late (recorder dumps at the next contact, hours after): chunks are
-- compressed only well after the feed's 7-day retention, so a late sample always lands in
-- an uncompressed chunk.
SELECT create_hypertable(CAST('observed' AS regclass), by_range('time', CAST({{events_chunk}} AS interval)), migrate_data => true);

ALTER TABLE observed SET (timescaledb.compress, timescaledb.compress_segmentby = 'sat_id', timescaledb.compress_orderby = 'time DESC');

SELECT add_compression_policy('observed', GREATEST(CAST({{compress_after}} AS interval), interval '8 days'));

SELECT add_retention_policy('observed', CAST({{retain_telemetry}} AS interval));

-- Version 4: ingest acts as twin_ingest: owner membership, rollups for fleet rules.
-- Frozen: never edited once released; a change to the schema is a new version.

GRANT "twin_ingest" TO CURRENT_USER;

GRANT SELECT ON telemetry_1m, fleet_1m, fleet_1h TO "twin_ingest";

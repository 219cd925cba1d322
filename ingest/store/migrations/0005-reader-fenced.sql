-- Version 5: the reader reads neither fault truth, scores nor rule state; reader statement timeout.
-- Frozen: never edited once released; a change to the schema is a new version.

REVOKE ALL ON fault_truth, score_runs, rule_state FROM "twin_reader";

ALTER ROLE "twin_reader" SET statement_timeout = '30s';

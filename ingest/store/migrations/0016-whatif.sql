-- Version 16: what-if forks, every one kept: the change asked about, both runs' outcomes per satellite, the constraints broken and the added jobs' fates.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE whatif_runs (
    whatif_id TEXT NOT NULL,
    made_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    run_id TEXT,
    fork_at TIMESTAMP WITH TIME ZONE NOT NULL,
    fork_tick BIGINT NOT NULL,
    step_s DOUBLE PRECISION NOT NULL,
    horizon_s DOUBLE PRECISION NOT NULL,
    satellites INTEGER NOT NULL,
    change_toml TEXT NOT NULL,
    violates BOOLEAN NOT NULL,
    baseline_compute_energy_j DOUBLE PRECISION NOT NULL,
    branch_compute_energy_j DOUBLE PRECISION NOT NULL,
    CONSTRAINT whatif_runs_pkey PRIMARY KEY (whatif_id)
);

COMMENT ON TABLE whatif_runs IS 'One row per twin whatif: where it forked, how far it flew, the change file and the verdict';

COMMENT ON COLUMN whatif_runs.run_id IS 'the run whose checkpoint was forked; NULL when forked from the initial state';

COMMENT ON COLUMN whatif_runs.violates IS 'the change breaks a constraint the baseline keeps (twin whatif exits 3)';

CREATE TABLE whatif_satellites (
    whatif_id TEXT NOT NULL,
    branch BOOLEAN NOT NULL,
    sat_id INTEGER NOT NULL,
    min_soc DOUBLE PRECISION NOT NULL,
    max_temp_payload_c DOUBLE PRECISION NOT NULL,
    energy_wh DOUBLE PRECISION NOT NULL,
    tera_ops DOUBLE PRECISION NOT NULL,
    jobs_completed INTEGER NOT NULL,
    jobs_late INTEGER NOT NULL,
    jobs_failed INTEGER NOT NULL,
    CONSTRAINT whatif_satellites_pkey PRIMARY KEY (whatif_id, branch, sat_id)
);

COMMENT ON TABLE whatif_satellites IS 'Each satellite''s outcome over a what-if''s horizon, in the baseline (branch false) and the branch';

COMMENT ON COLUMN whatif_satellites.energy_wh IS 'energy drawn by the loads over the horizon';

COMMENT ON COLUMN whatif_satellites.tera_ops IS 'work delivered: throughput integrated over the horizon';

CREATE TABLE whatif_violations (
    whatif_id TEXT NOT NULL,
    branch BOOLEAN NOT NULL,
    sat_id INTEGER NOT NULL,
    constraint_name TEXT NOT NULL,
    first_at TIMESTAMP WITH TIME ZONE NOT NULL,
    worst TEXT NOT NULL,
    only_in_branch BOOLEAN NOT NULL,
    CONSTRAINT whatif_violations_pkey PRIMARY KEY (whatif_id, branch, sat_id, constraint_name)
);

COMMENT ON TABLE whatif_violations IS 'Constraints a what-if''s runs broke: red limits, the change''s own constraints and added jobs that failed';

COMMENT ON COLUMN whatif_violations.worst IS 'the value furthest outside the limit, or a failed job''s reason';

CREATE TABLE whatif_jobs (
    whatif_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    step TEXT NOT NULL,
    sat_id INTEGER NOT NULL,
    stepped_at TIMESTAMP WITH TIME ZONE,
    reason TEXT NOT NULL,
    energy_j DOUBLE PRECISION,
    CONSTRAINT whatif_jobs_pkey PRIMARY KEY (whatif_id, job_id)
);

COMMENT ON TABLE whatif_jobs IS 'Each job a what-if''s change added: its last step by the horizon';

COMMENT ON COLUMN whatif_jobs.energy_j IS 'accelerator energy the job took; NULL unless it ended';

GRANT SELECT ON whatif_runs, whatif_satellites, whatif_violations, whatif_jobs TO "twin_reader";

GRANT SELECT, INSERT ON whatif_runs, whatif_satellites, whatif_violations, whatif_jobs TO "twin_ingest";

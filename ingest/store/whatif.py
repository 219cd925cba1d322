"""What-ifs into the store: one ``whatif_runs`` row, both runs' outcomes per satellite in
``whatif_satellites`` (one binary COPY, no loop over satellites), the constraints broken in
``whatif_violations`` and the added jobs' fates in ``whatif_jobs``."""

from __future__ import annotations

import math

import numpy as np
from psycopg import Connection

from ingest.store.pgcopy import binary_copy_payload
from twin.core.clock import NS_PER_S, iso
from twin.forecast.whatif import Outcome, WhatIf

SATELLITE_COLUMNS = (  # the stage's and whatif_satellites' columns after sat_id, in order
    "min_soc",
    "max_temp_payload_c",
    "energy_wh",
    "tera_ops",
    "jobs_completed",
    "jobs_late",
    "jobs_failed",
)


def write_whatif(
    conn: Connection, whatif_id: str, result: WhatIf, change_toml: str, run_id: str | None
) -> None:
    """Store one what-if in ``conn``'s transaction; ``run_id`` None when it forked from the
    initial state, ``change_toml`` the change file's text ("" for none)."""
    fork = result.fork
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO whatif_runs (whatif_id, run_id, fork_at, fork_tick, step_s, horizon_s, "
            "satellites, change_toml, violates, baseline_compute_energy_j, "
            "branch_compute_energy_j) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                whatif_id,
                run_id,
                iso(fork.time_ns),
                fork.tick,
                fork.step_ns / NS_PER_S,
                result.horizon_ns / NS_PER_S,
                int(result.baseline.sat_id.shape[0]),
                change_toml,
                result.violates,
                result.baseline.compute_energy_j,
                result.branch.compute_energy_j,
            ),
        )
        cur.execute(
            "CREATE TEMP TABLE whatif_stage (branch bool, sat_id int4, min_soc float8, "
            "max_temp_payload_c float8, energy_wh float8, tera_ops float8, jobs_completed int4, "
            "jobs_late int4, jobs_failed int4) ON COMMIT DROP"
        )
        with cur.copy("COPY whatif_stage FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_satellites_payload(result.baseline, result.branch))
        cur.execute(
            "INSERT INTO whatif_satellites (whatif_id, branch, sat_id, min_soc, "
            "max_temp_payload_c, energy_wh, tera_ops, jobs_completed, jobs_late, jobs_failed) "
            "SELECT %s, * FROM whatif_stage",
            (whatif_id,),
        )
        new = {(v.sat_id, v.constraint) for v in result.new_violations}
        rows = [
            (whatif_id, branch, v.sat_id, v.constraint, iso(v.first_ns), _worst(v.worst),
             branch and (v.sat_id, v.constraint) in new)
            for branch, outcome in ((False, result.baseline), (True, result.branch))
            for v in outcome.violations()
        ]  # fmt: skip
        cur.executemany(
            "INSERT INTO whatif_violations (whatif_id, branch, sat_id, constraint_name, "
            "first_at, worst, only_in_branch) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        cur.executemany(
            "INSERT INTO whatif_jobs (whatif_id, job_id, step, sat_id, stepped_at, reason, "
            "energy_j) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (whatif_id, job_id, fate.step, fate.sat_id,
                 iso(fate.time_ns) if fate.time_ns >= 0 else None, fate.reason,
                 None if math.isnan(fate.energy_j) else fate.energy_j)
                for job_id, fate in result.added_jobs.items()
            ],
        )  # fmt: skip


def _worst(value: float | str) -> str:
    return f"{value:.6g}" if isinstance(value, float) else value


def _satellites_payload(baseline: Outcome, branch: Outcome) -> bytes:
    """Both runs' outcomes per satellite as a binary COPY of the session's stage."""
    n = baseline.sat_id.shape[0]

    def both(name: str, dtype) -> np.ndarray:
        return np.concatenate([getattr(baseline, name), getattr(branch, name)]).astype(dtype)

    return binary_copy_payload(
        [
            (np.repeat([False, True], n), "bool"),
            (both("sat_id", np.int32), "int4"),
            *((both(c, np.float64), "float8") for c in SATELLITE_COLUMNS[:4]),
            *((both(c, np.int32), "int4") for c in SATELLITE_COLUMNS[4:]),
        ]
    )

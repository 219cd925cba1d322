"""Dimension tables: the satellites the store accepts telemetry for."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from ingest.db import connect
from twin.fleet import Fleet
from twin.hardware import Hardware

UPSERT_SATELLITE = (
    "INSERT INTO satellites (sat_id, fleet, shell, plane, hardware, telemetry_interval_s) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sat_id) DO UPDATE SET fleet = EXCLUDED.fleet, "
    "shell = EXCLUDED.shell, plane = EXCLUDED.plane, hardware = EXCLUDED.hardware, "
    "telemetry_interval_s = EXCLUDED.telemetry_interval_s, registered_at = now()"
)


def register_fleet(
    database_url: str,
    fleet: Fleet,
    hw: Hardware,
    fleet_name: str,
    shell_names: list[str],
    telemetry_interval_s: float,
) -> int:
    """Insert or update one row per satellite; return how many were written."""
    columns = {name: values.tolist() for name, values in hw.arrays.items()}
    rows = [
        (
            int(sat),
            fleet_name,
            shell_names[int(shell)],
            int(plane),
            Jsonb({name: values[i] for name, values in columns.items()}),
            telemetry_interval_s,
        )
        for i, (sat, shell, plane) in enumerate(
            zip(fleet.sat_id, fleet.shell, fleet.plane, strict=True)
        )
    ]
    with connect(database_url) as conn, conn.cursor() as cur:
        cur.executemany(UPSERT_SATELLITE, rows)
    return len(rows)

"""Dimension tables: the satellites the store accepts telemetry for, and ground stations."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from ingest.store.db import connect
from twin.fleet.constellation import Fleet
from twin.fleet.hardware import Hardware
from twin.payload.ground import Stations

UPSERT_SATELLITE = (
    "INSERT INTO satellites (sat_id, fleet, shell, plane, hardware, telemetry_interval_s) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sat_id) DO UPDATE SET fleet = EXCLUDED.fleet, "
    "shell = EXCLUDED.shell, plane = EXCLUDED.plane, hardware = EXCLUDED.hardware, "
    "telemetry_interval_s = EXCLUDED.telemetry_interval_s, registered_at = now()"
)

UPSERT_STATION = (
    "INSERT INTO ground_stations (station_id, name, lat_deg, lon_deg, alt_m, min_elevation_deg, "
    "downlink_mbps, antennas) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (station_id) DO UPDATE SET name = EXCLUDED.name, lat_deg = EXCLUDED.lat_deg, "
    "lon_deg = EXCLUDED.lon_deg, alt_m = EXCLUDED.alt_m, "
    "min_elevation_deg = EXCLUDED.min_elevation_deg, downlink_mbps = EXCLUDED.downlink_mbps, "
    "antennas = EXCLUDED.antennas"
)


def register_stations(database_url: str, stations: Stations) -> int:
    """Insert or update one row per ground station; return how many were written."""
    rows = list(
        zip(
            stations.station_id.tolist(),
            stations.name,
            stations.lat_deg.tolist(),
            stations.lon_deg.tolist(),
            (stations.alt_km * 1000.0).tolist(),
            stations.min_elevation_deg.tolist(),
            stations.downlink_mbps.tolist(),
            stations.antennas.tolist(),
            strict=True,
        )
    )
    with connect(database_url) as conn, conn.cursor() as cur:
        cur.executemany(UPSERT_STATION, rows)
    return len(rows)


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

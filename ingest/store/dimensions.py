"""Dimension tables: the satellites the store accepts telemetry for, and ground stations."""

from __future__ import annotations

import numpy as np
from psycopg.types.json import Jsonb

from ingest.store.db import connect
from twin.fleet.constellation import Fleet
from twin.fleet.hardware import Hardware
from twin.fleet.limits import resolve
from twin.payload.ground import Stations
from twin.wire.telemetry import CHANNELS

UPSERT_SATELLITE = (
    "INSERT INTO satellites (sat_id, fleet, shell, plane, hardware, telemetry_interval_s) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sat_id) DO UPDATE SET fleet = EXCLUDED.fleet, "
    "shell = EXCLUDED.shell, plane = EXCLUDED.plane, hardware = EXCLUDED.hardware, "
    "telemetry_interval_s = EXCLUDED.telemetry_interval_s, registered_at = now()"
)

# Every limit of the satellites written, whatever was there: the dictionary and the hardware
# are the source (NaN arrives as NULL: no such limit).
UPSERT_LIMITS = (
    "INSERT INTO channel_limits (sat_id, channel, unit, red_low, yellow_low, yellow_high, "
    "red_high) SELECT s, c, u, nullif(rl, 'NaN'), nullif(yl, 'NaN'), nullif(yh, 'NaN'), "
    "nullif(rh, 'NaN') FROM unnest(%s::int4[], %s::text[], %s::text[], %s::float8[], "
    "%s::float8[], %s::float8[], %s::float8[]) AS u(s, c, u, rl, yl, yh, rh) "
    "ON CONFLICT (sat_id, channel) DO UPDATE SET unit = EXCLUDED.unit, "
    "red_low = EXCLUDED.red_low, yellow_low = EXCLUDED.yellow_low, "
    "yellow_high = EXCLUDED.yellow_high, red_high = EXCLUDED.red_high"
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
    """Insert or update one row per satellite, and its channel limits (``twin.fleet.limits``);
    return how many satellites were written."""
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
    limits = resolve(hw)
    n_sat = fleet.sat_id.shape[0]
    names = list(limits)
    table = np.concatenate([limits[name] for name in names]) if names else np.empty((0, 4))
    with connect(database_url) as conn, conn.cursor() as cur:
        cur.executemany(UPSERT_SATELLITE, rows)
        cur.execute(
            UPSERT_LIMITS,
            (
                np.tile(fleet.sat_id.astype(np.int64), len(names)).tolist(),
                np.repeat(names, n_sat).tolist(),
                np.repeat([CHANNELS[n].unit for n in names], n_sat).tolist(),
                *(table[:, k].tolist() for k in range(4)),
            ),
        )
    return len(rows)

"""Forecasts into the store: one ``forecast_runs`` row and its windows in
``forecast_windows`` or its states per orbit in ``forecast_states``, each by one binary COPY
into a session stage and one INSERT naming them (no loop over windows or satellites)."""

from __future__ import annotations

import numpy as np
from psycopg import Connection

from ingest.store.pgcopy import PG_EPOCH_UNIX_US, binary_copy_payload
from twin.core.clock import NS_PER_S, NS_PER_US, iso
from twin.forecast.states import OrbitStates, orbit_columns
from twin.forecast.windows import ECLIPSE, Windows


def _forecast_run(cur, forecast_id, span_ns, step_ns, n_sat, element_sets, newest_epoch) -> None:
    cur.execute(
        "INSERT INTO forecast_runs (forecast_id, starts_at, ends_at, step_s, satellites, "
        "element_sets, newest_epoch) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (forecast_id, iso(span_ns[0]), iso(span_ns[1]), step_ns / NS_PER_S, n_sat,
         element_sets, newest_epoch),
    )  # fmt: skip


def write_forecast(
    conn: Connection,
    forecast_id: str,
    sat_id: np.ndarray,
    station_id: np.ndarray,
    found: tuple[Windows, ...],
    span_ns: tuple[int, int],
    step_ns: int,
    element_sets: int,
    newest_epoch: str | None,
) -> None:
    """Store one forecast in ``conn``'s transaction. ``sat_id`` (n_sat,) and ``station_id``
    (n_st,) name the windows' rows; ``span_ns`` (start, end) its span, ``step_ns`` its grid;
    ``element_sets`` how many satellites flew a set received, the newest's epoch (ISO)."""
    with conn.cursor() as cur:
        _forecast_run(
            cur, forecast_id, span_ns, step_ns, int(sat_id.shape[0]), element_sets, newest_epoch
        )
        cur.execute(
            "CREATE TEMP TABLE forecast_stage (sat_id int4, eclipse bool, station_id int4, "
            "starts_at timestamptz, ends_at timestamptz, open_start bool, open_end bool) "
            "ON COMMIT DROP"
        )
        with cur.copy("COPY forecast_stage FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_stage_payload(sat_id, station_id, found))
        cur.execute(
            "INSERT INTO forecast_windows (forecast_id, sat_id, kind, station_id, starts_at, "
            "ends_at, open_start, open_end) SELECT %s, sat_id, CASE WHEN eclipse THEN "
            "'eclipse' ELSE 'contact' END, station_id, starts_at, ends_at, open_start, "
            "open_end FROM forecast_stage",
            (forecast_id,),
        )


def _stage_payload(sat_id: np.ndarray, station_id: np.ndarray, found) -> bytes:
    """The windows as a binary COPY of ``forecast_stage``."""

    def joined(f):
        return np.concatenate([f(w) for w in found])

    def station(w: Windows) -> np.ndarray:  # 0 for an eclipse
        return np.where(w.station_row >= 0, station_id[np.maximum(w.station_row, 0)], 0)

    return binary_copy_payload(
        [
            (joined(lambda w: sat_id[w.sat_row]).astype(np.int32), "int4"),
            (joined(lambda w: np.full(w.sat_row.shape, w.kind == ECLIPSE)), "bool"),
            (joined(station).astype(np.int32), "int4"),
            (joined(lambda w: w.start_ns // NS_PER_US) - PG_EPOCH_UNIX_US, "timestamptz"),
            (joined(lambda w: w.end_ns // NS_PER_US) - PG_EPOCH_UNIX_US, "timestamptz"),
            (joined(lambda w: w.open_start), "bool"),
            (joined(lambda w: w.open_end), "bool"),
        ]
    )


def write_states(
    conn: Connection, forecast_id: str, states: OrbitStates, span_ns: tuple[int, int], step_ns: int
) -> None:
    """Store one state forecast in ``conn``'s transaction: its ``forecast_runs`` row (no
    element sets) and a ``forecast_states`` row per satellite and orbit begun before the
    end of ``span_ns`` (start, end)."""
    c = orbit_columns(states, span_ns)
    n_sat, n_orbit = states.min_soc.shape
    begun = c["starts_unix_ns"] >= 0
    flown = ~np.isnan(c["min_soc"][begun])
    orbit = np.broadcast_to(np.arange(n_orbit), (n_sat, n_orbit))[begun]
    row = np.broadcast_to(np.arange(n_sat)[:, None], (n_sat, n_orbit))[begun]

    def us(name: str) -> np.ndarray:
        return np.maximum(c[name][begun], 0) // NS_PER_US - PG_EPOCH_UNIX_US

    payload = binary_copy_payload(
        [
            (states.sat_id[row].astype(np.int32), "int4"),
            (orbit.astype(np.int32), "int4"),
            (us("starts_unix_ns"), "timestamptz"),
            (us("ends_unix_ns"), "timestamptz"),
            (np.nan_to_num(c["min_soc"][begun]), "float8"),
            (us("min_soc_unix_ns"), "timestamptz"),
            (np.nan_to_num(c["max_temp_payload_c"][begun]), "float8"),
            (c["tera_ops"][begun], "float8"),
            (c["available_tera_ops"][begun], "float8"),
        ],
        nulls={4: ~flown, 5: ~flown, 6: ~flown},
    )
    with conn.cursor() as cur:
        _forecast_run(cur, forecast_id, span_ns, step_ns, n_sat, 0, None)
        cur.execute(
            "CREATE TEMP TABLE forecast_states_stage (sat_id int4, orbit int4, "
            "starts_at timestamptz, ends_at timestamptz, min_soc float8, min_soc_at timestamptz, "
            "max_temp_payload_c float8, tera_ops float8, available_tera_ops float8) ON COMMIT DROP"
        )
        with cur.copy("COPY forecast_states_stage FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
        cur.execute(
            "INSERT INTO forecast_states (forecast_id, sat_id, orbit, starts_at, ends_at, "
            "min_soc, min_soc_at, max_temp_payload_c, tera_ops, available_tera_ops) "
            "SELECT %s, * FROM forecast_states_stage",
            (forecast_id,),
        )

"""CCSDS Orbit Ephemeris Message (OEM 2.0, CCSDS 502.0-B-2), KVN form: flight dynamics
tools' exchange format for predicted or reconstructed trajectories.

One segment per satellite, its states in the frame given (the twin writes TEME, SGP4's own
frame, which the SANA registry names), epochs in UTC to the microsecond, positions in km
and velocities in km/s. A state SGP4 could not compute is left out of its segment (a
comment says how many); a satellite with none has no segment.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np

from twin.core.clock import NS_PER_US

VERSION = "2.0"


def _epochs(t_ns: np.ndarray) -> list[str]:
    """ISO-8601 UTC epochs to the microsecond, as OEM writes them (no zone letter)."""
    us = (np.asarray(t_ns, dtype=np.int64) // NS_PER_US).astype("datetime64[us]")
    return [str(e) for e in np.datetime_as_string(us, unit="us")]


def write(
    names: list[str],
    object_ids: list[str],
    t_ns: np.ndarray,
    r_km: np.ndarray,
    v_km_s: np.ndarray,
    frame: str = "TEME",
    originator: str = "ORBITAL-TWIN",
    created: datetime | None = None,
) -> str:
    """The OEM text.

    Parameters
    ----------
    names, object_ids : (n_sat,) each satellite's OBJECT_NAME and OBJECT_ID.
    t_ns : (n_time,) int64 epochs, ns since the Unix epoch (UTC).
    r_km, v_km_s : (3, n_sat, n_time) positions and velocities in ``frame``; NaN where
        the state is unknown.
    """
    epochs = _epochs(t_ns)
    created = created or datetime.now(UTC)
    out = io.StringIO()
    out.write(f"CCSDS_OEM_VERS = {VERSION}\n")
    out.write(f"CREATION_DATE = {created:%Y-%m-%dT%H:%M:%S}\n")
    out.write(f"ORIGINATOR = {originator}\n")
    states = np.concatenate([r_km, v_km_s], axis=0)  # (6, n_sat, n_time)
    known = np.isfinite(states).all(axis=0)  # (n_sat, n_time)
    for k, (name, object_id) in enumerate(zip(names, object_ids, strict=True)):
        rows = np.flatnonzero(known[k])
        if rows.size == 0:
            continue
        out.write("\nMETA_START\n")
        out.write(f"OBJECT_NAME = {name}\nOBJECT_ID = {object_id}\nCENTER_NAME = EARTH\n")
        out.write(f"REF_FRAME = {frame}\nTIME_SYSTEM = UTC\n")
        out.write(f"START_TIME = {epochs[rows[0]]}\nSTOP_TIME = {epochs[rows[-1]]}\n")
        out.write("META_STOP\n\n")
        if rows.size < known.shape[1]:
            out.write(f"COMMENT {known.shape[1] - rows.size} states SGP4 could not compute\n")
        values = io.StringIO()
        np.savetxt(values, states[:, k, rows].T, fmt="%.6f")
        for epoch_index, line in zip(rows, values.getvalue().splitlines(), strict=True):
            out.write(f"{epochs[epoch_index]} {line}\n")
    return out.getvalue()

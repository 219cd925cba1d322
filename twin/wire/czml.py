"""CZML, the JSON document a Cesium globe plays: the fleet's trajectories, the ground
stations and the contacts between them.

One packet per satellite, its positions sampled in the Earth-fixed frame (``FIXED``, metres,
seconds from the document's epoch), Lagrange-interpolated by the viewer, drawn as a point
with a trail; one packet per ground station at its geodetic place; one packet per
satellite-station pair that ever sees each other, a line between the two shown during each
visibility window (``availability``, at the samples' resolution). A state SGP4 could not
compute is left out of its satellite's samples.
"""

from __future__ import annotations

import numpy as np

from twin.core.clock import NS_PER_S, iso


def write(
    names: list[str],
    object_ids: list[str],
    t_ns: np.ndarray,
    r_itrs_km: np.ndarray,
    stations: list[tuple[str, float, float, float]] = (),
    visible: np.ndarray | None = None,
) -> list[dict]:
    """The CZML document (a list of packets, ready for ``json.dumps``).

    Parameters
    ----------
    names, object_ids : (n_sat,) each satellite's name and id (the packet id is
        ``sat-<id>``).
    t_ns : (n_time,) int64 epochs, ns since the Unix epoch (UTC).
    r_itrs_km : (3, n_sat, n_time) Earth-fixed positions; NaN where unknown.
    stations : (name, lat_deg, lon_deg, alt_m) of each ground station.
    visible : (n_sat, n_st, n_time) bool, the satellite above the station's elevation mask
        (``twin.payload.ground.visible``); None: no contacts drawn.
    """
    t_ns = np.asarray(t_ns, dtype=np.int64)
    start, stop = iso(int(t_ns[0])), iso(int(t_ns[-1]))
    interval = f"{start}/{stop}"
    packets: list[dict] = [
        {
            "id": "document",
            "name": "orbital twin fleet",
            "version": "1.0",
            "clock": {"interval": interval, "currentTime": start, "multiplier": 60},
        }
    ]
    seconds = (t_ns - t_ns[0]) / NS_PER_S
    known = np.isfinite(r_itrs_km).all(axis=0)  # (n_sat, n_time)
    for k, (name, object_id) in enumerate(zip(names, object_ids, strict=True)):
        rows = np.flatnonzero(known[k])
        if rows.size == 0:
            continue
        samples = np.column_stack([seconds[rows], r_itrs_km[:, k, rows].T * 1000.0])
        packets.append(
            {
                "id": f"sat-{object_id}",
                "name": name,
                "availability": interval,
                "position": {
                    "epoch": start,
                    "referenceFrame": "FIXED",
                    "interpolationAlgorithm": "LAGRANGE",
                    "interpolationDegree": 5,
                    "cartesian": samples.ravel().tolist(),
                },
                "point": {"pixelSize": 5, "color": {"rgba": [255, 200, 0, 255]}},
                "path": {"width": 1, "leadTime": 0, "trailTime": 3000},
            }
        )
    for i, (name, lat_deg, lon_deg, alt_m) in enumerate(stations):
        packets.append(
            {
                "id": f"station-{i}",
                "name": name,
                "position": {"cartographicDegrees": [lon_deg, lat_deg, alt_m]},
                "point": {"pixelSize": 7, "color": {"rgba": [0, 180, 255, 255]}},
            }
        )
    if visible is not None:
        packets += _contacts(object_ids, t_ns, visible)
    return packets


def contact_windows(visible: np.ndarray) -> tuple[np.ndarray, ...]:
    """Visibility windows of ``visible`` (n_sat, n_st, n_time) bool, as arrays (n_window,):
    satellite row, station row, first and last sample index, sorted by satellite, station,
    then time."""
    padded = np.zeros((*visible.shape[:2], visible.shape[2] + 2), dtype=np.int8)
    padded[:, :, 1:-1] = visible
    edges = np.diff(padded, axis=2)
    sat, station, first = np.nonzero(edges == 1)
    _, _, after = np.nonzero(edges == -1)  # same (sat, station, time) order as the rises
    return sat, station, first, after - 1


def _contacts(object_ids: list[str], t_ns: np.ndarray, visible: np.ndarray) -> list[dict]:
    sat, station, first, last = contact_windows(visible)
    pairs, starts = np.unique(np.stack([sat, station]), axis=1, return_index=True)
    bounds = [*starts[1:].tolist(), sat.shape[0]]
    packets = []
    for (k, s), a, b in zip(pairs.T.tolist(), starts.tolist(), bounds, strict=True):
        windows = [
            f"{iso(int(t_ns[i]))}/{iso(int(t_ns[j]))}"
            for i, j in zip(first[a:b].tolist(), last[a:b].tolist(), strict=True)
        ]
        packets.append(
            {
                "id": f"contact-{object_ids[k]}-{s}",
                "name": f"contact sat-{object_ids[k]} station-{s}",
                "availability": windows,
                "polyline": {
                    "positions": {
                        "references": [f"sat-{object_ids[k]}#position", f"station-{s}#position"]
                    },
                    "width": 1,
                    "material": {"solidColor": {"color": {"rgba": [0, 255, 128, 200]}}},
                },
            }
        )
    return packets

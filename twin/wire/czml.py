"""CZML, the JSON document a Cesium globe plays: the fleet's trajectories and the ground
stations.

One packet per satellite, its positions sampled in the Earth-fixed frame (``FIXED``, metres,
seconds from the document's epoch), Lagrange-interpolated by the viewer, drawn as a point
with a trail; one packet per ground station at its geodetic place. A state SGP4 could not
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
) -> list[dict]:
    """The CZML document (a list of packets, ready for ``json.dumps``).

    Parameters
    ----------
    names, object_ids : (n_sat,) each satellite's name and id (the packet id is
        ``sat-<id>``).
    t_ns : (n_time,) int64 epochs, ns since the Unix epoch (UTC).
    r_itrs_km : (3, n_sat, n_time) Earth-fixed positions; NaN where unknown.
    stations : (name, lat_deg, lon_deg, alt_m) of each ground station.
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
    return packets

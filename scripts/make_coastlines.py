"""Make ``twin/data/coastlines-110m.npz``, the coastlines drawn under ground tracks, from the
Natural Earth 1:110m land polygons as TopoJSON (``land-110m.json`` of the npm package
``world-atlas`` 2.x).

Source and licence: Natural Earth (naturalearthdata.com) 1:110m physical vectors, land,
version 4.1.0, in the public domain; converted to TopoJSON by the ``world-atlas`` package
(ISC licence, Copyright 2013-2019 Michael Bostock). Run it once, when the data should change::

    cd /tmp && npm pack world-atlas@2 && tar xzf world-atlas-2.*.tgz
    python scripts/make_coastlines.py /tmp/package/land-110m.json

The TopoJSON arcs are quantized and delta-encoded: each arc's positions are summed, then
scaled and translated to degrees. A polygon ring is its arcs joined end to end (a negative
index ``~i`` is arc ``i`` reversed; joined arcs share their end point). Natural Earth cuts
land at the antimeridian and closes Antarctica along its southern edge; those edges are not
coasts, so rings are broken where they run along ±180° or along the southern boundary, and
where a ring crosses the antimeridian (a jump of more than 180° in longitude).

The file holds ``lonlat_deg`` ((n_point, 2) float32, longitude and latitude in degrees,
rounded to 0.01°), ``starts`` ((n_line,) int32, the first point of each polyline; a
polyline runs to the next start) and ``source`` (a str naming the source and licence).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "twin" / "data" / "coastlines-110m.npz"
SOURCE = (
    "Natural Earth 1:110m land v4.1.0 (public domain, naturalearthdata.com), via the npm "
    "package world-atlas 2.0.2 land-110m.json (ISC licence, Michael Bostock)"
)
EDGE_LON_DEG = 179.99  # a segment with both ends beyond this runs along the antimeridian cut
EDGE_LAT_DEG = -84.0  # a segment with both ends below this runs along the map's southern edge


def decode_arcs(topology: dict) -> list[np.ndarray]:
    """Every arc of a TopoJSON topology as an (n, 2) array of longitude, latitude (deg)."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        xy = np.asarray(arc, dtype=np.float64)[:, :2]
        if transform:
            xy = np.cumsum(xy, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(xy)
    return arcs


def rings(topology: dict, name: str) -> list[np.ndarray]:
    """The polygon rings of object ``name`` (Polygon and MultiPolygon geometries)."""
    arcs = decode_arcs(topology)
    out = []
    for geometry in topology["objects"][name]["geometries"]:
        polygons = {"Polygon": [geometry["arcs"]], "MultiPolygon": geometry["arcs"]}.get(
            geometry["type"], []
        )
        for polygon in polygons:
            for ring in polygon:
                parts = [arcs[i] if i >= 0 else arcs[~i][::-1] for i in ring]
                out.append(np.concatenate([parts[0], *(p[1:] for p in parts[1:])]))
    return out


def coast_segments(ring: np.ndarray) -> list[np.ndarray]:
    """Break a ring where a segment crosses or runs along the antimeridian, or runs along
    the southern edge."""
    lon, lat = ring[:, 0], ring[:, 1]
    along_cut = (np.abs(lon[:-1]) > EDGE_LON_DEG) & (np.abs(lon[1:]) > EDGE_LON_DEG)
    along_south = (lat[:-1] < EDGE_LAT_DEG) & (lat[1:] < EDGE_LAT_DEG)
    across = np.abs(np.diff(lon)) > 180.0  # the ring crosses the antimeridian
    breaks = np.flatnonzero(along_cut | along_south | across)  # segment i joins points i and i + 1
    pieces = np.split(ring, breaks + 1)
    return [p for p in pieces if len(p) >= 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("topojson", help="land-110m.json of the npm package world-atlas 2.x")
    parser.add_argument("--out", default=str(OUT), help=f"file to write (default {OUT})")
    args = parser.parse_args()
    topology = json.loads(Path(args.topojson).read_text(encoding="utf-8"))
    lines = [s for ring in rings(topology, "land") for s in coast_segments(ring)]
    lonlat = np.round(np.concatenate(lines), 2).astype(np.float32)
    starts = np.cumsum([0, *(len(line) for line in lines[:-1])]).astype(np.int32)
    np.savez_compressed(args.out, lonlat_deg=lonlat, starts=starts, source=np.array(SOURCE))
    size_kb = Path(args.out).stat().st_size / 1024
    print(f"{args.out}: {len(lines)} polylines, {len(lonlat)} points, {size_kb:.0f} KiB")


if __name__ == "__main__":
    main()

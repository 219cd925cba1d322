"""Ground stations: where they are, which satellites they see, and which they serve.

Stations are a structure of arrays, one row per station, loaded from a TOML data file
(``twin/data/stations.toml`` by default). Elevations are ``(n_sat, n_st[, n_time])``: the
satellite axis first, as in ``OrbitState``'s scalars, then stations, then (optionally) times.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.core.settings import PACKAGE_DATA, InputError, check_keys
from twin.physics.orbit import WGS84_A_KM, WGS84_E2

DEFAULT_STATIONS = PACKAGE_DATA / "stations.toml"

# Key of a [[stations]] entry -> (type, low, high, what is accepted). Bounds are inclusive,
# except downlink_mbps which must be strictly positive and finite.
_KEYS = {
    # Station ids travel in telemetry as int16 (the ``station_id`` channel).
    "station_id": (int, 1, 32_767, "an integer 1..32767, unique in the file"),
    "name": (str, None, None, "a non-empty string"),
    "lat_deg": (float, -90.0, 90.0, "a latitude within -90..90 degrees"),
    "lon_deg": (float, -180.0, 180.0, "a longitude within -180..180 degrees (east positive)"),
    "alt_km": (float, -1.0, 10.0, "a height within -1..10 km"),
    "min_elevation_deg": (float, 0.0, 90.0, "an elevation mask within 0..90 degrees"),
    "downlink_mbps": (float, 0.0, math.inf, "a finite rate greater than 0 Mbit/s"),
    "antennas": (int, 1, 64, "an integer within 1..64"),
}


class StationError(InputError):
    """A station file or array that cannot be used; names the file, station, key and value."""


@dataclass(frozen=True)
class Stations:
    """Ground stations as arrays, one row per station.

    Attributes
    ----------
    station_id : (n_st,) int32, unique identifiers.
    name : n_st names.
    lat_deg, lon_deg, alt_km : (n_st,) float64 WGS84 geodetic latitude, longitude (east
        positive) in degrees and height in km.
    min_elevation_deg : (n_st,) float64 elevation mask: a satellite is visible at or above it.
    downlink_mbps : (n_st,) float64 rate of one antenna to one satellite (Mbit/s).
    antennas : (n_st,) int32 satellites a station can serve at once.
    r_itrs_km : (3, n_st) Earth-fixed (ITRS/ECEF) position (km).
    up_itrs : (3, n_st) unit geodetic zenith (normal to the WGS84 ellipsoid).
    """

    station_id: np.ndarray
    name: tuple[str, ...]
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    min_elevation_deg: np.ndarray
    downlink_mbps: np.ndarray
    antennas: np.ndarray
    r_itrs_km: np.ndarray
    up_itrs: np.ndarray

    @property
    def n_st(self) -> int:
        return int(self.station_id.shape[0])


def load_stations(path: Path | str | None = None) -> Stations:
    """Load and validate a station file (``None``: the bundled ``DEFAULT_STATIONS``).

    The file has an optional ``sources`` list of strings and one ``[[stations]]`` table per
    station with exactly the keys of ``Stations``' scalar columns. Raises ``StationError``
    (an ``InputError``) naming the file, the station (index and name), the key, the value and
    what is accepted: for a missing file, unknown or missing keys, wrong types, values out of
    range and duplicate ``station_id``.
    """
    path = DEFAULT_STATIONS if path is None else Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StationError(f"{path}: cannot read a station file: {exc}") from None
    unknown = sorted(set(data) - {"sources", "stations"})
    if unknown:
        raise StationError(
            f"{path}: unknown keys {', '.join(unknown)}; accepted: sources, stations"
        )
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise StationError(f"{path}: sources: {sources!r} is not accepted; expected strings")
    entries = data.get("stations")
    if not isinstance(entries, list) or not entries:
        raise StationError(f"{path}: stations: expected one or more [[stations]] tables")
    columns: dict[str, list] = {key: [] for key in _KEYS}
    for i, entry in enumerate(entries):  # parsing the file, once: not physics
        where = f"{path}: stations[{i}]"
        if not isinstance(entry, dict):
            raise StationError(f"{where}: {entry!r} is not accepted; expected a table")
        where += f" ({entry['name']})" if isinstance(entry.get("name"), str) else ""
        check_keys(entry, where, _KEYS, error=StationError)
        for key, (typ, *_, accepted) in _KEYS.items():
            value = entry[key]
            ok = isinstance(value, typ) or (typ is float and isinstance(value, int))
            if not ok or isinstance(value, bool):
                raise StationError(f"{where}.{key}: {value!r} is not accepted; expected {accepted}")
            columns[key].append(value)
    return stations_from_arrays(where=f"{path}: ", **columns)


def stations_from_arrays(
    lat_deg,
    lon_deg,
    alt_km=0.0,
    min_elevation_deg=10.0,
    downlink_mbps=1000.0,
    antennas=1,
    station_id=None,
    name=None,
    where: str = "",
) -> Stations:
    """Build and validate ``Stations`` from arrays (scalars broadcast to ``lat_deg``'s length).

    For tests and benchmarks, e.g. ``stations_from_arrays(rng.uniform(-60, 60, 200),
    rng.uniform(-180, 180, 200))`` makes 200 synthetic stations. ``station_id`` defaults to
    1..n, ``name`` to ``station-<id>``. Raises ``StationError`` naming the station (``where``
    prefixes the message), the key, the value and what is accepted.
    """
    lat_deg = np.asarray(lat_deg, dtype=np.float64).reshape(-1)
    n = lat_deg.shape[0]
    cols = {
        "station_id": np.arange(1, n + 1) if station_id is None else station_id,
        "lat_deg": lat_deg,
        "lon_deg": lon_deg,
        "alt_km": alt_km,
        "min_elevation_deg": min_elevation_deg,
        "downlink_mbps": downlink_mbps,
        "antennas": antennas,
    }
    names = None if name is None else tuple(name)
    if names is not None and (len(names) != n or not all(isinstance(s, str) and s for s in names)):
        raise StationError(
            f"{where}name: {names!r} is not accepted; expected {n} non-empty strings"
        )
    for key, values in cols.items():
        typ, low, high, accepted = _KEYS[key]
        try:
            values = np.broadcast_to(np.asarray(values, dtype=np.float64), (n,))
        except (TypeError, ValueError):
            raise StationError(
                f"{where}{key}: {values!r} is not accepted; expected {accepted}, as a scalar or "
                f"an array of {n} values"
            ) from None
        if typ is int:
            bad = ~((values >= low) & (values <= high) & (values == np.round(values)))
        elif key == "downlink_mbps":
            bad = ~((values > low) & np.isfinite(values))
        else:
            bad = ~((values >= low) & (values <= high))
        if bad.any():
            i = int(np.argmax(bad))
            value = values[i].item()
            value = int(value) if typ is int and value == round(value) else value
            who = f" ({names[i]})" if names else ""
            raise StationError(
                f"{where}stations[{i}]{who}.{key}: {value!r} is not accepted; expected {accepted}"
            )
        cols[key] = values
    ids = cols["station_id"].astype(np.int32)
    names = tuple(f"station-{s}" for s in ids.tolist()) if names is None else names
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = int(unique[np.argmax(counts > 1)])
        rows = np.flatnonzero(ids == dup).tolist()
        raise StationError(
            f"{where}stations{rows} ({', '.join(names[r] for r in rows)}).station_id: {dup} "
            f"is not accepted; expected {_KEYS['station_id'][3]}"
        )
    lat, lon, alt = (np.array(cols[k]) for k in ("lat_deg", "lon_deg", "alt_km"))
    r_itrs_km, up_itrs = geodetic_to_itrs(lat, lon, alt)
    return Stations(
        station_id=ids,
        name=names,
        lat_deg=lat,
        lon_deg=lon,
        alt_km=alt,
        min_elevation_deg=np.array(cols["min_elevation_deg"]),
        downlink_mbps=np.array(cols["downlink_mbps"]),
        antennas=cols["antennas"].astype(np.int32),
        r_itrs_km=r_itrs_km,
        up_itrs=up_itrs,
    )


def geodetic_to_itrs(
    lat_deg: np.ndarray, lon_deg: np.ndarray, alt_km: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Earth-fixed position and unit zenith of WGS84 geodetic points (NIMA TR8350.2, eq. 4-14).

    Parameters
    ----------
    lat_deg, lon_deg, alt_km : (...) geodetic latitude and longitude (deg), height (km).

    Returns
    -------
    r_itrs_km : (3, ...) position (km). up_itrs : (3, ...) unit ellipsoid normal.
    """
    lat_rad = np.radians(lat_deg)
    lon_rad = np.radians(lon_deg)
    sin_lat, cos_lat = np.sin(lat_rad), np.cos(lat_rad)
    n_km = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)  # prime vertical radius
    up_itrs = np.stack([cos_lat * np.cos(lon_rad), cos_lat * np.sin(lon_rad), sin_lat])
    r_itrs_km = np.stack(
        [
            (n_km + alt_km) * up_itrs[0],
            (n_km + alt_km) * up_itrs[1],
            (n_km * (1.0 - WGS84_E2) + alt_km) * sin_lat,
        ]
    )
    return r_itrs_km, up_itrs


def elevation_deg(r_itrs_km: np.ndarray, stations: Stations) -> np.ndarray:
    """Elevation of every satellite above every station's geodetic horizon, in one pass.

    With ``d = r - r_st`` and ``u`` the station zenith, ``sin(el) = u·d / |d|``. Both terms
    are expanded (``u·d = u·r - u·r_st``, ``|d|² = |r|² - 2 r·r_st + |r_st|²``) so that no
    ``(3, n_sat, n_st, n_time)`` difference array is formed: peak memory beyond the input is
    two float64 arrays of the output's size, 2 × 8 × n_sat × n_st × n_time bytes (24 MB for
    30,000 satellites × 50 stations × 1 time). Geometric elevation: no refraction.

    Parameters
    ----------
    r_itrs_km : (3, n_sat, n_time) or (3, n_sat) Earth-fixed satellite positions (km); NaN
        rows (failed SGP4) give NaN elevations.
    stations : n_st stations.

    Returns
    -------
    (n_sat, n_st, n_time) or (n_sat, n_st) elevation in degrees, within -90..90.
    """
    r = np.asarray(r_itrs_km, dtype=np.float64)
    if r.ndim not in (2, 3) or r.shape[0] != 3:
        raise ValueError(f"r_itrs_km: shape {r.shape} is not (3, n_sat) or (3, n_sat, n_time)")
    spec = "ks,ki->is" if r.ndim == 2 else "ks,kit->ist"
    tail = (slice(None),) + (np.newaxis,) * (r.ndim - 2)  # station axis, then times
    r_st, up = stations.r_itrs_km, stations.up_itrs
    up_r_st = np.einsum("ks,ks->s", up, r_st)[tail]
    r_st2 = np.einsum("ks,ks->s", r_st, r_st)[tail]
    r2 = np.einsum("ki,ki->i", r, r) if r.ndim == 2 else np.einsum("kit,kit->it", r, r)
    # r·r_st, then |d|² in place, then |d|; one instant is a matrix product (BLAS).
    range_km = r.T @ r_st if r.ndim == 2 else np.einsum(spec, r_st, r)
    range_km *= -2.0
    range_km += r2[:, np.newaxis]
    range_km += r_st2
    np.maximum(range_km, 1e-12, out=range_km)  # a satellite at the station: no 0/0
    np.sqrt(range_km, out=range_km)
    sin_el = r.T @ up if r.ndim == 2 else np.einsum(spec, up, r)
    sin_el -= up_r_st
    sin_el /= range_km
    del range_km
    np.clip(sin_el, -1.0, 1.0, out=sin_el)
    np.arcsin(sin_el, out=sin_el)
    return np.degrees(sin_el, out=sin_el)


def visible(elev_deg: np.ndarray, stations: Stations) -> np.ndarray:
    """True where a satellite is at or above the station's mask; NaN gives False.

    Parameters
    ----------
    elev_deg : (n_sat, n_st[, n_time]) elevations (deg) from ``elevation_deg``.

    Returns
    -------
    bool array of ``elev_deg``'s shape.
    """
    elev_deg = np.asarray(elev_deg)
    mask = stations.min_elevation_deg.reshape((-1,) + (1,) * (elev_deg.ndim - 2))
    return elev_deg >= mask


@dataclass(frozen=True)
class Contacts:
    """The station each satellite downlinks to at one instant, arrays ``(n_sat,)``.

    ``station_row`` is the row in ``Stations`` (intp, -1 when no antenna is granted);
    ``downlink_mbps`` the granted rate (0 when none); ``elevation_deg`` the satellite's
    elevation at the granted station (NaN when none).
    """

    station_row: np.ndarray
    downlink_mbps: np.ndarray
    elevation_deg: np.ndarray


def assign_contacts(
    elev_deg: np.ndarray, stations: Stations, in_view: np.ndarray | None = None
) -> Contacts:
    """Grant station antennas to visible satellites, highest elevation first.

    Each station offers its ``antennas`` to its visible satellites of highest elevation
    (``argpartition`` then a sort of the top rows along the satellite axis, all stations at
    once); a satellite granted by several stations keeps the one where it is highest. This
    greedy scheme is not a maximum matching: the antenna a satellite turns down stays unused
    for that instant even when another visible satellite could have taken it.

    Parameters
    ----------
    elev_deg : (n_sat, n_st) elevations (deg) at one instant.
    in_view : ``visible(elev_deg, stations)`` when the caller has it already.

    Returns
    -------
    Contacts with arrays ``(n_sat,)``.
    """
    elev_deg = np.asarray(elev_deg, dtype=np.float64)
    if elev_deg.ndim != 2 or elev_deg.shape[1] != stations.n_st:
        raise ValueError(f"elev_deg: shape {elev_deg.shape} is not (n_sat, {stations.n_st})")
    n_sat = elev_deg.shape[0]
    station_row = np.full(n_sat, -1, dtype=np.intp)
    downlink_mbps = np.zeros(n_sat)
    granted_deg = np.full(n_sat, np.nan)
    k = min(int(stations.antennas.max(initial=0)), n_sat)
    if k == 0:
        return Contacts(station_row, downlink_mbps, granted_deg)
    in_view = visible(elev_deg, stations) if in_view is None else in_view
    # Stations as rows, satellites contiguous: partitioning along a contiguous axis is ~4x
    # faster than down the strided satellite axis.
    key_t = np.where(in_view.T, -elev_deg.T, np.inf)  # not visible sorts last
    top = np.argpartition(key_t, k - 1, axis=1)[:, :k].T  # (k, n_st) best k rows, unsorted
    key = np.where(in_view, elev_deg, -np.inf)
    top_deg = np.take_along_axis(key, top, axis=0)
    order = np.argsort(-top_deg, axis=0, kind="stable")
    sat = np.take_along_axis(top, order, axis=0)  # (k, n_st), rank along axis 0
    sat_deg = np.take_along_axis(top_deg, order, axis=0)
    rank = np.arange(k)[:, np.newaxis]
    granted = (rank < stations.antennas) & (sat_deg > -np.inf)
    rank_rows, st = np.nonzero(granted)
    sat, sat_deg = sat[rank_rows, st], sat_deg[rank_rows, st]
    best = np.argsort(-sat_deg, kind="stable")  # each satellite keeps its highest grant
    sat, st, sat_deg = sat[best], st[best], sat_deg[best]
    _, first = np.unique(sat, return_index=True)
    sat, st = sat[first], st[first]
    station_row[sat] = st
    downlink_mbps[sat] = stations.downlink_mbps[st]
    granted_deg[sat] = sat_deg[first]
    return Contacts(station_row, downlink_mbps, granted_deg)


# The geodetic zenith leans from the geocentric by at most 0.193° (WGS84): the cone of a
# station is widened by this much, and a margin, so that no visible satellite falls outside.
VERTICAL_DEFLECTION_DEG = 0.2
REACH_MARGIN_DEG = 0.5
CELL_DEG = 5.0  # side of the latitude-longitude cells satellites are binned in


@dataclass(frozen=True)
class Reach:
    """Which cells of a latitude-longitude grid each station can see a satellite in, for
    satellites no farther than ``max_radius_km`` from the Earth's centre (``make_reach``).

    ``station`` and ``cell`` (n_pair,) intp: every (station, cell) pair within the station's
    cone; ``n_lat`` bands of ``n_lon`` cells, ``cell_deg`` their side."""

    station: np.ndarray
    cell: np.ndarray
    max_radius_km: float
    n_lat: int
    n_lon: int
    cell_deg: float


def make_reach(stations: Stations, max_radius_km: float, cell_deg: float = CELL_DEG) -> Reach:
    """The cells each station's cone reaches: a satellite at radius r is seen at elevation e
    or more only within the central angle arccos(ρ·cos e / r) − e of the station's
    geocentric direction (ρ its geocentric radius), e lowered by the zenith's deflection and
    the angle widened by a margin; a cell is in reach when its centre is within that angle
    plus the distance from its centre to its farthest corner. Stations × cells, once a run."""
    n_lat, n_lon = round(180.0 / cell_deg), round(360.0 / cell_deg)
    lat0 = np.radians(-90.0 + cell_deg * np.arange(n_lat))
    lon0 = np.radians(-180.0 + cell_deg * np.arange(n_lon))
    step = np.radians(cell_deg)
    lat_c, lon_c = np.meshgrid(lat0 + step / 2, lon0 + step / 2, indexing="ij")  # (n_lat, n_lon)
    centre = _unit(lat_c.ravel(), lon_c.ravel())  # (3, n_cell)
    corners = [
        _unit((lat_c + dy).ravel(), (lon_c + dx).ravel())
        for dy in (-step / 2, step / 2)
        for dx in (-step / 2, step / 2)
    ]
    half = np.max([_angle(centre, c) for c in corners], axis=0)  # (n_cell,) rad
    rho = np.linalg.norm(stations.r_itrs_km, axis=0)  # (n_st,)
    low = np.radians(stations.min_elevation_deg - VERTICAL_DEFLECTION_DEG)
    cone = np.arccos(np.clip(rho * np.cos(low) / max_radius_km, -1.0, 1.0)) - low
    cone += np.radians(REACH_MARGIN_DEG)
    station_dir = stations.r_itrs_km / rho  # (3, n_st)
    apart = np.arccos(np.clip(station_dir.T @ centre, -1.0, 1.0))  # (n_st, n_cell)
    station, cell = np.nonzero(apart <= cone[:, None] + half[None, :])
    return Reach(station, cell, float(max_radius_km), n_lat, n_lon, float(cell_deg))


def _unit(lat_rad: np.ndarray, lon_rad: np.ndarray) -> np.ndarray:
    """(3, n) unit vectors of geocentric latitudes and longitudes."""
    cos_lat = np.cos(lat_rad)
    return np.stack([cos_lat * np.cos(lon_rad), cos_lat * np.sin(lon_rad), np.sin(lat_rad)])


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) angle between unit vectors (3, n), rad."""
    return np.arccos(np.clip(np.einsum("kn,kn->n", a, b), -1.0, 1.0))


def visible_pairs(
    r_itrs_km: np.ndarray, stations: Stations, reach: Reach | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every satellite–station pair at or above the station's mask at one instant, found
    without looking at every pair: satellites binned in ``reach``'s cells (one sort), each
    station's candidates gathered from the cells in its cone, the exact elevation
    (``elevation_deg``'s geometry) computed for candidates only. The cost grows with the
    satellites in view of some station, not with satellites × stations.

    Parameters
    ----------
    r_itrs_km : (3, n_sat) Earth-fixed positions (km); NaN rows (failed SGP4) are never seen.
    reach : from ``make_reach``; None, or one made for lower satellites: made here.

    Returns
    -------
    sat, station : (m,) intp rows of the visible pairs, grouped by station (satellites in
        no particular order within a station).
    elevation : (m,) float64 their elevations (deg).
    """
    r = np.asarray(r_itrs_km, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != 3:
        raise ValueError(f"r_itrs_km: shape {r.shape} is not (3, n_sat)")
    radius = np.linalg.norm(r, axis=0)
    ok = np.isfinite(radius) & (radius > 0)
    highest = float(radius[ok].max()) if ok.any() else 0.0
    if reach is None or highest > reach.max_radius_km:
        reach = make_reach(stations, max(highest, 1.0))
    rows = np.flatnonzero(ok)
    lat = np.degrees(np.arcsin(np.clip(r[2, rows] / radius[rows], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(r[1, rows], r[0, rows]))
    lat_i = np.minimum(((lat + 90.0) // reach.cell_deg).astype(np.intp), reach.n_lat - 1)
    lon_i = np.minimum(((lon + 180.0) // reach.cell_deg).astype(np.intp), reach.n_lon - 1)
    cell = lat_i * reach.n_lon + lon_i
    if reach.n_lat * reach.n_lon <= 1 << 16:  # numpy sorts 16-bit keys by radix: O(n)
        cell = cell.astype(np.uint16)
    order = np.argsort(cell, kind="stable")
    by_cell = rows[order]  # satellite rows grouped by cell, in row order within a cell
    start = np.searchsorted(cell[order], np.arange(reach.n_lat * reach.n_lon + 1))
    count = np.diff(start)[reach.cell]  # satellites in each (station, cell) pair's cell
    total = int(count.sum())
    station = np.repeat(reach.station, count)
    # Position of each candidate within its cell's run: a ragged arange.
    offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    sat = by_cell[np.repeat(start[:-1][reach.cell], count) + offset]
    # Above the mask where u·d ≥ sin(mask)·|d| (masks are 0..90°): squared, no root, and
    # the elevation's arcsine only for the pairs in view.
    rows_km = np.ascontiguousarray(r.T)  # (n_sat, 3): a satellite's row gathers at once
    d = rows_km[sat] - stations.r_itrs_km.T[station]  # (m, 3)
    up_d = np.einsum("nk,nk->n", stations.up_itrs.T[station], d)
    d2 = np.einsum("nk,nk->n", d, d)
    sin_mask = np.sin(np.radians(stations.min_elevation_deg))[station]
    seen = (up_d >= 0.0) & (up_d * up_d >= sin_mask * sin_mask * d2)
    sat, station = sat[seen], station[seen]
    sin_el = up_d[seen] / np.sqrt(np.maximum(d2[seen], 1e-12))
    elevation = np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0)))
    # The squared test and the arcsine may disagree in the last bit at the mask itself:
    # the elevation decides, as ``visible`` does.
    keep = elevation >= stations.min_elevation_deg[station]
    return sat[keep], station[keep], elevation[keep]


def assign_pairs(
    sat: np.ndarray, station: np.ndarray, elevation: np.ndarray, stations: Stations, n_sat: int
) -> Contacts:
    """``assign_contacts`` over the visible pairs only (``visible_pairs``): each station's
    antennas to its visible satellites of highest elevation (a partition per station with a
    satellite in view: stations, not satellites, are looped over), a satellite granted by
    several stations keeping the one where it is highest. Returns Contacts, arrays (n_sat,)."""
    station_row = np.full(n_sat, -1, dtype=np.intp)
    downlink_mbps = np.zeros(n_sat)
    granted_deg = np.full(n_sat, np.nan)
    key = station.astype(np.uint16) if stations.n_st <= 1 << 16 else station
    by = np.argsort(key, kind="stable")  # grouped by station (radix sort for 16-bit keys)
    sat, station, elevation = sat[by], station[by], elevation[by]
    bounds = np.searchsorted(station, np.arange(stations.n_st + 1))
    offered = []
    for st in np.flatnonzero(np.diff(bounds) > 0).tolist():  # over stations with a satellite
        a, b = int(bounds[st]), int(bounds[st + 1])
        k = int(stations.antennas[st])
        if b - a <= k:
            offered.append(np.arange(a, b))
        else:  # the k highest of the station's satellites, in no order
            offered.append(a + np.argpartition(-elevation[a:b], k - 1)[:k])
    if not offered:
        return Contacts(station_row, downlink_mbps, granted_deg)
    pick = np.concatenate(offered)
    sat, station, elevation = sat[pick], station[pick], elevation[pick]
    best = np.argsort(-elevation, kind="stable")  # each satellite keeps its highest grant
    sat, station, elevation = sat[best], station[best], elevation[best]
    _, first = np.unique(sat, return_index=True)
    station_row[sat[first]] = station[first]
    downlink_mbps[sat[first]] = stations.downlink_mbps[station[first]]
    granted_deg[sat[first]] = elevation[first]
    return Contacts(station_row, downlink_mbps, granted_deg)


def pass_changes(
    visible_before: np.ndarray, visible_now: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Acquisitions (AOS, False→True) and losses (LOS, True→False) of signal between two ticks.

    Parameters
    ----------
    visible_before, visible_now : (n_sat, n_st) bool visibility at consecutive ticks.

    Returns
    -------
    sat_rows, station_rows : (n_change,) intp rows of the changed pairs, in row-major order.
    aos : (n_change,) bool, True for an AOS, False for a LOS.
    """
    before = np.asarray(visible_before, dtype=bool)
    now = np.asarray(visible_now, dtype=bool)
    if before.shape != now.shape or now.ndim != 2:
        raise ValueError(
            f"visible_before, visible_now: shapes {before.shape} and {now.shape} are not the "
            "same (n_sat, n_st)"
        )
    sat_rows, station_rows = np.nonzero(before != now)
    return sat_rows, station_rows, now[sat_rows, station_rows]


__all__ = [
    "DEFAULT_STATIONS",
    "Contacts",
    "Reach",
    "StationError",
    "Stations",
    "assign_contacts",
    "assign_pairs",
    "elevation_deg",
    "geodetic_to_itrs",
    "load_stations",
    "make_reach",
    "pass_changes",
    "stations_from_arrays",
    "visible",
    "visible_pairs",
]

"""Eclipse and contact windows ahead of a fleet, each crossing refined between steps.

The fleet is propagated on a grid of ``step_ns`` over the horizon, a chunk of times at a
time (one SGP4 call per chunk for the whole fleet); a crossing is where a smooth function
changes sign between two grid times, and its instant is the root of the cubic through the
four grid values around it (the two-point line where the grid has no neighbour), so its
error is far below the step:

- **eclipse**: the Sun's centre below the Earth's limb, the sign of
  ``twin.physics.sun.Sunlight.limb_margin_rad`` (what the engine's ``sunlit`` and its
  eclipse events use: entry and exit at the middle of the penumbra);
- **contact**: a satellite at or above a station's elevation mask, the sign of
  ``elevation_deg − min_elevation_deg`` (``twin.payload.ground``'s geometry).

A window open at the horizon's start or end is cut there and flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.fleet.constellation import Fleet
from twin.payload import ground
from twin.physics import sun
from twin.physics.orbit import propagate

MAX_VALUES_PER_CHUNK = 4_000_000  # satellite × station × time values held at once
ECLIPSE, CONTACT = "eclipse", "contact"


@dataclass(frozen=True)
class Windows:
    """Windows of one kind, each (m,): ``sat_row`` (fleet row), ``station_row`` (-1 for an
    eclipse), ``start_ns``, ``end_ns`` int64 (cut at the horizon where ``open_start`` or
    ``open_end``)."""

    kind: str
    sat_row: np.ndarray
    station_row: np.ndarray
    start_ns: np.ndarray
    end_ns: np.ndarray
    open_start: np.ndarray
    open_end: np.ndarray


def windows(
    fleet: Fleet,
    stations: ground.Stations,
    start_ns: int,
    horizon_ns: int,
    step_ns: int,
) -> tuple[Windows, Windows]:
    """(eclipse windows, contact windows) of every satellite over ``horizon_ns`` from
    ``start_ns``, the grid ``step_ns`` apart (see the module docstring); the horizon spans
    one step at least."""
    if horizon_ns < step_ns or step_ns <= 0:
        raise ValueError(f"horizon {horizon_ns} ns: not one step of {step_ns} ns")
    n_time = int(horizon_ns // step_ns) + 1
    grid_ns = start_ns + np.arange(n_time, dtype=np.int64) * step_ns
    per_time = fleet.n_sat * max(stations.n_st, 1)
    chunk = max(4, MAX_VALUES_PER_CHUNK // max(per_time, 1))
    eclipse_events, contact_events = [], []
    first_eclipse = first_contact = np.zeros((fleet.n_sat, 0), bool)
    # Chunks overlap by three grid times, so that every crossing has its four values.
    a = 0
    while a < n_time - 1:
        b = min(n_time, a + chunk)
        lo = max(a - 1, 0)
        hi = min(b + 2, n_time)
        t_ns = grid_ns[lo:hi]
        orbit = propagate(fleet.satrecs, t_ns)
        sun_km = sun.sun_teme_km(t_ns)[:, None, :]
        margin = sun.sunlight(orbit.r_teme_km, sun_km).limb_margin_rad  # (n_sat, T)
        elevation = _elevations(orbit.r_itrs_km, stations)  # (n_sat, n_st, T)
        above = elevation - stations.min_elevation_deg[None, :, None]
        if a == 0:
            first_eclipse = (-margin[:, :1]) >= 0  # (n_sat, 1)
            first_contact = above[:, :, 0] >= 0
        eclipse_events.append(_crossings(-margin, t_ns, a - lo, b - lo, step_ns))
        contact_events.append(_crossings(above, t_ns, a - lo, b - lo, step_ns))
        a = b - 1
    end_ns = int(grid_ns[-1])
    return (
        _windows(ECLIPSE, eclipse_events, first_eclipse, start_ns, end_ns),
        _windows(CONTACT, contact_events, first_contact, start_ns, end_ns),
    )


def _elevations(r_itrs_km: np.ndarray, stations: ground.Stations) -> np.ndarray:
    """(n_sat, n_st, T) elevations; NaN satellites (failed SGP4) stay NaN."""
    if stations.n_st == 0:
        return np.zeros((r_itrs_km.shape[1], 0, r_itrs_km.shape[2]))
    return ground.elevation_deg(r_itrs_km, stations)


def _crossings(g: np.ndarray, t_ns: np.ndarray, a: int, b: int, step_ns: int) -> tuple:
    """Sign changes of ``g`` (n_sat, T) or (n_sat, n_st, T) (``g >= 0`` is "in") between
    grid times k and k+1 for k in [a, b - 1): (satellite rows, station rows (0 without a
    station axis), crossing times ns int64, rising bool: into the "in" state), each (c,)."""
    inside = g >= 0
    k_axis = np.arange(a, b - 1)
    changed = inside[..., a : b - 1] != inside[..., a + 1 : b]
    where = np.nonzero(changed)
    lead, k = where[:-1], k_axis[where[-1]]
    g0, g1 = g[(*lead, k)], g[(*lead, k + 1)]
    rising = ~inside[(*lead, k)]
    # The line through (k, g0), (k+1, g1), then a Newton step on the cubic through four.
    frac = np.clip(g0 / np.where(g0 != g1, g0 - g1, 1.0), 0.0, 1.0)
    four = (k >= 1) & (k + 2 < g.shape[-1])
    if four.any():
        kk = k[four]
        lead4 = tuple(x[four] for x in lead)
        gm, g2 = g[(*lead4, kk - 1)], g[(*lead4, kk + 2)]
        frac[four] = _cubic_root(gm, g0[four], g1[four], g2, frac[four])
    ok = np.isfinite(frac)
    instant = t_ns[k[ok]] + np.rint(frac[ok] * step_ns).astype(np.int64)
    station = lead[1] if len(lead) > 1 else np.zeros(lead[0].shape, np.intp)
    return lead[0][ok], station[ok], instant, rising[ok]


def _cubic_root(gm, g0, g1, g2, x):
    """Roots in [0, 1] of the cubic through (-1, gm), (0, g0), (1, g1), (2, g2), by two
    Newton steps from ``x`` (kept within the interval)."""
    # Lagrange form expanded: p(x) = c0 + c1 x + c2 x² + c3 x³
    c0 = g0
    c1 = -gm / 3.0 - g0 / 2.0 + g1 - g2 / 6.0
    c2 = gm / 2.0 - g0 + g1 / 2.0
    c3 = -gm / 6.0 + g0 / 2.0 - g1 / 2.0 + g2 / 6.0
    for _ in range(2):
        value = c0 + x * (c1 + x * (c2 + x * c3))
        slope = c1 + x * (2.0 * c2 + 3.0 * x * c3)
        x = np.clip(x - value / np.where(slope != 0, slope, np.inf), 0.0, 1.0)
    return x


def _windows(kind: str, events: list[tuple], first_in: np.ndarray, start_ns, end_ns) -> Windows:
    """Windows from the crossings of every chunk (``_crossings``) and the state at the start,
    ``first_in`` (n_sat, n_key) bool."""
    sat, key, t, rising = (np.concatenate(column) for column in zip(*events, strict=True))
    # A window open at the start is a rising at start_ns; one still open at the end closes
    # at end_ns.
    s0, k0 = np.nonzero(first_in)
    opened = np.r_[np.ones(s0.shape, bool), np.zeros(t.shape, bool)]
    sat, key = np.r_[s0, sat], np.r_[k0, key]
    t = np.r_[np.full(s0.shape, start_ns, np.int64), t]
    rising = np.r_[np.ones(s0.shape, bool), rising]
    order = np.lexsort((~rising, t, key, sat))  # a rising before a setting at one instant
    sat, key, t, rising, opened = sat[order], key[order], t[order], rising[order], opened[order]
    pair = sat * max(first_in.shape[1], 1) + key
    # Each rising is closed by the next event of its (satellite, key) if that is a setting.
    closed_by_next = np.r_[(pair[1:] == pair[:-1]) & ~rising[1:], False]
    starts = np.flatnonzero(rising)
    has_end = closed_by_next[starts]
    end = np.where(has_end, t[np.minimum(starts + 1, t.shape[0] - 1)], end_ns)
    return Windows(
        kind,
        sat[starts].astype(np.intp),
        (np.full(starts.shape, -1) if kind == ECLIPSE else key[starts]).astype(np.intp),
        t[starts],
        end.astype(np.int64),
        opened[starts],
        ~has_end,
    )

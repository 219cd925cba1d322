"""The plots of ``twin report``, drawn with matplotlib's object API (no pyplot, no global
state) into PNG bytes. Each function takes a ``twin.app.report.ReportData`` and returns a
``Plot``; an empty source still gives a figure, with a "no data" note.

Coastlines: ``twin/data/coastlines-110m.npz``, Natural Earth 1:110m land (public domain) via
the npm package world-atlas (ISC), made by ``scripts/make_coastlines.py``.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import matplotlib.dates as mdates
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from twin.core.settings import PACKAGE_DATA

if TYPE_CHECKING:
    from twin.app.report import ReportData

COASTLINES = PACKAGE_DATA / "coastlines-110m.npz"
DPI = 100
WIDTH_IN = 12.0
TRACK_GAP_DAYS = 3.0 / 1440  # a track is broken where samples are further apart (3 minutes)
NO_DATA_COLOR = "#8a1c1c"
ANOMALY_ROWS_AT_MOST = 40  # satellites drawn in the anomaly timeline


@dataclass(frozen=True)
class Plot:
    """One figure of the report: its element id, title, caption and PNG bytes."""

    figure_id: str
    title: str
    caption: str
    png: bytes


@functools.cache
def load_coastlines() -> tuple[np.ndarray, np.ndarray]:
    """Coastline polylines: ``lonlat_deg`` (n_point, 2) float32 degrees and ``starts``
    (n_line,) int32, the first point of each polyline (a polyline runs to the next start)."""
    with np.load(COASTLINES, allow_pickle=False) as data:
        return data["lonlat_deg"], data["starts"]


def coastline_polylines() -> list[np.ndarray]:
    """The coastlines as a list of (n, 2) arrays of longitude, latitude (degrees)."""
    lonlat, starts = load_coastlines()
    return np.split(lonlat, starts[1:])


def break_track(
    t_days: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A ground track ready to draw: (lon, lat) with NaN breaks where samples are more than
    ``TRACK_GAP_DAYS`` apart, and, where it crosses the antimeridian, points added on ±180°
    at the interpolated latitude on both sides of the break. Inputs (n,), t in days."""
    lon, lat = [], []
    for i in range(len(lon_deg)):
        if i:
            dlon = lon_deg[i] - lon_deg[i - 1]
            if t_days[i] - t_days[i - 1] > TRACK_GAP_DAYS:
                lon.append(np.nan)
                lat.append(np.nan)
            elif abs(dlon) > 180.0:
                edge = 180.0 if dlon < 0 else -180.0  # eastward crossing leaves through +180
                unwrapped = lon_deg[i] + 2 * edge
                f = (edge - lon_deg[i - 1]) / (unwrapped - lon_deg[i - 1])
                lat_edge = lat_deg[i - 1] + f * (lat_deg[i] - lat_deg[i - 1])
                lon += [edge, np.nan, -edge]
                lat += [lat_edge, np.nan, lat_edge]
        lon.append(lon_deg[i])
        lat.append(lat_deg[i])
    return np.array(lon, dtype=float), np.array(lat, dtype=float)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _no_data(ax, note: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"No data: {note}",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=16,
        color=NO_DATA_COLOR,
        bbox={"boxstyle": "round", "facecolor": "#fbeaea", "edgecolor": NO_DATA_COLOR},
    )


def _days(times: list[datetime]) -> np.ndarray:
    return np.asarray(mdates.date2num(times), dtype=float).reshape(-1)


def _time_axis(ax, d: ReportData) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if d.since and d.until:
        ax.set_xlim(mdates.date2num(d.since), mdates.date2num(d.until))
    ax.set_xlabel("time (UTC)")


def satellite_colors(d: ReportData) -> dict[int, tuple]:
    """One colour per satellite drawn, the same in every figure."""
    ids = list(dict.fromkeys([w.sat_id for w in d.worst] + list(d.tracks)))
    palette = colormaps["tab20" if len(ids) > 10 else "tab10"]
    return {sat: palette(i % palette.N) for i, sat in enumerate(ids)}


def ground_tracks(d: ReportData) -> Plot:
    fig = Figure(figsize=(WIDTH_IN, 5.3), layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor("#e8f1f8")
    for line in coastline_polylines():
        ax.plot(line[:, 0], line[:, 1], color="#4d4d4d", lw=0.7)
    if d.stations:
        st = np.array([(s[3], s[2]) for s in d.stations], dtype=float)
        ax.plot(st[:, 0], st[:, 1], "k^", ms=5, label="ground station")
    colors = satellite_colors(d)
    worst = {w.sat_id: " and ".join(w.why) for w in d.worst}
    for sat, (times, lat, lon) in d.tracks.items():
        x, y = break_track(_days(times), lat, lon)
        label = f"sat {sat}" + (f" ({worst[sat]})" if sat in worst else "")
        ax.plot(x, y, color=colors[sat], lw=2.0 if sat in worst else 1.0, label=label)
        ax.plot(lon[-1:], lat[-1:], "o", color=colors[sat], ms=5)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_xticks(range(-180, 181, 30))
    ax.set_yticks(range(-90, 91, 30))
    ax.set_aspect("equal")
    ax.grid(color="white", lw=0.6)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    if d.tracks:
        fig.legend(loc="outside right upper", fontsize=8)
        span = f"{d.track_since:%Y-%m-%d %H:%M} to {d.until:%H:%M} UTC"
        caption = (
            f"Ground tracks of {len(d.tracks)} satellites from {span} (at most one sample per "
            "minute; a dot marks the last position): the worst satellites (thick) and others "
            "spread over the fleet; ground stations as triangles. Coastlines: Natural Earth "
            "1:110m."
        )
    else:
        _no_data(ax, "no positions in the span")
        caption = "No satellite reported a position in the span. Coastlines: Natural Earth 1:110m."
    return Plot("ground-tracks", "Ground tracks", caption, _png(fig))


def worst_satellites(d: ReportData) -> Plot:
    fig = Figure(figsize=(WIDTH_IN, 6.4), layout="constrained")
    soc_ax, temp_ax = fig.subplots(2, 1, sharex=True)
    colors = satellite_colors(d)
    worst = {w.sat_id: w for w in d.worst}
    for sat, (times, soc, temp) in d.series.items():
        t = _days(times)
        label = f"sat {sat} ({' and '.join(worst[sat].why)})" if sat in worst else f"sat {sat}"
        soc_ax.plot(t, soc, color=colors.get(sat), lw=1.5, label=label)
        temp_ax.plot(t, temp, color=colors.get(sat), lw=1.5)
    soc_ax.set_ylabel("lowest state of charge")
    soc_ax.set_ylim(0, 1.02)
    temp_ax.set_ylabel("hottest payload (°C)")
    for ax in (soc_ax, temp_ax):
        ax.grid(alpha=0.3)
    _time_axis(temp_ax, d)
    soc_ax.set_xlabel("")
    if d.series:
        fig.legend(loc="outside right upper", fontsize=8)
        low = [w for w in d.worst if "lowest SoC" in w.why]
        hot = [w for w in d.worst if "hottest payload" in w.why]
        caption = (
            "State of charge (lowest per bucket) and payload temperature (hottest per bucket) "
            f"of the satellites with the lowest minimum state of charge: "
            f"{', '.join(f'sat {w.sat_id} ({w.soc_min:.2f})' for w in low) or 'none'}; and "
            f"with the hottest payload: "
            f"{', '.join(f'sat {w.sat_id} ({w.temp_payload_max_c:.1f} °C)' for w in hot) or 'none'}"
            f". Buckets of {_bucket_text(d)}."
        )
    else:
        _no_data(soc_ax, "no power or thermal telemetry in the span")
        caption = "No satellite reported state of charge or payload temperature in the span."
    return Plot("worst-satellites", "Worst satellites", caption, _png(fig))


def _bucket_text(d: ReportData) -> str:
    minutes = round(d.bucket.total_seconds() / 60)
    return "one minute" if minutes == 1 else f"{minutes} minutes"


def fleet_compute(d: ReportData) -> Plot:
    fig = Figure(figsize=(WIDTH_IN, 4.2), layout="constrained")
    ax = fig.add_subplot()
    sun = ax.twinx()
    _time_axis(ax, d)
    ax.set_ylabel("delivered compute (TOPS)", color="tab:blue")
    sun.set_ylabel("sunlit share of the fleet (%)", color="tab:orange")
    sun.set_ylim(0, 105)
    if d.fleet_times:
        t = _days(d.fleet_times)
        sun.fill_between(t, 100 * d.fleet_sunlit, color="tab:orange", alpha=0.2, lw=0)
        sun.plot(t, 100 * d.fleet_sunlit, color="tab:orange", lw=1.2)
        ax.plot(t, d.fleet_tops, color="tab:blue", lw=1.8)
        ax.set_zorder(sun.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.legend(
            handles=[
                Line2D([], [], color="tab:blue", lw=1.8, label="delivered TOPS (fleet sum)"),
                Patch(color="tab:orange", alpha=0.4, label="sunlit share"),
            ],
            loc="lower left",
            fontsize=8,
        )
        how = "fleet_1m rollup" if d.exact else "one tick sampled per bucket"
        caption = (
            f"Compute the fleet delivered (sum of every satellite's TOPS) against the share of "
            f"satellites in sunlight, mean per bucket of {_bucket_text(d)} ({how}); mean "
            f"{np.nanmean(d.fleet_tops):,.0f} TOPS."
        )
    else:
        _no_data(ax, "no fleet rollup in the span")
        caption = "No fleet compute or sunlight in the span."
    return Plot("fleet-compute", "Fleet compute and sunlight", caption, _png(fig))


def contacts(d: ReportData) -> Plot:
    names = {s[0]: s[1] for s in d.stations}
    used = sorted({c[0] for c in d.contacts})
    fig = Figure(figsize=(WIDTH_IN, 1.6 + 0.28 * max(len(used), 4)), layout="constrained")
    ax = fig.add_subplot()
    _time_axis(ax, d)
    if used:
        row = {station: i for i, station in enumerate(used)}
        aos = _days([c[1] for c in d.contacts])
        los = _days([c[2] for c in d.contacts])
        rows = np.array([row[c[0]] for c in d.contacts])
        palette = colormaps["tab10"]
        for i in row.values():
            mine = rows == i
            spans = list(zip(aos[mine], (los - aos)[mine], strict=True))
            ax.broken_barh(spans, (i - 0.35, 0.7), color=palette(i % 10), alpha=0.75)
        ax.set_yticks(range(len(used)), [names.get(s, f"station {s}") for s in used], fontsize=8)
        ax.set_ylim(len(used) - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
        acquired = len(d.contacts) - d.contacts_in_progress
        caption = (
            f"{len(d.contacts):,} contacts (AOS to LOS, from the events table: {acquired:,} "
            f"acquired in the span, as a run's summary counts them, and "
            f"{d.contacts_in_progress:,} already in progress at its start) at {len(used)} of "
            f"{len(d.stations)} ground stations; bars overlap where several satellites are in "
            "contact with a station at once."
        )
    else:
        ax.set_yticks([])
        _no_data(ax, "no contacts in the span")
        caption = f"No contact with any of the {len(d.stations)} ground stations in the span."
    return Plot("contacts", "Ground-station contacts", caption, _png(fig))


def _anomaly_rows(d: ReportData) -> tuple[list[int | None], int]:
    """Rows of the anomaly timeline: the fleet (when it has anomalies), then satellites with
    faults or anomalies, most anomalies first, at most ``ANOMALY_ROWS_AT_MOST``; and how
    many satellites were left out."""
    counts: dict[int | None, int] = {}
    for a in d.anomalies:
        counts[a[0]] = counts.get(a[0], 0) + 1
    faulty = {f[0] for f in d.faults}
    sats = sorted(
        set(counts) - {None} | faulty, key=lambda s: (s not in faulty, -counts.get(s, 0), s)
    )
    shown = sorted(sats[:ANOMALY_ROWS_AT_MOST])
    return ([None] if None in counts else []) + shown, len(sats) - len(shown)


def anomalies(d: ReportData) -> Plot:
    rows, hidden = _anomaly_rows(d)
    fig = Figure(figsize=(WIDTH_IN, 1.8 + 0.3 * max(len(rows), 4)), layout="constrained")
    ax = fig.add_subplot()
    _time_axis(ax, d)
    if not rows:
        ax.set_yticks([])
        _no_data(ax, "no anomalies and no injected faults in the span")
        caption = "No anomaly was open in the span" + (
            f" and scored run {d.score_id} injected no fault in it." if d.score_id else "."
        )
        return Plot("anomalies", "Anomalies", caption, _png(fig))
    y = {sat: i for i, sat in enumerate(rows)}
    end = mdates.date2num(d.until)
    rules = sorted({a[1] for a in d.anomalies if a[0] in y})
    palette = colormaps["tab20" if len(rules) > 10 else "tab10"]
    color = {rule: palette(i % palette.N) for i, rule in enumerate(rules)}
    for rule in rules:
        mine = [a for a in d.anomalies if a[1] == rule and a[0] in y]
        for sat in {a[0] for a in mine}:
            bars = [
                (
                    mdates.date2num(a[3]),
                    (end if a[4] is None else mdates.date2num(a[4])) - mdates.date2num(a[3]),
                )
                for a in mine
                if a[0] == sat
            ]
            ax.broken_barh(bars, (y[sat] - 0.3, 0.6), color=color[rule])
    handles = [Patch(color=color[rule], label=rule) for rule in rules]
    faults = [f for f in d.faults if f[0] in y]
    for sat, kind, onset, ends in faults:
        t0 = mdates.date2num(onset)
        t1 = end if ends is None else mdates.date2num(ends)
        ax.plot([t0, t1], [y[sat] + 0.38] * 2, color="black", lw=1.5)
        ax.plot([t0], [y[sat] + 0.38], marker="v", color="black", ms=7)
        ax.annotate(kind, (t0, y[sat] + 0.38), xytext=(4, -9), textcoords="offset points",
                    fontsize=7)  # fmt: skip
    if faults:
        handles.append(
            Line2D([], [], color="black", marker="v", lw=1.5, label="injected fault (onset, end)")
        )
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    ax.set_yticks(range(len(rows)), ["fleet" if s is None else f"sat {s}" for s in rows])
    ax.set_ylim(len(rows) - 0.05, -0.6)  # room for the last row's fault label
    ax.grid(axis="x", alpha=0.3)
    shown = sum(a[0] in y for a in d.anomalies)
    caption = (
        f"{shown:,} anomalies (audit_anomaly_history) from opened to closed, open ones to the "
        "end of the span, coloured by rule"
    )
    if d.score_id is not None:
        caption += (
            f"; {len(faults)} faults injected by scored run {d.score_id} (fault_truth) marked at "
            "their onset, with a line to their end"
        )
    caption += f"; {hidden} more satellites not shown." if hidden else "."
    return Plot("anomalies", "Anomalies and injected faults", caption, _png(fig))


def all_figures(d: ReportData) -> list[Plot]:
    """The report's figures, in the order of ``twin.app.report.FIGURES``."""
    return [ground_tracks(d), worst_satellites(d), fleet_compute(d), contacts(d), anomalies(d)]

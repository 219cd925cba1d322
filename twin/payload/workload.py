"""Where jobs come from: background load, imagery over target regions, and submissions.

Arrivals are drawn for the whole fleet at once: a Poisson count per satellite for the
background load, an edge (entering a target region) for imagery, and a least-loaded choice
for submissions without a satellite.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.core.dice import Dice
from twin.core.settings import PACKAGE_DATA, InputError, check_keys
from twin.fleet.hardware import Hardware
from twin.wire import jobs

DEFAULT_TARGETS = PACKAGE_DATA / "targets.toml"
EARTH_MEAN_RADIUS_KM = 6371.0  # IUGG mean radius, for great-circle distances
TARGET_KEYS = ("name", "lat_deg", "lon_deg", "radius_km")
RANGES = (("lat_deg", -90.0, 90.0), ("lon_deg", -180.0, 180.0), ("radius_km", 1.0, 5000.0))


@dataclass(frozen=True)
class Targets:
    """Imagery target regions as discs on a spherical Earth, arrays (n_target,)."""

    name: tuple[str, ...]
    unit: np.ndarray  # (3, n_target) unit vectors of the centres
    cos_radius: np.ndarray  # cosine of each disc's angular radius


def _unit(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def load_targets(path: Path | str | None = None) -> Targets:
    """Target regions from a TOML file of ``[[targets]]`` (default: the bundled map).

    Raises ``InputError`` naming the file, the target and the key for a bad entry.
    """
    path = Path(path) if path is not None else DEFAULT_TARGETS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: {exc}") from None
    entries = data.get("targets")
    if set(data) != {"targets"} or not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: expected only a non-empty [[targets]] array")
    rows = []
    for i, entry in enumerate(entries):
        where = f"{path.name}: targets[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: {entry!r} is not accepted; expected a table")
        check_keys(entry, where, TARGET_KEYS)
        for key, low, high in RANGES:
            value = entry[key]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not low <= value <= high:
                raise InputError(f"{where}.{key}: {value!r} is not a number in {low}..{high}")
        if not isinstance(entry["name"], str):
            raise InputError(f"{where}.name: {entry['name']!r} is not a string")
        rows.append(entry)
    lat = np.array([r["lat_deg"] for r in rows], np.float64)
    lon = np.array([r["lon_deg"] for r in rows], np.float64)
    radius = np.array([r["radius_km"] for r in rows], np.float64)
    return Targets(
        tuple(r["name"] for r in rows), _unit(lat, lon), np.cos(radius / EARTH_MEAN_RADIUS_KM)
    )


def over_target(lat_deg: np.ndarray, lon_deg: np.ndarray, targets: Targets) -> np.ndarray:
    """(n_sat,) bool: the sub-satellite point lies inside some target region (NaN: False)."""
    cos_angle = np.einsum("in,it->nt", _unit(lat_deg, lon_deg), targets.unit)
    return (cos_angle >= targets.cos_radius).any(axis=1)


def background_counts(hw: Hardware, dt_s: float, dice: Dice) -> np.ndarray:
    """Background jobs arriving on each satellite during one tick, (n_sat,) int64.

    Poisson arrivals whose mean load is ``payload_utilisation`` of the peak TOPS.
    """
    mean = hw.payload_utilisation * hw.accelerator_peak_tops * dt_s / background_work(hw)
    return dice.poisson("background", mean)


def background_work(hw: Hardware) -> np.ndarray:
    """(n_sat,) tera-operations of one background job: the hardware's
    ``background_job_tera_ops``, else its background kind's default."""
    default = np.where(
        hw.background_training,
        jobs.JOB_KINDS["training_step"].work_tera_ops,
        jobs.JOB_KINDS["inference"].work_tera_ops,
    )
    return np.where(hw.background_job_tera_ops > 0, hw.background_job_tera_ops, default)


def imagery_tasks(
    hw: Hardware, over_now: np.ndarray, over_before: np.ndarray, dice: Dice
) -> np.ndarray:
    """(n_sat,) bool: an imagery task arises as the satellite enters a target region."""
    draw = dice.uniform("imagery")
    return over_now & ~over_before & (draw < hw.imagery_per_pass)


def new_jobs(
    hw: Hardware, background: np.ndarray, imagery: np.ndarray, seq: np.ndarray, t_ns: int
) -> tuple[jobs.Jobs, np.ndarray]:
    """Jobs for this tick's arrivals, numbered per satellite; returns (jobs, next seq).

    ``background``: (n_sat,) counts; ``imagery``: (n_sat,) bool; ``seq``: (n_sat,) int64,
    the next job number of each satellite.
    """
    n_bg = np.asarray(background, np.int64)
    n_img = imagery.astype(np.int64)
    if not (n_bg.any() or n_img.any()):
        return jobs.no_jobs(), seq
    sat = np.concatenate([np.repeat(np.arange(n_bg.shape[0]), n_bg), np.nonzero(n_img)[0]]).astype(
        np.intp
    )
    kind = np.concatenate(
        [
            np.where(
                hw.background_training[sat[: n_bg.sum()]],
                jobs.KINDS.index("training_step"),
                jobs.KINDS.index("inference"),
            ),
            np.full(int(n_img.sum()), jobs.KINDS.index("imagery")),
        ]
    ).astype(np.int8)
    origin = np.r_[np.zeros(int(n_bg.sum()), np.int8), np.ones(int(n_img.sum()), np.int8)]
    # Number the new jobs of each satellite consecutively from its counter.
    order = np.argsort(sat, kind="stable")
    rank = np.empty(sat.shape[0], np.int64)
    counts = np.bincount(sat, minlength=seq.shape[0])
    starts = np.cumsum(counts) - counts
    rank[order] = np.arange(sat.shape[0]) - starts[sat[order]]
    key = seq[sat] + rank
    made = jobs.of_kind(kind, sat, key, 0, t_ns)
    work = np.where(origin == 0, background_work(hw)[sat], made.work_tera_ops)
    made = made.update(origin=origin, work_tera_ops=work, remaining_tera_ops=work.copy())
    return made, seq + counts


def least_loaded(queued_tera_ops: np.ndarray, hw: Hardware, available: np.ndarray) -> int:
    """The fleet row with the shortest queue in time (work ÷ peak TOPS) among ``available``
    satellites, or -1 when none is available."""
    if not available.any():
        return -1
    wait_s = queued_tera_ops / np.maximum(hw.accelerator_peak_tops, 1e-9)
    return int(np.argmin(np.where(available, wait_s, np.inf)))

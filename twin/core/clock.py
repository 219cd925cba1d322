"""Simulation time: int64 nanoseconds since the Unix epoch (UTC, POSIX seconds).

Time is converted to Julian dates only at the SGP4/skyfield edge, here, in one place.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from skyfield.api import load

from twin.core.errors import InputError

NS_PER_S = 1_000_000_000
NS_PER_US = 1_000
NS_PER_DAY = 86_400 * NS_PER_S
JD_UNIX_EPOCH = 2440587.5  # Julian date of 1970-01-01T00:00:00 UTC

_TIMESCALE = None


def timescale():
    """The skyfield timescale, built from the data bundled with skyfield (no download)."""
    global _TIMESCALE
    if _TIMESCALE is None:
        _TIMESCALE = load.timescale(builtin=True)
    return _TIMESCALE


@dataclass(frozen=True)
class JulianTimes:
    """Julian dates split into whole and fraction parts, each of shape ``t_ns.shape``.

    ``jd_utc + fr_utc`` is the UTC Julian date SGP4 expects (AIAA 2006-6753 treats element
    epochs as UTC); ``jd_ut1 + fr_ut1`` is UT1 for Earth rotation.
    """

    jd_utc: np.ndarray
    fr_utc: np.ndarray
    jd_ut1: np.ndarray
    fr_ut1: np.ndarray


def julian(t_ns: np.ndarray | int) -> JulianTimes:
    """Convert simulation times (int64 ns since the Unix epoch, any shape) to Julian dates.

    Whole days are kept exact; the fraction carries the seconds of the day, so precision
    stays at the nanosecond level rather than the ~0.2 µs of a single float64 JD.
    """
    t_ns = np.asarray(t_ns, dtype=np.int64)
    days, ns_of_day = np.divmod(t_ns, NS_PER_DAY)
    fr_utc = ns_of_day / NS_PER_DAY
    t = timescale().utc(1970, 1, 1 + days, 0, 0, ns_of_day / NS_PER_S)
    return JulianTimes(
        jd_utc=JD_UNIX_EPOCH + days.astype(np.float64),
        fr_utc=np.asarray(fr_utc, dtype=np.float64),
        jd_ut1=np.asarray(t.whole, dtype=np.float64),
        fr_ut1=np.asarray(t.ut1_fraction, dtype=np.float64),
    )


def skyfield_time(t_ns: np.ndarray | int):
    """A skyfield ``Time`` for simulation times (used by tests and the Sun ephemeris)."""
    t_ns = np.asarray(t_ns, dtype=np.int64)
    days, ns_of_day = np.divmod(t_ns, NS_PER_DAY)
    return timescale().utc(1970, 1, 1 + days, 0, 0, ns_of_day / NS_PER_S)


def parse_start(value: str, now_ns: int | None = None) -> int:
    """Parse ``now`` (the next whole second) or an ISO-8601 timestamp (naive means UTC) into
    int64 ns.

    Raises ``ValueError`` naming the value and the accepted forms.
    """
    if value == "now":
        if now_ns is not None:
            return now_ns
        return (time.time_ns() // NS_PER_S + 1) * NS_PER_S
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"start: {value!r} is not a time; use 'now' or ISO-8601 like 2026-03-20T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    whole = int(parsed.replace(microsecond=0).timestamp())
    return whole * NS_PER_S + parsed.microsecond * 1000


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|min|h|d)?\s*$")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "min": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86_400 * NS_PER_S,
}


def parse_duration_ns(field: str, value: str) -> int:
    """Parse ``90``, ``1.5s``, ``10m``, ``2h`` or ``1d`` (bare numbers are seconds) into ns.

    Raises ``InputError`` (a ``ValueError``) naming the field, the value and the accepted
    forms.
    """
    match = _DURATION.match(value)
    if not match:
        raise InputError(
            f"{field}: {value!r} is not a duration; use a number with an optional unit "
            f"({', '.join(_UNIT_NS)}), e.g. 10m or 1s"
        )
    number, unit = match.groups()
    ns = round(float(number) * _UNIT_NS[unit or "s"])
    if ns <= 0:
        raise InputError(f"{field}: {value!r} must be greater than zero")
    return ns


def iso(t_ns: int) -> str:
    """Format a simulation time as ISO-8601 UTC with microseconds."""
    whole, ns = divmod(int(t_ns), NS_PER_S)
    stamp = datetime.fromtimestamp(whole, UTC).replace(microsecond=ns // 1000)
    return stamp.isoformat().replace("+00:00", "Z")

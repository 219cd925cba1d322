"""Grafana's SQL as its PostgreSQL datasource would send it: variables, then macros.

Used to prove the dashboards: every panel and alert query is expanded here exactly as
Grafana expands it, then run against the real databases. Behaviour follows Grafana's
documented PostgreSQL data source (docs/sources/datasources/postgres): template variables
are replaced first, then ``$__name(args)`` macros. A multi-value variable becomes a
comma-separated list of single-quoted values; a single-value one is put in as it is with its
single quotes doubled, *unquoted* (Grafana's ``interpolateVariable``), so a dashboard must
write it ``${name:sqlstring}`` (each value single-quoted) for a crafted value to stay data.
With the TimescaleDB option on, ``$__timeGroup`` becomes ``time_bucket``; without it, epoch
arithmetic.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_MACRO = re.compile(r"\$(__[A-Za-z0-9_]+)\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]")
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$")
_SECONDS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SECONDS["y"] = 365 * 86400.0


def interval_s(text: str) -> float:
    """Seconds of a Grafana interval such as ``'1m'``, ``5s`` or ``1h``."""
    match = _INTERVAL.match(text.strip().strip("'"))
    if not match:
        raise ValueError(f"interval: {text!r} is not like 30s, 1m, 1h")
    return float(match[1]) * _SECONDS[match[2]]


def _rfc3339(t: datetime) -> str:
    """Grafana's time literal: RFC 3339 in UTC, fractional seconds only when present."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def interpolate(
    sql: str,
    variables: dict[str, list[str] | str],
    time_from: datetime,
    time_to: datetime,
    interval: str,
    timescaledb: bool,
) -> str:
    """The SQL Grafana sends for ``sql`` over ``time_from``..``time_to``.

    ``variables`` maps each dashboard variable to its selected values: a list for a
    multi-value variable, a string for a single-value one; ``$__interval``
    (and ``$__interval_ms``) become ``interval``, which Grafana derives from the range and
    the panel's width.
    """
    builtins = {
        "__interval": interval,
        "__interval_ms": str(int(interval_s(interval) * 1000)),
    }

    def variable(match: re.Match) -> str:
        name, form = match[1] or match[3] or match[4], match[2]
        if name in builtins:
            return builtins[name]
        if name.startswith("__"):
            return match[0]  # a macro: handled below
        if name not in variables:
            raise ValueError(f"variable ${name} is not defined")
        value = variables[name]
        values = [value] if isinstance(value, str) else value
        if form == "sqlstring":
            return ",".join(_quote(v) for v in values)
        if form is not None:
            raise ValueError(f"variable format :{form} is not supported here")
        if isinstance(value, str):  # single-value: quotes doubled, nothing around it
            return value.replace("'", "''")
        return ",".join(_quote(v) for v in values)

    sql = _VARIABLE.sub(variable, sql)

    def macro(match: re.Match) -> str:
        name = match[1]
        args = [a.strip() for a in match[2].split(",")] if match[2].strip() else []
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{_rfc3339(time_from)}' AND '{_rfc3339(time_to)}'"
        if name == "__timeFrom":
            return f"'{_rfc3339(time_from)}'"
        if name == "__timeTo":
            return f"'{_rfc3339(time_to)}'"
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name in ("__timeGroup", "__timeGroupAlias"):
            seconds = interval_s(args[1])
            if timescaledb:
                group = f"time_bucket('{seconds:.3f}s',{args[0]})"
            else:
                group = f"floor(extract(epoch from {args[0]})/{seconds:g})*{seconds:g}"
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        raise ValueError(f"macro ${name} is not supported here")

    return _MACRO.sub(macro, sql)

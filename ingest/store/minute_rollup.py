"""The plain path's per-minute rollup, materialised and kept exact by ingest.

On TimescaleDB ``telemetry_1m`` is a continuous aggregate. On plain PostgreSQL it is a view
over the table ``telemetry_1m_sums``: per (minute, satellite) the sample counts, the sum and
count of every averaged channel, the extremes. The writer adds the rows it stored to it in
the same transaction (``UPSERT_FROM_BATCHES``: the rows of this transaction's lineage
batches, so a replayed row, already stored under another batch, is never counted twice,
and a late row lands in its own minute). Dashboards then read minutes, never raw rows.

``OUTPUTS`` lists the view's columns in order with how each is kept; the view gives the
same names and types as the aggregate over raw rows it replaces (``ingest.store.audit``).
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE = "telemetry_1m_sums"


@dataclass(frozen=True)
class Output:
    """One column of ``telemetry_1m``: ``kind`` count, avg, sum, min or max of the SQL
    ``source`` over raw telemetry; ``stored`` the SQL type its sum (avg, sum) or extreme (min,
    max) is kept in."""

    name: str
    kind: str
    source: str
    stored: str = "bigint"


_SUNLIT = "CASE WHEN sunlit THEN 1 WHEN NOT sunlit THEN 0 END"
_CONTACT = "CASE WHEN in_contact THEN 1 WHEN NOT in_contact THEN 0 END"

OUTPUTS: tuple[Output, ...] = (
    Output("samples", "count", "*"),
    Output("orbit_samples", "count", "sgp4_error"),
    Output("soc_avg", "avg", "soc", "double precision"),
    Output("soc_min", "min", "soc", "double precision"),
    Output("temp_payload_avg_c", "avg", "temp_payload_c", "double precision"),
    Output("temp_payload_max_c", "max", "temp_payload_c", "double precision"),
    Output("temp_radiator_max_c", "max", "temp_radiator_c", "double precision"),
    Output("array_w_avg", "avg", "array_w", "double precision"),
    Output("load_w_avg", "avg", "load_w", "double precision"),
    Output("throughput_tops_avg", "avg", "throughput_tops", "double precision"),
    Output("safe_mode_samples", "sum", "CASE WHEN safe_mode THEN 1 ELSE 0 END"),
    Output("sunlit_share", "avg", _SUNLIT),
    Output("utilisation_avg", "avg", "utilisation", "double precision"),
    Output("queue_depth_avg", "avg", "queue_depth"),
    Output("throttle_level_max", "max", "throttle_level", "smallint"),
    Output("upsets", "sum", "upsets"),
    Output("in_contact_share", "avg", _CONTACT),
    Output("downlink_mbps_avg", "avg", "downlink_mbps", "double precision"),
    Output("isl_up_avg", "avg", "isl_up"),
    Output("backlog_mb_avg", "avg", "backlog_mb", "double precision"),
)


def _stored_columns() -> list[tuple[str, str, str, str]]:
    """``(column, type, aggregate over raw rows, merge with the stored value)`` per column."""
    columns = []
    for o in OUTPUTS:
        if o.kind == "count":
            agg = "count(*)" if o.source == "*" else f"count({o.source})"
            columns.append((o.name, "bigint NOT NULL", agg, f"r.{o.name} + EXCLUDED.{o.name}"))
        elif o.kind in ("avg", "sum"):
            total, n = f"{o.name}_sum", f"{o.name}_n"
            columns.append((total, f"{o.stored} NOT NULL", f"coalesce(sum({o.source}), 0)",
                            f"r.{total} + EXCLUDED.{total}"))  # fmt: skip
            columns.append((n, "bigint NOT NULL", f"count({o.source})", f"r.{n} + EXCLUDED.{n}"))
        else:
            merge = "LEAST" if o.kind == "min" else "GREATEST"  # both ignore NULL
            columns.append((o.name, o.stored, f"{o.kind}({o.source})",
                            f"{merge}(r.{o.name}, EXCLUDED.{o.name})"))  # fmt: skip
    return columns


def _view_expression(o: Output) -> str:
    if o.kind == "avg":
        total = f"{o.name}_sum" if o.stored == "double precision" else f"{o.name}_sum::numeric"
        return f"{total} / nullif({o.name}_n, 0)"
    if o.kind == "sum":
        return f"CASE WHEN {o.name}_n > 0 THEN {o.name}_sum END"
    return o.name


CREATE_TABLE = (
    f"CREATE TABLE {TABLE} (\n    bucket timestamptz NOT NULL,\n    sat_id integer NOT NULL,\n"
    + "".join(f"    {name} {kind},\n" for name, kind, _, _ in _stored_columns())
    + "    PRIMARY KEY (bucket, sat_id)\n)"
)
VIEW = (
    "CREATE OR REPLACE VIEW telemetry_1m AS\n    SELECT bucket, sat_id,\n"
    + ",\n".join(f"        {_view_expression(o)} AS {o.name}" for o in OUTPUTS)
    + f"\n    FROM {TABLE}"
)


def _upsert(where: str) -> str:
    columns = _stored_columns()
    return (
        f"INSERT INTO {TABLE} AS r (bucket, sat_id, {', '.join(c[0] for c in columns)})\n"
        f"SELECT twin_bucket('1 minute', time), sat_id, {', '.join(c[2] for c in columns)}\n"
        f"FROM telemetry{where}\nGROUP BY 1, 2\n"
        "ON CONFLICT (bucket, sat_id) DO UPDATE SET "
        + ", ".join(f"{c[0]} = {c[3]}" for c in columns)
    )


# Every stored row (a migration's backfill).
UPSERT_ALL = _upsert("")
# The rows this transaction stored: parameters the first and last sample time as Unix
# microseconds (to reach only the partitions written) and the lineage batch ids (int8[]).
UPSERT_FROM_BATCHES = _upsert(
    "\nWHERE time >= timestamptz 'epoch' + %s * interval '1 microsecond'"
    "\n  AND time <= timestamptz 'epoch' + %s * interval '1 microsecond'"
    "\n  AND batch_id = ANY(%s::int8[])"
)

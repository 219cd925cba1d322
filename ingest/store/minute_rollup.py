"""The plain path's per-minute rollup, materialised and kept exact by ingest.

On TimescaleDB ``telemetry_1m`` is a continuous aggregate. On plain PostgreSQL it is a view
over the table ``telemetry_1m_sums``: per (minute, satellite) the sample counts, the sum and
count of every averaged channel, the extremes. The writer adds the rows it stored to it in
the same transaction (``UPSERT_FROM_BATCHES``: the rows of this transaction's lineage
batches, so a replayed row, already stored under another batch, is never counted twice,
and a late row lands in its own minute). Dashboards then read minutes, never raw rows.

``OUTPUTS`` lists the view's columns in order with how each is kept; the view gives the
same names and types as the aggregate over raw rows it replaces (``ingest.store.audit``).
The table, the view and the backfill are SQL of migration 6
(``ingest/store/migrations/0006-minute-rollup.postgresql.sql``); a change to them is a new
migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

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


def _stored_columns() -> list[tuple[str, sql.Composable, sql.Composable]]:
    """``(column, aggregate over raw rows, merge with the stored value)`` per stored column
    (in migration 6's table: the count, ``<name>_sum`` and ``<name>_n``, or the extreme)."""
    columns = []
    for o in OUTPUTS:
        source = sql.SQL(o.source)  # a fixed expression of this table, never input
        if o.kind == "count":
            agg = sql.SQL("count(*)") if o.source == "*" else sql.SQL("count({})").format(source)
            columns.append((o.name, agg, _added(o.name)))
        elif o.kind in ("avg", "sum"):
            total, n = f"{o.name}_sum", f"{o.name}_n"
            columns.append((total, sql.SQL("coalesce(sum({}), 0)").format(source), _added(total)))
            columns.append((n, sql.SQL("count({})").format(source), _added(n)))
        else:
            column = sql.Identifier(o.name)
            merge = sql.SQL("LEAST" if o.kind == "min" else "GREATEST")  # both ignore NULL
            columns.append((
                o.name,
                sql.SQL("{}({})").format(sql.SQL(o.kind), source),
                sql.SQL("{}(r.{}, EXCLUDED.{})").format(merge, column, column),
            ))  # fmt: skip
    return columns


def _added(name: str) -> sql.Composable:
    return sql.SQL("r.{} + EXCLUDED.{}").format(sql.Identifier(name), sql.Identifier(name))


def _upsert_from_batches() -> sql.Composed:
    columns = _stored_columns()
    return sql.SQL(
        "INSERT INTO {table} AS r (bucket, sat_id, {names}) "
        "SELECT twin_bucket('1 minute', time), sat_id, {aggregates} FROM telemetry "
        "WHERE time >= timestamptz 'epoch' + %s * interval '1 microsecond' "
        "AND time <= timestamptz 'epoch' + %s * interval '1 microsecond' "
        "AND batch_id = ANY(%s::int8[]) GROUP BY 1, 2 "
        "ON CONFLICT (bucket, sat_id) DO UPDATE SET {merges}"
    ).format(
        table=sql.Identifier(TABLE),
        names=sql.SQL(", ").join(sql.Identifier(c[0]) for c in columns),
        aggregates=sql.SQL(", ").join(c[1] for c in columns),
        merges=sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c[0]), c[2]) for c in columns
        ),
    )


# The rows this transaction stored: parameters the first and last sample time as Unix
# microseconds (to reach only the partitions written) and the lineage batch ids (int8[]).
UPSERT_FROM_BATCHES = _upsert_from_batches()

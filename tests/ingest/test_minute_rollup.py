"""The plain path's per-minute rollup (``ingest.store.minute_rollup``): a table ingest keeps in
the rows' transaction, read through the view ``telemetry_1m``. It must equal, minute by
minute, the aggregate over the raw rows it replaces, whatever order batches come in, with
replays and late data, and after a migration backfills it from rows already stored."""

import math

import pytest

from ingest.service.batch import PartitionBatch
from ingest.service.writer import Writer
from ingest.store.audit import _TELEMETRY_1M_COLUMNS
from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import migrate
from ingest.store.minute_rollup import OUTPUTS, TABLE
from tests.conftest import KEEP_HISTORY
from twin.core.clock import NS_PER_S, parse_start
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset

pytestmark = pytest.mark.integration

T0_NS = parse_start("2026-03-20T12:00:00Z")
# The aggregate over raw rows that telemetry_1m was before version 6 (and is on TimescaleDB).
RAW_1M = (
    "SELECT twin_bucket('1 minute', time) AS bucket, "
    + _TELEMETRY_1M_COLUMNS
    + " FROM telemetry GROUP BY 1, sat_id"
)
COLUMNS = ["bucket", "sat_id", *(o.name for o in OUTPUTS)]


@pytest.fixture
def plain(database):
    migrate(database, KEEP_HISTORY, store="postgresql")
    fleet, hw = build(load_preset("threebody-12"), T0_NS)
    register_fleet(database, fleet, hw, "threebody-12", ["rollup"], 1.0)
    return database


def _frames(n_ticks: int, step_s: int = 7) -> list:
    fleet, hw = build(load_preset("threebody-12"), T0_NS)
    frames = []
    run(fleet, hw, RunPlan(T0_NS, step_s * NS_PER_S, n_ticks), FramesTo(frames.append))
    return frames


def _write(writer: Writer, frames: list, first_offset: int, partition: int = 0) -> None:
    part = PartitionBatch("t", partition, first_offset, first_offset + len(frames) - 1)
    part.messages = len(frames)
    part.frames = [(first_offset + i, f) for i, f in enumerate(frames)]
    writer.write([part])


def _minutes(url: str, query: str) -> dict[tuple, tuple]:
    with connect(url) as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM ({query}) q").fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def _assert_equal(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys() and got
    for key, row in expected.items():
        for name, want, have in zip(COLUMNS[2:], row, got[key], strict=True):
            if want is None or have is None:
                assert want is None and have is None, (key, name)
            else:  # sums kept in another order than one aggregate: equal within float rounding
                assert math.isclose(float(have), float(want), rel_tol=1e-12, abs_tol=1e-9), (
                    key, name, have, want,
                )  # fmt: skip


def test_rollup_equals_the_raw_aggregate_with_replays_late_data_and_any_order(plain):
    frames = _frames(60)  # 7 minutes of 7 s ticks: minutes of 8 or 9 ticks
    writer = Writer(plain, "rollup-test")
    try:
        _write(writer, frames[20:40], 0)
        _write(writer, frames[30:50], 100, partition=1)  # half of it a replay
        _write(writer, frames[50:], 200)
        _write(writer, frames[:20], 300, partition=1)  # late: the first minutes come last
        _write(writer, frames[:5], 400)  # a replay of late data
    finally:
        writer.close()
    with connect(plain) as conn:
        stored = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
        assert stored == sum(int(f.sat_id.shape[0]) for f in frames)  # each sample once
        assert conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] > 0
    _assert_equal(_minutes(plain, "SELECT * FROM telemetry_1m"), _minutes(plain, RAW_1M))


def test_the_view_keeps_the_columns_and_types_of_the_raw_aggregate(plain):
    with connect(plain) as conn:
        conn.execute(f"CREATE TEMP VIEW raw_1m AS {RAW_1M}")
        types = {
            view: conn.execute(
                "SELECT array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) "
                "ORDER BY attnum) FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0",
                (view,),
            ).fetchone()[0]
            for view in ("telemetry_1m", "raw_1m")
        }
    assert types["telemetry_1m"] == types["raw_1m"]


def test_version_6_backfills_the_rollup_from_rows_already_stored(plain):
    frames = _frames(30)
    writer = Writer(plain, "rollup-test")
    try:
        _write(writer, frames, 0)
    finally:
        writer.close()
    with connect(plain, autocommit=True) as conn:  # back to version 5: a view over raw rows
        conn.execute(f"CREATE OR REPLACE VIEW telemetry_1m AS {RAW_1M}")
        conn.execute(f"DROP TABLE {TABLE}")
        conn.execute("DELETE FROM schema_migrations WHERE version = 6")
    assert migrate(plain) == [6]
    _assert_equal(_minutes(plain, "SELECT * FROM telemetry_1m"), _minutes(plain, RAW_1M))

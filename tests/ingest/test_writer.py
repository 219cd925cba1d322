"""The writer against real servers: COPY on PostgreSQL, unnest on TimescaleDB (PGlite)."""

import numpy as np
import psycopg
import pytest

from ingest.db import connect
from ingest.migrate import migrate
from ingest.writer import DeadLetter, Writer, frames_to_columns
from twin.clock import NS_PER_S, parse_start
from twin.engine import RunPlan, run
from twin.presets import build, load_preset
from twin.telemetry import CHANNELS

CHANNELS_INDEX = {name: i for i, name in enumerate(CHANNELS, start=2)}

pytestmark = pytest.mark.integration

T0_NS = parse_start("2026-03-20T12:00:00Z")


def _frames(n_ticks=3):
    """Real frames of threebody-12 (12 satellites, one plane)."""
    fleet, hw = build(load_preset("threebody-12"), T0_NS)
    frames = []
    run(fleet, hw, RunPlan(T0_NS, NS_PER_S, n_ticks), frames.append)
    return frames


def _rows(url):
    with connect(url) as conn:
        return conn.execute(
            "SELECT (extract(epoch FROM time) * 1e6)::int8, sat_id, "
            + ", ".join(CHANNELS)
            + " FROM telemetry ORDER BY time, sat_id"
        ).fetchall()


@pytest.fixture(params=["postgresql", "timescaledb"])
def store(request):
    url = request.getfixturevalue("database" if request.param == "postgresql" else "timescale_db")
    migrate(url)
    return url


def test_batch_is_stored_exactly_and_replay_changes_nothing(store):
    frames = _frames()
    frames[1].channels["alt_km"][2] = np.nan  # an SGP4 failure travels as NaN → NULL
    columns = frames_to_columns(frames)
    writer = Writer(store, "g1")
    try:
        assert writer.write(columns, [], {("t", 0): 3}) == 36
        assert writer.write(columns, [], {("t", 0): 3}) == 0  # replay after a crash
        assert writer.stored_offsets("t") == {0: 3}
    finally:
        writer.close()
    rows = _rows(store)
    assert len(rows) == 36
    for frame in frames:
        got = [r for r in rows if r[0] == frame.time_unix_ns // 1000]
        assert [r[1] for r in got] == frame.sat_id.tolist()
        for i, name in enumerate(CHANNELS, start=2):
            column = np.array([r[i] for r in got], dtype=float)
            np.testing.assert_array_equal(column, frame.channels[name])  # bit-exact
    alt = CHANNELS_INDEX["alt_km"]
    assert sum(r[alt] is None for r in rows) == 1


def test_dead_letters_and_offsets_commit_together(store):
    writer = Writer(store, "g2")
    try:
        dead = [DeadLetter("t", 1, 41, "not JSON: boom", b"\x00garbage")]
        writer.write(frames_to_columns([]), dead, {("t", 1): 42})
        writer.write(frames_to_columns([]), dead, {("t", 1): 42})  # idempotent
        assert writer.stored_offsets("t") == {1: 42}
    finally:
        writer.close()
    with connect(store) as conn:
        rows = conn.execute("SELECT partition, kafka_offset, reason, payload FROM dead_letters")
        assert rows.fetchall() == [(1, 41, "not JSON: boom", b"\x00garbage")]


def test_failed_batch_leaves_neither_rows_nor_offsets(database):
    migrate(database)
    writer = Writer(database, "g3")
    try:
        with pytest.raises(psycopg.errors.NotNullViolation):
            # Rows are fine; the offset upsert (topic NULL) fails after them in the same
            # transaction, which must take the rows down with it.
            writer.write(frames_to_columns(_frames()), [], {(None, 0): 3})
        assert writer.stored_offsets("t") == {}
    finally:
        writer.close()
    assert _rows(database) == []

"""The writer against real servers: binary COPY into plain PostgreSQL and into hypertables."""

import numpy as np
import psycopg
import pytest

from ingest.service.batch import DeadLetter, Event, PartitionBatch
from ingest.service.writer import StaleBatch, Writer
from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from ingest.store.migrate import migrate
from tests.conftest import KEEP_HISTORY
from twin.core.clock import NS_PER_S, parse_start
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.wire.telemetry import CHANNELS, Frame, to_stored_resolution

pytestmark = pytest.mark.integration

T0_NS = parse_start("2026-03-20T12:00:00Z")


def _frames(n_ticks=3, every=None):
    """Real frames of threebody-12 (12 satellites, one plane)."""
    fleet, hw = build(load_preset("threebody-12"), T0_NS)
    frames = []
    run(fleet, hw, RunPlan(T0_NS, NS_PER_S, n_ticks, every=every or {}), FramesTo(frames.append))
    return frames


def _part(frames, first_offset=0, partition=0, topic="t", dead=(), events=()):
    part = PartitionBatch(
        topic,
        partition,
        first_offset,
        first_offset + max(len(frames) + len(dead) + len(events), 1) - 1,
        messages=len(frames) + len(dead) + len(events),
    )
    part.frames = [(first_offset + i, f) for i, f in enumerate(frames)]
    part.events = list(events)
    part.dead = list(dead)
    return part


def _rows(url):
    with connect(url) as conn:
        return conn.execute(
            "SELECT (extract(epoch FROM time) * 1e6)::int8, sat_id, batch_id, kafka_offset, "
            + ", ".join(CHANNELS)
            + " FROM telemetry ORDER BY time, sat_id"
        ).fetchall()


@pytest.fixture(params=["postgresql", "timescaledb"])
def store(request):
    url = request.getfixturevalue("database" if request.param == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=request.param)
    fleet, hw = build(load_preset("threebody-12"), T0_NS)
    register_fleet(url, fleet, hw, "threebody-12", ["batch-1"], 1.0)
    return url


def test_batch_is_stored_at_its_resolution_with_lineage_and_replay_changes_nothing(store):
    frames = _frames(every={"thermal": 2})  # tick 1 carries no thermal channels
    frames[1].channels["alt_km"][2] = np.nan  # an SGP4 failure travels as NaN → NULL
    writer = Writer(store, "g1")
    try:
        first = writer.write([_part(frames, first_offset=40)])
        again = writer.write([_part(frames, first_offset=40)])  # replay after a crash
        assert (first.rows_inserted, first.rows_repeated) == (36, 0)
        assert (again.rows_inserted, again.rows_repeated) == (0, 36)
        assert writer.stored_offsets("t") == {0: 43}
    finally:
        writer.close()
    rows = _rows(store)
    assert len(rows) == 36
    for k, frame in enumerate(frames):
        got = [r for r in rows if r[0] == frame.time_unix_ns // 1000]
        assert [r[1] for r in got] == frame.sat_id.tolist()
        assert {r[3] for r in got} == {40 + k}  # each row points at its Kafka record
        for i, name in enumerate(CHANNELS, start=4):
            column = np.array([np.nan if r[i] is None else float(r[i]) for r in got])
            expected = frame.channels.get(name, np.full(12, np.nan)).astype(float)
            expected = to_stored_resolution(name, expected)
            np.testing.assert_array_equal(column, expected, err_msg=name)
    with connect(store) as conn:
        batch = conn.execute(
            "SELECT topic, partition, first_offset, last_offset, messages, rows "
            "FROM ingest_batches ORDER BY batch_id LIMIT 1"
        ).fetchone()
        lineage = conn.execute("SELECT DISTINCT topic, partition FROM audit_row_lineage").fetchall()
    assert batch == ("t", 0, 40, 42, 3, 36) and lineage == [("t", 0)]


def test_events_dead_letters_and_offsets_commit_together(store):
    writer = Writer(store, "g2")
    events = [
        (5, Event(T0_NS, 3, "eclipse_entry", 0)),
        (6, Event(T0_NS + NS_PER_S, 3, "eclipse_exit", 0)),
        # Two stations acquire the same satellite at the same tick: two rows.
        (7, Event(T0_NS + NS_PER_S, 3, "contact_aos", 11)),
        (8, Event(T0_NS + NS_PER_S, 3, "contact_aos", 12)),
    ]
    dead = [DeadLetter("t", 1, 9, "not JSON: boom", b"\x00garbage")]
    try:
        result = writer.write([_part([], first_offset=5, partition=1, dead=dead, events=events)])
        writer.write([_part([], first_offset=5, partition=1, dead=dead, events=events)])
        assert result.events_inserted == 4
        assert writer.stored_offsets("t") == {1: 10}
    finally:
        writer.close()
    with connect(store) as conn:
        assert conn.execute(
            "SELECT partition, kafka_offset, reason, payload FROM dead_letters"
        ).fetchall() == [(1, 9, "not JSON: boom", b"\x00garbage")]
        assert conn.execute(
            "SELECT sat_id, kind, station_id, kafka_offset FROM events ORDER BY kafka_offset"
        ).fetchall() == [
            (3, "eclipse_entry", 0, 5),
            (3, "eclipse_exit", 0, 6),
            (3, "contact_aos", 11, 7),
            (3, "contact_aos", 12, 8),
        ]


def test_failed_batch_leaves_neither_rows_nor_offsets(database):
    migrate(database, store="postgresql")
    writer = Writer(database, "g3")
    try:
        with pytest.raises(psycopg.errors.NotNullViolation):
            # Rows are fine; the batch row (topic NULL) fails in the same transaction.
            writer.write([_part(_frames(), topic=None)])
        assert writer.stored_offsets("t") == {}
    finally:
        writer.close()
    assert _rows(database) == []


def test_plain_postgresql_makes_daily_partitions_for_the_days_a_batch_holds(database):
    migrate(database, store="postgresql")
    fleet, hw = build(load_preset("threebody-12"), T0_NS)
    register_fleet(database, fleet, hw, "threebody-12", ["batch-1"], 1.0)
    frames = []  # two ticks 60 days apart in one batch
    run(fleet, hw, RunPlan(T0_NS, 60 * 86_400 * NS_PER_S, 2), FramesTo(frames.append))
    writer = Writer(database, "g4")
    try:
        assert writer.write([_part(frames)]).rows_inserted == 24
    finally:
        writer.close()
    with connect(database) as conn:
        parts = conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'telemetry'::regclass ORDER BY 1"
        ).fetchall()
    assert parts == [("telemetry_p20260320",), ("telemetry_p20260519",)]


def test_records_the_database_refuses_are_dead_lettered_and_the_rest_stored(store):
    """Poison pills: values that pass decoding but that the database (or the driver) refuses.
    Ingest must neither stop nor skip a good record: the poll is bisected down to each bad
    record, which is dead-lettered with a reason that is itself safe to store."""
    writer = Writer(store, "g-poison")
    frames = _frames(4)
    good_step = (T0_NS, "job-1", "queued", 3, "inference", None, None, None)
    nul_step = (T0_NS, "job\x00-2", "queued", 3, "inference", "why\x00", None, None)
    events = [
        (4, Event(T0_NS, 3, "eclipse_entry", 0)),
        (5, Event(T0_NS + NS_PER_S, 3, "eclipse_exit", 2**40)),  # out of int4 range
        (6, Event(T0_NS + 2 * NS_PER_S, 3, "eclipse_entry", 0)),
    ]
    telemetry = _part(frames, first_offset=0)
    telemetry.payloads = {i: f"frame {i}".encode() for i in range(4)}
    other = PartitionBatch("e", 2, 4, 8, messages=5)
    other.events = events
    other.job_steps = [(7, [good_step]), (8, [good_step, nul_step])]
    other.payloads = {o: f"message {o}".encode() for o in range(4, 9)}
    try:
        result = writer.write([telemetry, other])
        assert writer.stored_offsets("t") == {0: 4} and writer.stored_offsets("e") == {2: 9}
    finally:
        writer.close()
    assert result.rows_inserted == 4 * 12 and result.events_inserted == 2
    assert result.job_steps_inserted == 1
    with connect(store) as conn:
        dead = conn.execute(
            "SELECT topic, partition, kafka_offset, reason, payload FROM dead_letters "
            "ORDER BY kafka_offset"
        ).fetchall()
        lineage = conn.execute("SELECT sum(messages) FROM ingest_batches WHERE topic = 'e'")
        assert lineage.fetchone()[0] == 5  # every message accounted for, once
    assert [(t, p, o, payload) for t, p, o, _, payload in dead] == [
        ("e", 2, 5, b"message 5"),
        ("e", 2, 8, b"message 8"),
    ]
    assert all(r.startswith("refused by the database:") and "\x00" not in r for *_, r, _ in dead)
    assert len(_rows(store)) == 4 * 12


def test_offsets_never_move_backwards_and_a_stale_batch_writes_nothing(store):
    """A consumer that lost its partitions (a zombie past max_poll_interval) and writes late
    must neither move the stored offset back nor add lineage; its session is bounded."""
    frames = _frames(6)
    owner, zombie = Writer(store, "g-fence"), Writer(store, "g-fence")
    try:
        owner.write([_part(frames[3:], first_offset=3)])  # the new owner is past offset 5
        with pytest.raises(StaleBatch):
            zombie.write([_part(frames[:3], first_offset=0)])
        assert owner.stored_offsets("t") == {0: 6}
        replay = owner.write([_part(frames[3:], first_offset=3)])  # same offsets again: fine
        assert (replay.rows_inserted, replay.rows_repeated) == (0, 36)
        settings = zombie._connection().execute(
            "SELECT current_setting('lock_timeout'), "
            "current_setting('idle_in_transaction_session_timeout')"
        )
        assert settings.fetchone() == ("30s", "2min")
    finally:
        owner.close()
        zombie.close()
    with connect(store) as conn:
        batches = conn.execute("SELECT first_offset FROM ingest_batches ORDER BY batch_id")
        assert batches.fetchall() == [(3,), (3,)]
    assert len(_rows(store)) == 3 * 12


def test_a_conflicting_duplicate_is_dead_lettered_and_counted_not_dropped_silently(store):
    """A frame planted for a satellite and time makes the real one a repeat: the real one's
    differing samples are reported as a dead letter with their count; an identical replay
    is not a conflict."""
    frames = _frames(2)
    planted = Frame(
        frames[1].time_unix_ns,
        frames[1].group,
        frames[1].sat_id[:3],
        {name: values[:3] + 1.0 for name, values in frames[1].channels.items()},
    )
    writer = Writer(store, "g-dup")
    try:
        writer.write([_part([planted], first_offset=0)])
        real = _part(frames, first_offset=1)
        real.payloads = {1: b"tick 0", 2: b"tick 1"}
        result = writer.write([real])
        other = Writer(store, "g-dup-other")  # another group stores the same values again
        try:
            replay = other.write([_part(frames[:1], first_offset=1)])
        finally:
            other.close()
    finally:
        writer.close()
    assert (result.rows_inserted, result.rows_repeated) == (12 + 9, 3)
    assert [(d.offset, d.samples, d.payload) for d in result.conflicting] == [(2, 3, b"tick 1")]
    assert "conflicting duplicate: 3 samples" in result.conflicting[0].reason
    assert replay.conflicting == [] and replay.rows_repeated == 12
    with connect(store) as conn:
        assert conn.execute(
            "SELECT kafka_offset, samples FROM dead_letters WHERE reason LIKE 'conflicting%'"
        ).fetchall() == [(2, 3)]


def test_one_satellites_bad_value_rejects_its_sample_not_the_frame(store):
    """A frame where one satellite reports a value outside its physical range and another
    is unknown: the other samples are stored, the two are dead-lettered with the reasons."""
    import orjson
    from kafka import TopicPartition

    from ingest.service.consumer import Validator, decode_partition
    from twin.wire.telemetry import encode

    frame = _frames(1)[0]
    channels = {name: values.copy() for name, values in frame.channels.items()}
    channels["soc"][4] = 1.5
    sat_id = frame.sat_id.copy()
    sat_id[7] = 99_999
    payload = encode(Frame(frame.time_unix_ns, frame.group, sat_id, channels))

    class Record:
        offset, value = 0, payload

    writer = Writer(store, "g-sample")
    try:
        part = decode_partition(TopicPartition("t", 0), [Record], Validator(writer), "t", "j")
        result = writer.write([part])
    finally:
        writer.close()
    assert result.rows_inserted == 10
    [letter] = part.dead
    assert letter.samples == 2 and letter.payload == payload
    assert "soc: 1.5 outside the physical range" in letter.reason
    assert "unknown satellite ids [99999]" in letter.reason
    stored = sorted(r[1] for r in _rows(store))
    assert stored == sorted(
        set(frame.sat_id.tolist()) - {int(frame.sat_id[4]), int(frame.sat_id[7])}
    )
    assert orjson.loads(payload)["soc"][4] == 1.5


def test_a_poll_spanning_a_thousand_days_is_stored(database):
    """Frames on 1,000 distinct days in one poll: one partition a day in one transaction can
    exhaust the server's lock table ("out of shared memory"); the writer then halves the poll
    until each half fits, and stores every sample."""
    migrate(database, store="postgresql")
    frame = _frames(1)[0]
    day_ns = 86_400 * NS_PER_S
    start = parse_start("1995-01-01T00:00:00Z")
    frames = [
        Frame(start + k * 37 * day_ns, frame.group, frame.sat_id, frame.channels)
        for k in range(1000)  # every 37th day: 1995 .. 2096, inside the accepted window
    ]
    writer = Writer(database, "g-days")
    try:
        result = writer.write([_part(frames)])
    finally:
        writer.close()
    assert result.rows_inserted == 1000 * 12 and result.refused == []
    with connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM telemetry").fetchone() == (12_000,)


def test_ingest_sessions_use_tcp_keepalives(store):
    writer = Writer(store, "g-keepalive")
    try:
        params = writer._connection().info.get_parameters()
    finally:
        writer.close()
    assert (params["keepalives"], params["keepalives_idle"]) == ("1", "30")


def test_values_round_trip_within_half_their_resolution_through_compression(timescale_db):
    """Values spread over each channel's whole range (its limits, zero, and random values of
    every magnitude) come back from compressed chunks within half the stated resolution."""
    migrate(timescale_db, KEEP_HISTORY, store="timescaledb")
    fleet, hw = build(load_preset("threebody-12"), T0_NS)
    register_fleet(timescale_db, fleet, hw, "threebody-12", ["batch-1"], 1.0)
    frames = _frames(n_ticks=40)
    rng = np.random.default_rng(19)
    sent = {}
    for name, channel in CHANNELS.items():
        if channel.resolution is None:
            continue
        magnitude = 10.0 ** rng.uniform(-6, np.log10(max(abs(channel.low), channel.high)), 480)
        values = np.clip(rng.choice([-1.0, 1.0], 480) * magnitude, channel.low, channel.high)
        values[:3] = channel.low, channel.high, 0.0
        sent[name] = values
        for k, frame in enumerate(frames):
            frame.channels[name] = values[12 * k : 12 * (k + 1)].copy()
    writer = Writer(timescale_db, "g-resolution")
    try:
        writer.write([_part(frames)])
    finally:
        writer.close()
    with connect(timescale_db, autocommit=True) as conn:
        compressed = conn.execute(
            "SELECT count(compress_chunk(c)) FROM show_chunks('telemetry') c"
        ).fetchone()[0]
    assert compressed >= 1
    rows = _rows(timescale_db)  # ordered by time, then sat_id: the frames' order
    assert len(rows) == 480
    for i, name in enumerate(CHANNELS, start=4):
        if name in sent:
            back = np.array([float(r[i]) for r in rows])
            error = np.abs(back - sent[name])
            assert error.max() <= CHANNELS[name].resolution / 2, name

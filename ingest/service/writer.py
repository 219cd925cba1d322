"""The writer: one transaction per consumed batch holding rows, lineage, rejects and offsets.

The writer first tries one binary COPY straight into ``telemetry`` inside a savepoint; if
any row is already stored (a replay after a crash) the savepoint is undone and the rows go
through a temporary staging table and ``INSERT ... ON CONFLICT (sat_id, time) DO NOTHING``,
so a replayed batch changes nothing.
Every channel is staged as float8 with NaN for "no value" (not computed, or its group not
sampled at that tick); the insert turns NaN into NULL and casts booleans and codes back.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ingest.rules.definitions import RuleSet
from ingest.rules.detect import AnomalyRow, Detector, load_satellites
from ingest.rules.record import UPSERT_RULE_STATE, insert_anomalies
from ingest.service.batch import Columns, DeadLetter, Event, PartitionBatch, frames_to_columns
from ingest.store.db import connect
from ingest.store.minute_rollup import UPSERT_FROM_BATCHES
from ingest.store.pgcopy import PG_EPOCH_UNIX_US, binary_copy_payload
from twin.core.clock import NS_PER_US
from twin.core.errors import TwinError
from twin.core.settings import InputError
from twin.wire.elements import OMM_NUMBERS, ElementSet
from twin.wire.observed import OBSERVED_CHANNELS, ObservedPacket
from twin.wire.telemetry import CHANNELS

US_PER_DAY = 86_400_000_000
RECONNECT_WITHIN_S = 120.0  # a database restart shorter than this is ridden out

log = logging.getLogger(__name__)

_STAGE_COLUMNS = ("time_unix_us", "sat_id", "batch_id", "kafka_offset", *CHANNELS)
_STAGE_TYPES = ("int8", "int4", "int8", "int8", *("float8" for _ in CHANNELS))


def _from_stage(name: str, pg_type: str, table: str | None = None) -> sql.Composed:
    """A staged float8 column (of ``table``, when named) back to its type: NaN → NULL, bool
    and int2 cast back."""
    column = sql.Identifier(table, name) if table else sql.Identifier(name)
    value = sql.SQL("NULLIF({}, 'NaN'::float8)").format(column)
    return {
        "float8": value,
        "bool": sql.SQL("({} <> 0)").format(value),
        "int2": sql.SQL("{}::int2").format(value),
    }[pg_type]


def _names(names) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


_INSERT = sql.SQL(
    "INSERT INTO telemetry (time, sat_id, batch_id, kafka_offset, {cols}) "
    "SELECT timestamptz 'epoch' + time_unix_us * interval '1 microsecond', sat_id, batch_id, "
    "kafka_offset, {vals} FROM {source} ON CONFLICT (sat_id, time) DO NOTHING"
)
_COLS = _names(CHANNELS)
_VALS = sql.SQL(", ").join(_from_stage(name, c.pg_type) for name, c in CHANNELS.items())
INSERT_FROM_STAGE = _INSERT.format(cols=_COLS, vals=_VALS, source=sql.Identifier("telemetry_stage"))
# Staged samples whose (satellite, time) another batch stored with other values: conflicting
# duplicates, per message (batch, offset) with their count. A replay stores the same values.
FIND_CONFLICTS = sql.SQL(
    "SELECT s.batch_id, s.kafka_offset, count(*) FROM telemetry_stage s JOIN telemetry t "
    "ON t.sat_id = s.sat_id "
    "AND t.time = timestamptz 'epoch' + s.time_unix_us * interval '1 microsecond' "
    "WHERE t.batch_id <> s.batch_id AND ROW({stored}) IS DISTINCT FROM ROW({staged}) "
    "GROUP BY 1, 2 ORDER BY 1, 2"
).format(
    stored=sql.SQL(", ").join(sql.Identifier("t", n) for n in CHANNELS),
    staged=sql.SQL(", ").join(_from_stage(n, c.pg_type, "s") for n, c in CHANNELS.items()),
)
CREATE_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS telemetry_stage ({}) ON COMMIT DELETE ROWS"
).format(
    sql.SQL(", ").join(
        sql.SQL("{} {} NOT NULL").format(sql.Identifier(c), sql.SQL(t))
        for c, t in zip(_STAGE_COLUMNS, _STAGE_TYPES, strict=True)
    )
)
COPY_DIRECT = sql.SQL(
    "COPY telemetry (time, sat_id, batch_id, kafka_offset, {}) FROM STDIN (FORMAT BINARY)"
).format(_names(CHANNELS))
INSERT_BATCH = (
    "INSERT INTO ingest_batches (consumer_group, topic, partition, first_offset, last_offset, "
    "messages, rows, dead_letters) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING batch_id"
)
INSERT_EVENTS = (
    "INSERT INTO events (time, sat_id, kind, station_id, batch_id, kafka_offset) "
    "SELECT timestamptz 'epoch' + t * interval '1 microsecond', s, k, st, b, o "
    "FROM unnest(%s::int8[], %s::int4[], %s::text[], %s::int4[], %s::int8[], %s::int8[]) "
    "AS u(t, s, k, st, b, o) ON CONFLICT DO NOTHING"
)
INSERT_JOB_EVENTS = (
    "INSERT INTO job_events (time, job_id, state, sat_id, kind, reason, latency_s, energy_j, "
    "batch_id, kafka_offset) "
    "SELECT timestamptz 'epoch' + t * interval '1 microsecond', j, st, s, k, r, l, e, b, o "
    "FROM unnest(%s::int8[], %s::text[], %s::text[], %s::int4[], %s::text[], %s::text[], "
    "%s::float8[], %s::float8[], %s::int8[], %s::int8[]) AS u(t, j, st, s, k, r, l, e, b, o) "
    "ON CONFLICT DO NOTHING"
)
INSERT_ELEMENT_SETS = (
    "INSERT INTO element_sets (norad_cat_id, epoch, object_name, object_id, "
    "mean_motion_rev_day, eccentricity, inclination_deg, ra_of_asc_node_deg, "
    "arg_of_pericenter_deg, mean_anomaly_deg, bstar, omm, tle_line1, tle_line2, batch_id, "
    "kafka_offset) "
    # the element columns in the order of twin.wire.elements.OMM_NUMBERS
    "SELECT n, timestamptz 'epoch' + t * interval '1 microsecond', name, id, mm, e, i, raan, "
    "argp, ma, bs, omm, l1, l2, b, o "
    "FROM unnest(%s::int4[], %s::int8[], %s::text[], %s::text[], %s::float8[], %s::float8[], "
    "%s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::jsonb[], "
    "%s::text[], %s::text[], %s::int8[], %s::int8[]) "
    "AS u(n, t, name, id, mm, e, i, raan, argp, ma, bs, omm, l1, l2, b, o) "
    "ON CONFLICT DO NOTHING"
)
# Observed samples: one binary COPY into a session stage, then one INSERT that drops repeats.
_OBSERVED_COLUMNS = ("time", "sat_id", "received_at", "seq", *OBSERVED_CHANNELS)
_OBSERVED_COLUMNS += ("batch_id", "kafka_offset")
CREATE_OBSERVED_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS observed_stage (LIKE observed) ON COMMIT DELETE ROWS"
)
COPY_OBSERVED_STAGE = sql.SQL("COPY observed_stage ({}) FROM STDIN (FORMAT BINARY)").format(
    _names(_OBSERVED_COLUMNS)
)
INSERT_OBSERVED_FROM_STAGE = sql.SQL(
    "INSERT INTO observed ({cols}) SELECT {cols} FROM observed_stage ON CONFLICT DO NOTHING"
).format(cols=_names(_OBSERVED_COLUMNS))
# Offsets only move forward: a batch from a consumer that lost its partitions (a zombie past
# max_poll_interval) finds a later offset stored, updates nothing, and is rolled back whole.
UPSERT_OFFSET = (
    "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset, updated_at) "
    "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (consumer_group, topic, partition) "
    "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now() "
    "WHERE ingest_offsets.next_offset <= EXCLUDED.next_offset RETURNING next_offset"
)
# The ingest session's bounds: a lock held by a hung consumer is waited for this long, and a
# session of ours that hangs inside a transaction is ended by the server.
SESSION_SETTINGS = {"lock_timeout": "30s", "idle_in_transaction_session_timeout": "120s"}
INSERT_DEAD_LETTER = (
    "INSERT INTO dead_letters (topic, partition, kafka_offset, reason, samples, payload) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


@dataclass
class WriteResult:
    rows_inserted: int
    rows_repeated: int
    events_inserted: int
    job_steps_inserted: int = 0
    element_sets_repeated: int = 0  # sets of a satellite and epoch already stored
    observed_inserted: int = 0  # observed samples stored
    observed_repeated: int = 0  # observed samples of a satellite and time already stored
    anomalies: list[AnomalyRow] = field(default_factory=list)
    # records that decoded but that the database refused, stored as dead letters instead
    refused: list[DeadLetter] = field(default_factory=list)
    # messages some of whose samples another message stored with other values (their other
    # samples are stored): dead-lettered too, with the count of conflicting samples
    conflicting: list[DeadLetter] = field(default_factory=list)


def _serialised(method):
    """Run ``method`` holding the writer's lock: its connection and rule state are used by one
    thread at a time (the ingest loop writes a batch in a worker thread while it decodes the
    next, and its rebalance listener reads stored offsets)."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class Writer:
    """Writes decoded batches; opens its connection on first use. Safe to share between
    threads: each public method holds one lock."""

    def __init__(
        self,
        database_url: str,
        consumer_group: str,
        rules: RuleSet | None = None,
        role: str | None = None,
    ) -> None:
        """``rules``: per-satellite rules to evaluate on every batch (None: no rules);
        ``role``: act as this role, refusing a superuser login (``ingest.store.db.connect``);
        the ingest services give ``twin_ingest``."""
        self._url = database_url
        self._role = role
        self._group = consumer_group
        self._conn: psycopg.Connection | None = None
        self._partitioned = False
        self._known = np.empty(0, dtype=np.int32)
        self._rules = rules
        self._detector: Detector | None = None
        self._lock = threading.RLock()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url, application_name="twin-ingest", role=self._role)
            for name, value in SESSION_SETTINGS.items():
                self._conn.execute("SELECT set_config(%s, %s, false)", (name, value), prepare=False)
            row = self._conn.execute(
                "SELECT timescaledb FROM schema_migrations ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise InputError("--database: the schema is missing; run: twin db migrate")
            self._partitioned = not row[0]
            self._conn.commit()
        return self._conn

    @_serialised
    def check(self) -> None:
        """Connect now; raise ``InputError`` naming the database if it cannot be reached."""
        try:
            self._connection()
        except psycopg.OperationalError as exc:
            raise InputError(f"--database: {exc}".splitlines()[0]) from None
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
            raise InputError(
                "--database: the schema is missing or outdated; run: twin db migrate"
            ) from None

    def _read(self, query: str, params: tuple = ()) -> list[tuple]:
        def action() -> list[tuple]:
            conn = self._connection()
            rows = conn.execute(query, params).fetchall()
            conn.commit()
            return rows

        return self._retrying(action)

    @_serialised
    def known_satellites(self, refresh: bool = False) -> np.ndarray:
        """Sorted ids of the registered satellites (re-read when ``refresh``)."""
        if refresh or self._known.size == 0:
            rows = self._read("SELECT sat_id FROM satellites ORDER BY sat_id")
            self._known = np.array([r[0] for r in rows], dtype=np.int32)
        return self._known

    @_serialised
    def detector(self) -> Detector | None:
        """The rule evaluator over the registered satellites (rebuilt, keeping the state of
        the satellites it had, when satellites have been registered since)."""
        if self._rules is None:
            return None
        known = self.known_satellites()
        if self._detector is None or not np.array_equal(self._detector.sats.sat_id, known):
            sats = self._retrying(lambda: load_satellites(self._connection()))
            self._conn.commit()
            old, self._detector = self._detector, Detector(self._rules.satellite, sats)
            if old is not None:
                self._detector.state.restore(sats.sat_id, old.state.blob(old.sats.sat_id, None))
        return self._detector

    @_serialised
    def restore_rule_state(self, topic: str, partitions: list[int]) -> None:
        """Load the stored rule state of ``partitions`` (on assignment), in place of what this
        process held for their satellites."""
        if self._rules is None:
            return
        self.known_satellites(refresh=True)
        detector = self.detector()
        detector.state.reset(np.isin(detector.state.arrays["partition"], partitions))
        for (blob,) in self._read(
            "SELECT state FROM rule_state WHERE consumer_group = %s AND topic = %s "
            "AND partition = ANY(%s) ORDER BY updated_at",
            (self._group, topic, partitions),
        ):
            detector.state.restore(detector.sats.sat_id, blob)

    @_serialised
    def stored_offsets(self, topic: str) -> dict[int, int]:
        """The next offset to consume per partition, as last committed with the data."""
        return dict(
            self._read(
                "SELECT partition, next_offset FROM ingest_offsets "
                "WHERE consumer_group = %s AND topic = %s",
                (self._group, topic),
            )
        )

    def _retrying(self, action):
        """Run ``action()``, reconnecting on a lost connection (a database restart) for up to
        ``RECONNECT_WITHIN_S``: a failed transaction stored nothing, so trying again is safe."""
        deadline = time.monotonic() + RECONNECT_WITHIN_S
        while True:
            try:
                return action()
            except psycopg.OperationalError as exc:
                if not connection_lost(exc) or time.monotonic() > deadline:
                    raise
                log.warning("database connection lost (%s); reconnecting", str(exc).splitlines()[0])
                self.close()
                time.sleep(1.0)

    @_serialised
    def write(self, parts: list[PartitionBatch]) -> WriteResult:
        """Store one poll in one transaction (retried whole after a lost connection).

        A poll the database refuses for what a record holds (``refused_for_content``) is
        bisected, each half in its own transaction, down to the record, which is then
        dead-lettered with the database's reason: the rest is stored, nothing is skipped.
        """
        detector = self.detector() if any(p.frames for p in parts) else None
        try:
            result, state = self._retrying(lambda: self._write_once(parts, detector))
        except psycopg.Error as exc:
            self._rollback()
            records = sum(len(p.storing()) for p in parts)
            if records == 0 or not refused_for_content(exc, records):
                raise
            return self._bisect(parts, exc, records)
        if state is not None:  # committed: the rules' new state is now the stored one
            detector.state = state
        return result

    def _bisect(self, parts: list[PartitionBatch], exc: psycopg.Error, records: int):
        if records <= 1:
            reason = f"refused by the database: {exc.sqlstate or 'client'} {exc}".splitlines()
            log.warning("dead-lettering a record the database refused: %s", reason[0])
            turned = [p.refused(" ".join(reason)) for p in parts]
            result = self.write(turned)
            result.refused = [
                d for t, p in zip(turned, parts, strict=True) for d in t.dead[len(p.dead) :]
            ]
            return result
        if len(parts) > 1:
            halves = (parts[: len(parts) // 2], parts[len(parts) // 2 :])
        else:
            left, right = parts[0].split()
            halves = ([left], [right])
        first, second = (self.write(h) for h in halves)
        return WriteResult(
            first.rows_inserted + second.rows_inserted,
            first.rows_repeated + second.rows_repeated,
            first.events_inserted + second.events_inserted,
            first.job_steps_inserted + second.job_steps_inserted,
            first.element_sets_repeated + second.element_sets_repeated,
            first.observed_inserted + second.observed_inserted,
            first.observed_repeated + second.observed_repeated,
            first.anomalies + second.anomalies,
            first.refused + second.refused,
            first.conflicting + second.conflicting,
        )

    def _rollback(self) -> None:
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.rollback()
            except psycopg.Error:
                self.close()

    def _write_once(self, parts: list[PartitionBatch], detector: Detector | None):
        """Lineage rows, telemetry, events, dead letters, anomalies with the rules' state,
        and the next offsets; returns the result and the rules' new state."""
        conn = self._connection()
        frames, events, steps, sets, packets = [], [], [], [], []
        part_of: dict[int, PartitionBatch] = {}
        with conn.transaction(), conn.cursor() as cur:
            for part in parts:
                cur.execute(
                    INSERT_BATCH,
                    (
                        self._group,
                        part.topic,
                        part.partition,
                        part.first_offset,
                        part.last_offset,
                        part.messages,
                        part.samples,
                        len(part.dead),
                    ),
                )
                batch_id = cur.fetchone()[0]
                part_of[batch_id] = part
                frames += [(batch_id, offset, frame) for offset, frame in part.frames]
                events += [(batch_id, offset, event) for offset, event in part.events]
                steps += [
                    (batch_id, offset, row) for offset, rows in part.job_steps for row in rows
                ]
                sets += [(batch_id, offset, es) for offset, es in part.element_sets]
                packets += [(batch_id, offset, p) for offset, p in part.observed]
            columns = frames_to_columns(frames)
            inserted, conflicts = self._insert_rows(cur, columns) if columns.n_rows else (0, [])
            if inserted and self._partitioned:  # the plain path's rollup, in this transaction
                cur.execute(
                    UPSERT_FROM_BATCHES,
                    (
                        int(columns.time_unix_us.min()),
                        int(columns.time_unix_us.max()),
                        sorted(part_of),
                    ),
                )
            anomalies, state = [], None
            if detector is not None:
                anomalies, state = detector.evaluate(
                    [(p.partition, f) for p in parts for _, f in p.frames]
                )
                if anomalies:
                    insert_anomalies(cur, anomalies)
                cur.executemany(
                    UPSERT_RULE_STATE,
                    [
                        (
                            self._group,
                            p.topic,
                            p.partition,
                            state.blob(detector.sats.sat_id, p.partition),
                        )
                        for p in parts
                        if p.frames
                    ],
                )
            events_inserted = self._insert_events(cur, events) if events else 0
            steps_inserted = self._insert_job_steps(cur, steps) if steps else 0
            sets_repeated = len(sets) - self._insert_element_sets(cur, sets) if sets else 0
            observed_samples = sum(p.n for _, _, p in packets)
            observed_inserted = self._insert_observed(cur, packets) if packets else 0
            conflicting = [
                DeadLetter(
                    part_of[b].topic,
                    part_of[b].partition,
                    offset,
                    f"conflicting duplicate: {n} samples of this message differ from those "
                    "stored for the same satellites and times; the stored ones are kept",
                    part_of[b].payloads.get(offset, b""),
                    samples=n,
                )
                for b, offset, n in conflicts
            ]
            dead = [d for part in parts for d in part.dead] + conflicting
            if dead:
                cur.executemany(
                    INSERT_DEAD_LETTER,
                    [
                        (d.topic, d.partition, d.offset, d.reason, d.samples, d.payload)
                        for d in dead
                    ],
                )
            for p in parts:
                cur.execute(UPSERT_OFFSET, (self._group, p.topic, p.partition, p.last_offset + 1))
                if cur.fetchone() is None:
                    raise StaleBatch(
                        f"{p.topic}[{p.partition}]: offsets past {p.last_offset} are already "
                        f"stored for group {self._group!r}; this batch is not written"
                    )
        result = WriteResult(
            inserted,
            columns.n_rows - inserted,
            events_inserted,
            steps_inserted,
            sets_repeated,
            observed_inserted,
            observed_samples - observed_inserted,
            anomalies,
            conflicting=conflicting,
        )
        return result, state

    def _insert_rows(
        self, cur: psycopg.Cursor, columns: Columns
    ) -> tuple[int, list[tuple[int, int, int]]]:
        """Rows inserted, and the conflicting duplicates as ``(batch_id, offset, samples)``:
        samples another batch stored with other values (kept as stored, reported)."""
        if self._partitioned:
            days = np.unique(columns.time_unix_us // US_PER_DAY)
            cur.execute("SELECT twin_ensure_partitions(%s::int8[])", (days.tolist(),))
        try:
            with cur.connection.transaction():  # a savepoint: undone whole on conflict
                return self._copy_direct(cur, columns), []
        except psycopg.errors.UniqueViolation:
            pass  # some rows are already stored (a replay): insert what is new
        cur.execute(CREATE_STAGE)
        with cur.copy("COPY telemetry_stage FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(binary_copy_payload(list(zip(columns.arrays(), _STAGE_TYPES, strict=True))))
        cur.execute(INSERT_FROM_STAGE)
        inserted = cur.rowcount
        cur.execute(FIND_CONFLICTS)
        return inserted, cur.fetchall()

    @staticmethod
    def _copy_direct(cur: psycopg.Cursor, columns: Columns) -> int:
        """The fast path when no row is stored yet: one binary COPY into the table."""
        arrays = [
            (columns.time_unix_us - PG_EPOCH_UNIX_US, "timestamptz"),
            (columns.sat_id, "int4"),
            (columns.batch_id, "int8"),
            (columns.kafka_offset, "int8"),
        ]
        nulls = {}
        for name, channel in CHANNELS.items():
            values = columns.channels[name]
            missing = np.isnan(values)
            nulls[len(arrays)] = missing
            if channel.pg_type == "float8":
                arrays.append((values, "float8"))
            elif channel.pg_type == "bool":
                arrays.append((values == 1.0, "bool"))
            else:
                arrays.append((np.where(missing, 0, values).astype(np.int16), channel.pg_type))
        with cur.copy(COPY_DIRECT) as copy:
            copy.write(binary_copy_payload(arrays, nulls))
        return columns.n_rows

    @staticmethod
    def _insert_events(cur: psycopg.Cursor, events: list[tuple[int, int, Event]]) -> int:
        cur.execute(
            INSERT_EVENTS,
            (
                [e.time_unix_ns // NS_PER_US for _, _, e in events],
                [e.sat_id for _, _, e in events],
                [e.kind for _, _, e in events],
                [e.station_id for _, _, e in events],
                [b for b, _, _ in events],
                [o for _, o, _ in events],
            ),
        )
        return cur.rowcount

    @staticmethod
    def _insert_job_steps(cur: psycopg.Cursor, steps: list[tuple[int, int, tuple]]) -> int:
        columns = [list(c) for c in zip(*(row for _, _, row in steps), strict=True)]
        columns[0] = [t // NS_PER_US for t in columns[0]]
        cur.execute(
            INSERT_JOB_EVENTS,
            (*columns, [b for b, _, _ in steps], [o for _, o, _ in steps]),
        )
        return cur.rowcount

    @staticmethod
    def _insert_element_sets(cur: psycopg.Cursor, sets: list[tuple[int, int, ElementSet]]) -> int:
        """Store element sets; returns how many were new (a satellite and epoch already
        stored is a repeat, dropped)."""
        es = [e for _, _, e in sets]
        cur.execute(
            INSERT_ELEMENT_SETS,
            (
                [e.norad_cat_id for e in es],
                [e.epoch_unix_ns // NS_PER_US for e in es],
                [e.object_name for e in es],
                [e.object_id for e in es],
                *([float(e.omm[key]) for e in es] for key in OMM_NUMBERS),
                [Jsonb(e.omm) for e in es],
                [e.tle[0] if e.tle else None for e in es],
                [e.tle[1] if e.tle else None for e in es],
                [b for b, _, _ in sets],
                [o for _, o, _ in sets],
            ),
        )
        return cur.rowcount

    @staticmethod
    def _insert_observed(
        cur: psycopg.Cursor, packets: list[tuple[int, int, ObservedPacket]]
    ) -> int:
        """Store observed samples, one row per satellite and time; returns how many were
        new (a sample already stored is a repeat, dropped)."""
        counts = [p.n for _, _, p in packets]

        def each(values, dtype) -> np.ndarray:
            return np.repeat(np.asarray(values, dtype=dtype), counts)

        time_us = np.concatenate([p.time_unix_ns // NS_PER_US for _, _, p in packets])
        received_us = each([p.received_unix_ns // NS_PER_US for _, _, p in packets], np.int64)
        arrays = [
            (time_us - PG_EPOCH_UNIX_US, "timestamptz"),
            (each([p.sat_id for _, _, p in packets], np.int32), "int4"),
            (received_us - PG_EPOCH_UNIX_US, "timestamptz"),
            (each([p.seq for _, _, p in packets], np.int64), "int8"),
        ]
        nulls = {}
        for name, channel in OBSERVED_CHANNELS.items():
            values = np.concatenate(
                [p.channels.get(name, np.full(p.n, np.nan)) for _, _, p in packets]
            )
            missing = np.isnan(values)
            nulls[len(arrays)] = missing
            if channel.dtype == "bool":
                arrays.append((values == 1.0, "bool"))
            elif channel.dtype == "int16":
                arrays.append((np.where(missing, 0, values).astype(np.int16), "int2"))
            else:
                arrays.append((values, "float8"))
        arrays += [
            (each([b for b, _, _ in packets], np.int64), "int8"),
            (each([o for _, o, _ in packets], np.int64), "int8"),
        ]
        cur.execute(CREATE_OBSERVED_STAGE)
        with cur.copy(COPY_OBSERVED_STAGE) as copy:
            copy.write(binary_copy_payload(arrays, nulls))
        cur.execute(INSERT_OBSERVED_FROM_STAGE)
        return cur.rowcount

    @_serialised
    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class StaleBatch(TwinError):
    """Another consumer of the group has stored offsets past this batch (this one lost its
    partitions): nothing of it is written; the consumer goes back to the stored offsets."""


def connection_lost(exc: psycopg.OperationalError) -> bool:
    """True when ``exc`` means the server is gone or going (connection failure, shutdown,
    a lock not had within ``lock_timeout``): worth reconnecting and trying again, as opposed
    to an error about the work itself."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03", "55P03")


def refused_for_content(exc: psycopg.Error, records: int) -> bool:
    """True when the database refused a write for what its records hold, so that bisecting
    finds the record: a data exception (class 22: a NUL in text, a value out of range), an
    integrity violation (23), a program limit (54: an oversized value), or one the driver
    raised before sending (mixed types in one array); with more than one record, also
    running out of memory or locks (53200: a poll spanning many partitions). Anything else
    (a lost connection, a missing privilege or table) is about the service, not a record."""
    state = exc.sqlstate or ""
    if isinstance(exc, psycopg.DataError) or state[:2] in ("22", "23", "54"):
        return True
    return state == "53200" and records > 1

"""The soak's rolling books: each completed window of the run is verified, then deleted.

A day of ``threebody-2800`` at 1 s ticks is 242 M samples, ~70 GB in plain PostgreSQL. With
``--verify-every`` the soak keeps only the windows still being written: a background thread
takes window after window, in order, and for each

1. waits until the twin has written a checkpoint at or past the window's end (a twin
   restarted from then on never sends the window again) and takes, per partition of the
   telemetry topic, the first offset stamped after that checkpoint: the twin flushes every
   frame before it writes a checkpoint, so every frame of the window, replays included, lies
   below (broker timestamps: the producer's clock at send);
2. waits until ingest has stored up to those offsets (``ingest_offsets``, committed with the
   data): whatever of the window will ever be stored is stored;
3. counts the window's rows per satellite against the samples the twin sent
   (``expected_samples``); on a difference it stops pruning and leaves the rest of the run
   to the final check, which then reports it;
4. evaluates the fleet rules up to the window's end (they read the rollup of the raw rows),
   under the run's own rule state, so that the final evaluation carries on from there;
5. deletes the window as the owner and vacuums, so the space is reused.

The final check adds the verified counts to the rows still stored and asserts the deleted
windows stayed empty: a row stored again after its window was verified would be a repeat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from ingest.rules.definitions import RuleSet
from ingest.rules.fleet import check_fleet
from ingest.store.db import connect
from twin.app.score import ScoredRun
from twin.sim import checkpoint

if TYPE_CHECKING:
    from soak import TopicOffsets

US_PER_S = 1_000_000
POLL_S = 5.0


# A run's rows in a window, through the primary key (sat_id, time): one index range per
# satellite, where the time alone would scan every page the day's partition has reused.
IN_WINDOW = (
    "sat_id = ANY(%s) AND time >= timestamptz 'epoch' + %s * interval '1 microsecond' "
    "AND time < timestamptz 'epoch' + %s * interval '1 microsecond'"
)


def stored_samples(
    database_url: str, window_us: tuple[int, int], sat_ids: np.ndarray
) -> dict[int, int]:
    """Rows per satellite of ``sat_ids`` stored in ``[start, end)`` µs."""
    with connect(database_url, application_name="twin-soak") as conn:
        rows = conn.execute(
            "SELECT sat_id, count(*) FROM telemetry WHERE " + IN_WINDOW + " GROUP BY sat_id",
            (sat_ids.tolist(), *window_us),
        ).fetchall()
    return dict(rows)


class Pruner:
    """Verify, then delete, each complete ``window_ticks`` of ``run`` but the last.

    ``checkpoints`` tells when the twin's checkpoints were written, ``offsets`` gives the
    telemetry topic's offsets by time (both with their own consumers, closed when the thread
    ends),
    ``expected(first_tick, stop_tick)`` the (n_sat,) samples the twin sends in those ticks.
    Results: ``verified`` ((n_sat,) int64 rows counted in deleted windows),
    ``pruned_until_us`` (the deleted span ends there), ``windows``, ``errors`` and
    ``problem`` (why pruning stopped early: books that did not balance, or an error).
    """

    def __init__(
        self,
        database_url: str,
        run: ScoredRun,
        rules: RuleSet,
        ingest_group: str,
        telemetry_topic: str,
        window_ticks: int,
        n_ticks: int,
        step_s: float,
        checkpoints: CheckpointWatch,
        offsets: TopicOffsets,
        expected: Callable[[int, int], np.ndarray],
    ) -> None:
        self._db, self._run, self._rules = database_url, run, rules
        self._group, self._topic = ingest_group, telemetry_topic
        self._window_ticks, self._n_ticks, self._step_s = window_ticks, n_ticks, step_s
        self._checkpoints, self._offsets, self._expected = checkpoints, offsets, expected
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="soak-prune", daemon=True)
        self.verified = np.zeros(run.sat_id.shape[0], np.int64)
        self.pruned_until_us = run.window_us[0]
        self.windows = 0
        self.problem: str | None = None
        self.errors = 0  # transient: a service down, tried again

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _tick_us(self, tick: int) -> int:
        return self._run.window_us[0] + round(tick * self._step_s * US_PER_S)

    def _work(self) -> None:
        try:
            self._prune()
        except Exception as exc:  # reported by the final check, not lost with the thread
            self.problem = f"verifying windows stopped: {type(exc).__name__}: {exc}"
        finally:
            self._offsets.close()
            self._checkpoints.close()

    def _prune(self) -> None:
        first = 0
        ends = None  # per partition, offsets the window's frames all lie below
        counted = None  # the window's verified counts, before its deletion went through
        while not self._stopping.wait(POLL_S) and self.problem is None:
            stop = first + self._window_ticks
            if stop >= self._n_ticks:
                return  # the last window is the final check's
            try:
                if ends is None:
                    written_ms = self._checkpoints.first_past(stop)
                    if written_ms is None:
                        continue
                    ends = self._offsets.offsets(after_ms=written_ms)
                    if ends is None:
                        continue
                if counted is None:
                    if not self._stored_up_to(ends):
                        continue
                    counted = self._count(first, stop)
                    if counted is None:
                        return
                    check_fleet(
                        self._db,
                        self._rules,
                        until_us=self._tick_us(stop),
                        since_us=self._run.window_us[0],
                        name=f"fleet-rules:{self._run.prefix}",
                    )
                self._delete(self._tick_us(first), self._tick_us(stop))
            except (psycopg.Error, KafkaError, OSError):
                self.errors += 1  # PostgreSQL or the broker killed: try again
                continue
            self.verified += counted
            self.pruned_until_us = self._tick_us(stop)
            self.windows += 1
            first, ends, counted = stop, None, None

    def _stored_up_to(self, ends: dict[int, int]) -> bool:
        with connect(self._db, application_name="twin-soak") as conn:
            stored = dict(
                conn.execute(
                    "SELECT partition, next_offset FROM ingest_offsets "
                    "WHERE consumer_group = %s AND topic = %s",
                    (self._group, self._topic),
                ).fetchall()
            )
        return all(stored.get(p, 0) >= end for p, end in ends.items())

    def _count(self, first: int, stop: int) -> np.ndarray | None:
        """The window's rows per satellite, or None (and ``problem`` set) when they differ
        from what the twin sent."""
        window_us = (self._tick_us(first), self._tick_us(stop))
        rows = stored_samples(self._db, window_us, self._run.sat_id)
        got = np.array([rows.get(int(s), 0) for s in self._run.sat_id], np.int64)
        expected = self._expected(first, stop)
        if np.array_equal(got, expected):
            return got
        off = np.nonzero(got != expected)[0][:5]
        self.problem = (
            f"window of ticks {first}..{stop} did not balance: (sat, expected, stored) "
            f"{[(int(self._run.sat_id[i]), int(expected[i]), int(got[i])) for i in off]}"
        )
        return None

    def _delete(self, start_us: int, end_us: int) -> None:
        with connect(self._db, application_name="twin-soak", autocommit=True) as conn:
            conn.execute(
                "DELETE FROM telemetry WHERE " + IN_WINDOW,
                (self._run.sat_id.tolist(), start_us, end_us),
            )
            conn.execute("VACUUM telemetry")


class CheckpointWatch:
    """The checkpoints of ``run_id`` on ``topic`` as the twin writes them: ``(next tick,
    broker timestamp in ms)`` in the order written, read by the consumer ``open_consumer()``
    makes."""

    def __init__(self, open_consumer: Callable[[], KafkaConsumer], topic: str, run_id: str):
        self._open, self._topic, self._key = open_consumer, topic, run_id.encode()
        self._consumer: KafkaConsumer | None = None
        self.written: list[tuple[int, int]] = []

    def first_past(self, tick: int) -> int | None:
        """When (broker ms) the first checkpoint at or past ``tick`` was written; None if
        none yet. A twin restarted after it resumes at or past ``tick``."""
        self._read()
        return next((ms for next_tick, ms in self.written if next_tick >= tick), None)

    def _read(self) -> None:
        if self._consumer is None:
            consumer = self._open()
            partitions = consumer.partitions_for_topic(self._topic)
            if not partitions:
                consumer.close()
                return
            consumer.assign([TopicPartition(self._topic, p) for p in partitions])
            consumer.seek_to_beginning()
            self._consumer = consumer
        for records in self._consumer.poll(timeout_ms=1000).values():
            for record in records:
                if record.key == self._key:
                    tick = checkpoint.decode(record.value).next_tick
                    self.written.append((tick, record.timestamp))

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()

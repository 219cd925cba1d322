"""Hostile records through the real broker into ``twin ingest``, beside a real run.

A twin run (``--preset``, default ``threebody-12``, ``--duration`` at max speed) sends its
frames, events and job steps to fresh topics while this program sends ``--records`` hostile
records, interleaved, to the same three topics. They are generated from ``--seed``: each of
the kinds in ``KINDS`` (broken JSON, wrong types, out-of-range and non-finite numbers, NUL and
lone surrogates, deep nesting, huge strings and arrays, unknown satellites, times outside the
window, ...) with values drawn at random, in turn. A few kinds are legal oddities that must be
*stored*: far but accepted dates, values at the edge of their range. Then one ``twin ingest
--stop-when-caught-up`` process consumes everything into a fresh database, and the books are
checked:

- every hostile record is dead-lettered (its topic, partition and offset in
  ``dead_letters``), with a reason that is printable and bounded, and nothing else is; the
  good samples a hostile frame also holds (registered satellites beside an unknown one) are
  stored, as one satellite's bad sample never costs the others theirs;
- every good sample (the run's and the legal oddities') is stored exactly once;
- every hostile job submission (sent to ``twin.jobs.submit`` before the run, which reads it
  from ``--jobs-since``) became one rejected job step, stored, and the twin ran to its end;
- ingest ran once and exited 0 (it was never restarted);
- per partition, the stored batches' offsets only move forward and end at the topic's end.

Prints the figures and ``hostile: PASSED`` (exit 0) or ``hostile: FAILED`` with what failed.

Run: ``eval "$(scripts/stack up)"; python bench/hostile.py [--records 10000]``. A short
variant runs in the tests (``tests/test_hostile_kafka.py``).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import drop_database, fresh_database

from ingest.store.db import connect
from ingest.store.dimensions import register_fleet
from twin.core.clock import NS_PER_S, parse_start
from twin.core.errors import MAX_REASON_CHARS
from twin.sim.presets import build, load_preset
from twin.stream.broker import admin_client
from twin.stream.contract import examples
from twin.wire import events, jobs, telemetry

START = "2026-03-20T12:00:00Z"
T0 = parse_start(START)
TOPICS = {
    "telemetry": telemetry.TELEMETRY_TOPIC,
    "events": events.EVENTS_TOPIC,
    "jobs": jobs.JOBS_TOPIC,
    "submit": jobs.SUBMIT_TOPIC,  # read by the twin, not by ingest
}
INGESTED = ("telemetry", "events", "jobs")
BIG_KINDS_MAX = 3  # records of more than 1 MiB sent at most this often each

Record = tuple[str, bytes, bytes, int]  # (topic name, key, value, good samples it holds)


@cache
def _examples() -> dict[str, list[dict]]:
    return examples()


def _frame(rng: random.Random, **changes) -> dict:
    """The contract's example frame (12 satellites of threebody-12), changed."""
    body = dict(_examples()["twin.telemetry"][0])
    body.update(changes)
    return body


def _event(**changes) -> dict:
    body = {"schema": "twin.events", "version": 1, "time_unix_ns": T0, "sat_id": 3}
    return {**body, "kind": "eclipse_entry", **changes}


def _submission(rng: random.Random, **changes) -> bytes:
    """A job submission with a job id of its own (each rejection is one stored step)."""
    body = {"schema": jobs.SUBMIT_SCHEMA_ID, "version": 1, "kind": "inference"}
    return _dumps({**body, "job_id": f"hostile-{rng.randrange(10**12)}", **changes})


def _steps(**changes) -> dict:
    return {**_examples()["twin.jobs"][0], **changes}


def _dumps(body: object) -> bytes:
    return orjson.dumps(body)


def _text(rng: random.Random) -> str:
    return rng.choice(["\x00", "a\x00b", "\u202e", "😀", "'; DROP TABLE telemetry; --", ""])


def _later(rng: random.Random) -> int:
    """A time well after the run, distinct per draw (legal oddities must not collide)."""
    return T0 + (86_400 + rng.randrange(10**9)) * NS_PER_S


def _n12(value) -> list:
    return [value] * 12


# name -> (topic name, make(rng) -> value bytes, samples stored when legal else 0, big)
KINDS: dict[str, tuple[str, Callable[[random.Random], bytes], int, bool]] = {
    "not JSON": ("telemetry", lambda r: b"{oops" + bytes([r.randrange(256)]), 0, False),
    "empty": ("telemetry", lambda r: b"", 0, False),
    "binary": ("telemetry", lambda r: r.randbytes(r.randrange(1, 400)), 0, False),
    "truncated": ("telemetry", lambda r: _dumps(_frame(r))[: r.randrange(1, 500)], 0, False),
    "JSON array": ("telemetry", lambda r: _dumps([_frame(r)]), 0, False),
    "JSON scalar": ("telemetry", lambda r: r.choice([b"null", b"1", b'"x"', b"true"]), 0, False),
    "wrong schema": ("telemetry", lambda r: _dumps(_frame(r, schema=_text(r))), 0, False),
    "wrong version": (
        "telemetry",
        lambda r: _dumps(_frame(r, version=r.choice([2, 0, True]))),
        0,
        False,
    ),
    "unknown field": ("telemetry", lambda r: _dumps(_frame(r, **{_text(r) + "x": 1})), 0, False),
    "missing time": (
        "telemetry",
        lambda r: _dumps({k: v for k, v in _frame(r).items() if k != "time_unix_ns"}),
        0,
        False,
    ),
    "time as float": ("telemetry", lambda r: _dumps(_frame(r, time_unix_ns=T0 / 1.0)), 0, False),
    "time negative": (
        "telemetry",
        lambda r: _dumps(_frame(r, time_unix_ns=-r.randrange(1, 10**18))),
        0,
        False,
    ),
    "time beyond 64 bits": (
        "telemetry",
        lambda r: _dumps(_frame(r, time_unix_ns=T0)).replace(
            str(T0).encode(), str(2**64 + r.randrange(9)).encode(), 1
        ),
        0,
        False,
    ),
    "time before 1990": (
        "telemetry",
        lambda r: _dumps(_frame(r, time_unix_ns=r.randrange(0, 6 * 10**17))),
        0,
        False,
    ),
    "time after 2100": (
        "telemetry",
        lambda r: _dumps(_frame(r, time_unix_ns=4_200_000_000 * NS_PER_S + r.randrange(10**18))),
        0,
        False,
    ),
    "group not a string": (
        "telemetry",
        lambda r: _dumps(_frame(r, group=r.choice([7, None, []]))),
        0,
        False,
    ),
    "group with NUL": (
        "telemetry",
        lambda r: _dumps(_frame(r, group="planes-0000-\x000000")),
        0,
        False,
    ),
    "no satellites": ("telemetry", lambda r: _dumps(_frame(r, sat_id=[])), 0, False),
    "satellite twice": (
        "telemetry",
        lambda r: _dumps(_frame(r, sat_id=_n12(r.randrange(1, 13)))),
        0,
        False,
    ),
    "unregistered satellite": (
        "telemetry",
        lambda r: _dumps(
            _frame(r, time_unix_ns=_later(r), sat_id=[*range(1, 12), r.randrange(13, 2**31)])
        ),
        11,  # the registered satellites' samples are stored; the message is dead-lettered
        False,
    ),
    "satellite as bool": (
        "telemetry",
        lambda r: _dumps(_frame(r, sat_id=[True, *range(2, 13)])),
        0,
        False,
    ),
    "lengths differ": (
        "telemetry",
        lambda r: _dumps(_frame(r, lat_deg=[0.0] * r.choice([0, 11, 13]))),
        0,
        False,
    ),
    "out of range": (
        "telemetry",
        lambda r: _dumps(_frame(r, soc=_n12(1.0 + r.random() + 1e-9))),
        0,
        False,
    ),
    "string in a number channel": (
        "telemetry",
        lambda r: _dumps(_frame(r, alt_km=_n12(_text(r)))),
        0,
        False,
    ),
    "bool in a number channel": (
        "telemetry",
        lambda r: _dumps(_frame(r, alt_km=_n12(True))),
        0,
        False,
    ),
    "incomplete group": (
        "telemetry",
        lambda r: _dumps({k: v for k, v in _frame(r).items() if k != "temp_radiator_c"}),
        0,
        False,
    ),
    "NaN token": (
        "telemetry",
        lambda r: _dumps(_frame(r)).replace(b'"alt_km":[', b'"alt_km":[NaN,', 1),
        0,
        False,
    ),
    "infinite number": (
        "telemetry",
        lambda r: _dumps(_frame(r, alt_km=_n12(123.25))).replace(b"123.25", b"1e999", 1),
        0,
        False,
    ),
    "lone surrogate": (
        "telemetry",
        lambda r: _dumps(_frame(r, group="G")).replace(b'"G"', b'"\\ud800"'),
        0,
        False,
    ),
    "duplicate keys": (
        "telemetry",
        lambda r: _dumps(_frame(r))[:-1] + b',"sat_id":[0,0,0,0,0,0,0,0,0,0,0,0]}',
        0,
        False,
    ),
    "deep nesting": ("telemetry", lambda r: b"[" * r.randrange(1025, 100_000), 0, False),
    "huge array": (
        "telemetry",
        lambda r: _dumps(_frame(r, sat_id=list(range(1, 10_002)))),
        0,
        False,
    ),
    "huge string": (
        "telemetry",
        lambda r: _dumps(_frame(r, group="planes-" + "0" * r.randrange(10**6, 1_900_000))),
        0,
        True,
    ),
    "oversized": (
        "telemetry",
        lambda r: _dumps(_frame(r, group="x" * (2 * 1024 * 1024 + 1))),
        0,
        True,
    ),
    "event kind unknown": ("events", lambda r: _dumps(_event(kind=_text(r) + "boom")), 0, False),
    "event station as float": ("events", lambda r: _dumps(_event(station_id=0.0)), 0, False),
    "event station as bool": ("events", lambda r: _dumps(_event(station_id=False)), 0, False),
    "event contact without station": (
        "events",
        lambda r: _dumps(_event(kind="contact_aos")),
        0,
        False,
    ),
    "event unregistered satellite": (
        "events",
        lambda r: _dumps(_event(sat_id=r.randrange(13, 2**31))),
        0,
        False,
    ),
    "steps lengths differ": ("jobs", lambda r: _dumps(_steps(job_id=["a"])), 0, False),
    "steps job id with NUL": (
        "jobs",
        lambda r: _dumps(_steps(job_id=[f"j\x00{r.randrange(99)}"] * len(_steps()["job_id"]))),
        0,
        False,
    ),
    "steps unknown step": (
        "jobs",
        lambda r: _dumps(_steps(step=[_text(r)] * len(_steps()["step"]))),
        0,
        False,
    ),
    # Job submissions, read by the twin: each must become one rejected step (stored by
    # ingest from twin.jobs), the twin running on.
    "submission not JSON": ("submit", lambda r: b'{"schema": "twin.jobs.submit", ', 0, False),
    "submission deeply nested kind": (
        "submit",
        lambda r: _submission(r, kind="K").replace(b'"K"', b"[" * 1000 + b"1" + b"]" * 1000),
        0,
        False,
    ),
    "submission NUL in a key": ("submit", lambda r: _submission(r, **{"x\x00": 1}), 0, False),
    "submission unknown kind": ("submit", lambda r: _submission(r, kind=_text(r) + "x"), 0, False),
    "submission work out of range": (
        "submit",
        lambda r: _submission(r, work_tera_ops=r.choice([0, -1, 1e300, True])),
        0,
        False,
    ),
    "submission satellite not in the fleet": (
        "submit",
        lambda r: _submission(r, sat_id=r.randrange(13, 2**31)),
        0,
        False,
    ),
    # Legal oddities: stored, not dead-lettered.
    "legal: far future": (
        "telemetry",
        lambda r: _dumps(
            _frame(
                r, time_unix_ns=parse_start("2099-06-01T00:00:00Z") + r.randrange(10**6) * NS_PER_S
            )
        ),
        12,
        False,
    ),
    "legal: far past": (
        "telemetry",
        lambda r: _dumps(
            _frame(
                r, time_unix_ns=parse_start("1990-06-01T00:00:00Z") + r.randrange(10**6) * NS_PER_S
            )
        ),
        12,
        False,
    ),
    "legal: edge values": (
        "telemetry",
        lambda r: _dumps(_frame(r, time_unix_ns=_later(r), soc=_n12(1.0), utilisation=_n12(0.0))),
        12,
        False,
    ),
}


def generate(n: int, seed: int) -> list[tuple[str, Record]]:
    """``n`` hostile records, the kinds in turn (big ones at most ``BIG_KINDS_MAX`` times),
    each drawn from ``seed``; legal oddities carry the samples they must store."""
    rng = random.Random(seed)
    names = list(KINDS)
    made: list[tuple[str, Record]] = []
    big = Counter()
    i = 0
    while len(made) < n:
        name = names[i % len(names)]
        i += 1
        topic, make, samples, is_big = KINDS[name]
        if is_big:
            if big[name] >= BIG_KINDS_MAX:
                continue
            big[name] += 1
        made.append((name, (topic, f"hostile-{i}".encode(), make(rng), samples)))
    return made


def _twin(args: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], env=env, capture_output=True, text=True, **kwargs
    )


def run(args: argparse.Namespace) -> bool:
    from kafka import KafkaProducer

    bootstrap = os.environ["TWIN_KAFKA_BOOTSTRAP"]
    admin = os.environ["TWIN_TIMESCALE_URL" if args.timescale else "TWIN_DATABASE_URL"]
    store = "timescaledb" if args.timescale else "postgresql"
    prefix = f"hostile-{uuid.uuid4().hex[:8]}."
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")  # the twin reads from here
    env = {**os.environ, "TWIN_TOPIC_PREFIX": prefix, "TWIN_STORE": store}
    url = fresh_database(admin, register=False, store=store)
    env["TWIN_DATABASE_URL"] = url
    ok = True
    try:
        fleet, hw = build(load_preset(args.preset), T0)
        register_fleet(url, fleet, hw, args.preset, ["batch-1"], 1.0)
        done = _twin(["topics", "ensure"], env)
        assert done.returncode == 0, done.stderr
        records = generate(args.records, args.seed)
        print(
            f"hostile: {len(records)} records of {len({n for n, _ in records})} kinds, "
            f"{sum(1 for n, _ in records if n.startswith('legal'))} of them legal oddities"
        )
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=5,
            max_request_size=8 * 1024 * 1024,
            compression_type="zstd",
        )
        sent: dict[tuple[str, int, int], tuple[str, int]] = {}
        lock = threading.Lock()

        def sent_at(name: str, samples: int):
            def remember(meta) -> None:
                with lock:
                    sent[(meta.topic, meta.partition, meta.offset)] = (name, samples)

            return remember

        submissions = [(n, r) for n, r in records if r[0] == "submit"]
        for _, (topic, key, value, _) in submissions:  # waiting for the twin's first tick
            producer.send(prefix + TOPICS[topic], key=key, value=value)
        producer.flush(timeout=300)
        started = time.monotonic()
        twin = subprocess.Popen(
            [sys.executable, "-m", "twin", "run", "--preset", args.preset, "--start", START,
             "--duration", args.duration, "--speed", "max", "--checkpoint-every", "off",
             "--jobs-since", since],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for name, (topic, key, value, samples) in records:  # interleaved with the run's
            if topic != "submit":
                future = producer.send(prefix + TOPICS[topic], key=key, value=value)
                future.add_callback(sent_at(name, samples))
        producer.flush(timeout=300)
        producer.close()
        out, err = twin.communicate(timeout=1800)
        if twin.returncode != 0:
            print(f"hostile: FAILED: twin run exited {twin.returncode}: {err[-2000:]}")
            return False
        good = int(out.split(" samples in ")[0].rsplit(" ", 1)[-1])
        ingest = _twin(["ingest", "--stop-when-caught-up"], env, timeout=3600)
        wall_s = time.monotonic() - started
        print(f"hostile: ingest exited {ingest.returncode} (one process, never restarted)")
        ok &= ingest.returncode == 0 and "Traceback" not in ingest.stderr
        if not ok:
            print(ingest.stderr[-3000:])
        ok &= check(url, prefix, sent, good, wall_s, bootstrap)
        ok &= check_submissions(url, len(submissions))
    finally:
        drop_database(admin, url)
        _delete_topics(bootstrap, prefix)
    print(f"hostile: {'PASSED' if ok else 'FAILED'}")
    return ok


def check(url: str, prefix: str, sent: dict, good: int, wall_s: float, bootstrap: str) -> bool:
    """The books: dead letters against what was sent, samples, offsets."""
    hostile = {w: name for w, (name, _) in sent.items() if not name.startswith("legal")}
    legal = sum(samples for _, samples in sent.values())  # good samples inside them
    with connect(url) as conn:
        dead = conn.execute(
            "SELECT topic, partition, kafka_offset, reason FROM dead_letters"
        ).fetchall()
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (sat_id, time)) FROM telemetry"
        ).fetchone()
        batches = conn.execute(
            "SELECT topic, partition, first_offset, last_offset FROM ingest_batches "
            "ORDER BY batch_id"
        ).fetchall()
        stored = dict(
            ((t, p), o)
            for t, p, o in conn.execute("SELECT topic, partition, next_offset FROM ingest_offsets")
        )
    lettered = {(t, p, o): reason for t, p, o, reason in dead}
    missing = [hostile[w] for w in hostile if w not in lettered]
    hostile_seen = {w: n for w, n in hostile.items() if w in lettered}
    extra = [w for w in lettered if w not in hostile]
    unsafe = [r for r in lettered.values() if "\x00" in r or len(r) > MAX_REASON_CHARS + 1]
    backwards = _backwards(batches)
    ends = _end_offsets(bootstrap, prefix)
    behind = {tp: (stored.get(tp), end) for tp, end in ends.items() if stored.get(tp, 0) != end}
    print(f"hostile: sent {len(sent)}: {len(hostile)} hostile, {len(sent) - len(hostile)} legal")
    print(f"hostile: dead-lettered {len(lettered)} ({len(missing)} missing, {len(extra)} not sent)")
    by_kind = Counter(hostile.values())
    for name, count in sorted(by_kind.items()):
        example = next((lettered[w] for w, n in hostile_seen.items() if n == name), "-")
        print(f"hostile:   {count:5d} {name}: e.g. {example[:100]}")
    print(
        f"hostile: samples expected {good + legal:,} (run {good:,}, in the records sent "
        f"{legal:,}), "
        f"stored {rows:,} ({rows - distinct} twice)"
    )
    print(
        f"hostile: offsets: {len(backwards)} moved backwards; "
        f"{len(behind)} partitions not consumed to their end; {wall_s:.0f} s wall"
    )
    failures = {
        "hostile records not dead-lettered": missing[:10],
        "dead letters nobody sent": extra[:10],
        "unsafe reasons": unsafe[:3],
        "samples": [] if rows == distinct == good + legal else [(rows, distinct, good + legal)],
        "offsets backwards": backwards[:5],
        "partitions behind": list(behind.items())[:5],
    }
    for what, found in failures.items():
        if found:
            print(f"hostile: FAILED: {what}: {found}")
    return not any(failures.values())


def check_submissions(url: str, sent: int) -> bool:
    """Every hostile submission became one rejected job step, stored; the twin ran on."""
    with connect(url) as conn:
        rejected, reasons = conn.execute(
            "SELECT count(DISTINCT job_id), count(DISTINCT reason) FROM job_events "
            "WHERE state = 'rejected' AND (job_id LIKE 'hostile-%' OR job_id LIKE 'submit-%')"
        ).fetchone()
    print(
        f"hostile: {sent} job submissions to the twin: {rejected} rejected steps stored "
        f"({reasons} distinct reasons); the twin ran to its end"
    )
    if rejected != sent:
        print(f"hostile: FAILED: submissions sent {sent}, rejected steps {rejected}")
    return rejected == sent


def _backwards(batches: list[tuple]) -> list[tuple]:
    """Batches that start before the previous batch of their partition ended."""
    last: dict[tuple[str, int], int] = {}
    found = []
    for topic, partition, first, end in batches:
        if (topic, partition) in last and first <= last[(topic, partition)]:
            found.append((topic, partition, first, last[(topic, partition)]))
        last[(topic, partition)] = end
    return found


def _end_offsets(bootstrap: str, prefix: str) -> dict[tuple[str, int], int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(prefix + name, p)
            for name in (TOPICS[t] for t in INGESTED)
            for p in consumer.partitions_for_topic(prefix + name) or ()
        ]
        return {(tp.topic, tp.partition): end for tp, end in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def _delete_topics(bootstrap: str, prefix: str) -> None:
    admin = admin_client(bootstrap)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--preset", default="threebody-12")
    parser.add_argument("--duration", default="10m", help="the run beside them (simulated)")
    parser.add_argument("--timescale", action="store_true", help="into $TWIN_TIMESCALE_URL")
    return 0 if run(parser.parse_args()) else 1


if __name__ == "__main__":
    sys.exit(main())

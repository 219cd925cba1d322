"""Chaos soak: a scored fault scenario through the real broker and database while processes
and services are killed, with malformed messages injected; then the books are checked.

The twin (``twin run``, checkpointing every ``--checkpoint-every``) and the ingest service
(``twin ingest`` with the rules) run as supervised processes: a process that dies is started
again, as systemd's ``Restart=on-failure`` would, after ``RESTART_DELAY_S``. At ``--kills``
moments drawn from ``--seed`` (shares of the run: frames sent for the twin, which runs
ahead, samples stored for the others) the chaos
driver sends SIGKILL to one of: the twin, the ingest process, the Kafka broker, PostgreSQL
(in turn, in a seeded order), and restarts the service after an outage of 2 to 10 s with
``scripts/stack up``. At ``--bad-messages`` other moments it sends one malformed message
(garbage, truncated JSON, an unknown satellite, a time out of range, an oversized message,
too many satellites, a wrong schema version, a bad event, a bad job message) to the run's
topics. It stops by itself: after the run, or after ``--max-wall``.

At the end it drains ingest and checks:

- every (satellite, time) sample the twin produced is stored exactly once: the stored rows
  equal satellites × ticks less the ticks of telemetry-dropout faults, for every satellite
  (the primary key rules out duplicates);
- the dead letters of the run's topics are exactly the injected messages (topic, partition
  and offset), each with its reason;
- the anomaly score meets its targets (recall, median latency, false alarms);
- throughput: samples stored per wall second, from the twin's start to the drained store.

A day of threebody-2800 is ~70 GB in plain PostgreSQL. With ``--verify-every`` each completed
window is checked as the run goes (against the same expected samples), then deleted, and the
final books add the verified counts to what is still stored (``soak_prune.py``).

Prints the figures and ``soak: PASSED`` (exit 0) or ``soak: FAILED`` with what failed
(exit 1). Loopback services only: it refuses any other address.

Run, with the stack up (``eval "$(scripts/stack up)"``)::

    python bench/soak.py --preset threebody-2800 --duration 24h --kills 12 --bad-messages 18 \
        --verify-every 1h
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import orjson
import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from soak_prune import CheckpointWatch, Pruner, stored_samples

from ingest.rules.definitions import load_rules
from ingest.service.consumer import MAX_MESSAGE_BYTES
from ingest.store.db import connect
from twin.app.config import env_kafka_security
from twin.app.score import finish_scored_run, prepare_scored_run
from twin.core.clock import NS_PER_S, parse_duration_ns
from twin.core.settings import ENV_STORE, KafkaSecurity
from twin.fleet.constellation import Fleet, frame_groups
from twin.sim import presets
from twin.sim.faults import KINDS, Scenario, load_scenario
from twin.stream.broker import (
    DEFAULT_TOPICS_FILE,
    admin_client,
    load_topics,
    open_client,
    schema_headers,
)
from twin.stream.runner import CHECKPOINTS_TOPIC
from twin.wire import events, jobs, telemetry

REPO = Path(__file__).resolve().parent.parent
STACK = REPO / "scripts" / "stack"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TARGETS = ("twin", "ingest", "kafka", "postgres")
RESTART_DELAY_S = 2.0
OUTAGE_S = (2.0, 10.0)
POLL_S = 1.0
# Disk a stored sample takes, measured on the stack: plain PostgreSQL ~290 bytes (heap and
# key index), the broker ~130 (telemetry, events, job steps, checkpoints; at --speed max it
# holds most of the run until ingest catches up).
DATABASE_BYTES_PER_SAMPLE = 290
BROKER_BYTES_PER_SAMPLE = 130
# With --verify-every the database holds the windows from the one being verified to the
# newest stored (ingest's partitions run hours apart) and the space vacuum has yet to hand
# back: a day's soak of threebody-2800 held up to 41 GB, about 15 windows of an hour.
WINDOWS_HELD = 15


# ------------------------------------------------------------------ supervised processes
class Supervised:
    """A process started again whenever it dies, until ``done`` (exit 0 ends a run-to-end
    process such as the twin)."""

    def __init__(self, name: str, command: list[str], log_dir: Path, ends: bool) -> None:
        self.name, self.command, self.ends = name, command, ends
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.done = False
        self.starts = 0
        self.crashes: list[int] = []  # exit codes of deaths nobody asked for
        self._due = 0.0

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        self.starts += 1

    def supervise(self) -> None:
        """Restart the process if it died (after a delay); mark a run-to-end process done."""
        if self.done or self.proc is None:
            return
        code = self.proc.poll()
        if code is None:
            return
        if code == 0 and self.ends:
            self.done = True
            return
        now = time.monotonic()
        if not self._due:
            if code != -signal.SIGKILL:
                self.crashes.append(code)
            self._due = now + RESTART_DELAY_S
        if now >= self._due:
            self._due = 0.0
            self.start()

    def kill(self) -> bool:
        """SIGKILL the process if it runs; True if it was running."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.kill()
        self.proc.wait()
        return True

    def stop(self) -> None:
        """Stop for good (SIGTERM, then SIGKILL after 30 s)."""
        self.done = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ malformed messages
def _frame(time_ns: int, sat_id: np.ndarray) -> dict:
    """A well-formed frame body (power channels only) for ``sat_id`` at ``time_ns``."""
    names = telemetry.GROUPS["power"]
    channels = {n: np.zeros(sat_id.shape[0], telemetry.CHANNELS[n].dtype) for n in names}
    frame = telemetry.Frame(time_ns, "planes-9999-9999", sat_id.astype(np.int32), channels)
    return orjson.loads(telemetry.encode(frame))


def bad_message(kind: str, rng: np.random.Generator, known_sat: int, time_ns: int):
    """``(topic, value)`` of one malformed message of ``kind`` (topic without prefix)."""
    one = np.array([known_sat])
    if kind == "garbage":
        return telemetry.TELEMETRY_TOPIC, rng.bytes(300)
    if kind == "truncated":
        return telemetry.TELEMETRY_TOPIC, orjson.dumps(_frame(time_ns, one))[:-40]
    if kind == "unknown_satellite":
        return telemetry.TELEMETRY_TOPIC, orjson.dumps(_frame(time_ns, np.array([2_000_000_000])))
    if kind == "time_out_of_range":
        return telemetry.TELEMETRY_TOPIC, orjson.dumps(_frame(315_532_800 * NS_PER_S, one))
    if kind == "oversized":
        body = _frame(time_ns, one) | {"padding": rng.bytes(MAX_MESSAGE_BYTES // 2).hex()}
        return telemetry.TELEMETRY_TOPIC, orjson.dumps(body)
    if kind == "too_many_satellites":
        sats = np.arange(1, telemetry.MAX_SATELLITES_PER_FRAME + 2)
        return telemetry.TELEMETRY_TOPIC, orjson.dumps(_frame(time_ns, sats))
    if kind == "wrong_version":
        return telemetry.TELEMETRY_TOPIC, orjson.dumps(_frame(time_ns, one) | {"version": 99})
    if kind == "bad_event":
        return events.EVENTS_TOPIC, b'{"schema": "twin.events", "version": 1, "sat_id": '
    if kind == "bad_job_message":
        return jobs.JOBS_TOPIC, orjson.dumps({"schema": jobs.SCHEMA_ID, "version": 1})
    raise ValueError(f"bad message kind {kind!r}")


BAD_KINDS = (
    "garbage",
    "truncated",
    "unknown_satellite",
    "time_out_of_range",
    "oversized",
    "too_many_satellites",
    "wrong_version",
    "bad_event",
    "bad_job_message",
)
SCHEMAS = {
    telemetry.TELEMETRY_TOPIC: (telemetry.SCHEMA_ID, telemetry.SCHEMA_VERSION),
    events.EVENTS_TOPIC: (events.SCHEMA_ID, events.SCHEMA_VERSION),
    jobs.JOBS_TOPIC: (jobs.SCHEMA_ID, jobs.SCHEMA_VERSION),
}


# ------------------------------------------------------------------ the books
def expected_samples(
    scenario: Scenario, sat_ids: np.ndarray, n_ticks: int, step_s: float, first_tick: int = 0
):
    """(n_sat,) int64 samples each satellite sends in ticks ``[first_tick, n_ticks)``: every
    tick but those inside one of its telemetry-dropout faults (``onset_s <= t < end_s``)."""
    drop = scenario.kind == KINDS.index("telemetry_dropout")
    t_s = np.arange(first_tick, n_ticks) * step_s
    silent = (scenario.onset_s[drop, None] <= t_s) & (t_s < scenario.end_s[drop, None])
    expected = np.full(sat_ids.shape[0], n_ticks - first_tick, np.int64)
    rows = np.searchsorted(sat_ids, scenario.sat_id[drop])
    np.subtract.at(expected, rows, silent.sum(axis=1))
    return expected


class Stored:
    """How far ingest has got: simulated seconds of ``sat_id``'s telemetry stored, through one
    connection, opened again after the database went away."""

    def __init__(self, database_url: str, sat_id: int, start_us: int) -> None:
        self._url, self._sat_id, self._start_us = database_url, sat_id, start_us
        self._conn: psycopg.Connection | None = None

    def until_s(self) -> float | None:
        """None while the database does not answer."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self._url, autocommit=True, application_name="twin-soak")
            newest = self._conn.execute(
                "SELECT (extract(epoch FROM max(time)) * 1e6)::int8 FROM telemetry "
                "WHERE sat_id = %s AND time >= to_timestamp(%s / 1e6)",
                (self._sat_id, self._start_us),
            ).fetchone()[0]
        except psycopg.Error:  # the database may be down: that is the point of the soak
            self.close()
            return None
        return 0.0 if newest is None else (newest - self._start_us) / 1e6

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@functools.cache
def security() -> KafkaSecurity:
    """The Kafka security settings of the environment (``TWIN_KAFKA_SECURITY_PROTOCOL``...),
    as the twin and ingest processes read them."""
    return env_kafka_security(os.environ)


def soak_consumer(bootstrap: str) -> KafkaConsumer:
    """A group-less consumer for the driver's own reads."""
    return open_client(
        KafkaConsumer, bootstrap, security(), group_id=None, enable_auto_commit=False,
        session_timeout_ms=6000, request_timeout_ms=8000, client_id="twin-soak",
        isolation_level="read_committed", max_partition_fetch_bytes=64 << 20,
    )  # fmt: skip


class TopicOffsets:
    """Offsets of one topic's partitions on the broker, through the driver's own consumer."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = soak_consumer(bootstrap)
        self._topic = topic

    def offsets(self, after_ms: int | None = None) -> dict[int, int] | None:
        """``{partition: end offset}``, or with ``after_ms`` the first offset stamped after
        it (the end offset where nothing is yet); None while the broker does not answer."""
        try:
            partitions = self._consumer.partitions_for_topic(self._topic) or ()
            tps = [TopicPartition(self._topic, p) for p in partitions]
            ends = self._consumer.end_offsets(tps)
            found = (
                {}
                if after_ms is None
                else self._consumer.offsets_for_times({tp: after_ms + 1 for tp in tps})
            )
        except Exception:  # the broker may be down: that is the point of the soak
            return None
        return {
            tp.partition: ends[tp] if found.get(tp) is None else found[tp].offset for tp in tps
        } or None

    def close(self) -> None:
        self._consumer.close()


def dead_letters(database_url: str, prefix: str) -> dict[tuple[str, int, int], str]:
    """``(topic, partition, offset) -> reason`` of the run's topics."""
    with connect(database_url) as conn:
        rows = conn.execute(
            "SELECT topic, partition, kafka_offset, reason FROM dead_letters "
            "WHERE starts_with(topic, %s)",
            (prefix,),
        ).fetchall()
    return {(t, p, o): r for t, p, o, r in rows}


# ------------------------------------------------------------------ the driver
@dataclasses.dataclass
class Chaos:
    """What the driver did."""

    kills: list[tuple[float, str, float]] = dataclasses.field(default_factory=list)
    injected: dict[tuple[str, int, int], str] = dataclasses.field(default_factory=dict)


def bound_retention(bootstrap: str, prefix: str, retention: str) -> None:
    """Keep the run's telemetry on the broker for ``retention`` (wall time), in 128 MiB
    segments so that old ones can go; the topic's other settings stay as in topics.toml."""
    spec = load_topics(DEFAULT_TOPICS_FILE, prefix)[telemetry.TELEMETRY_TOPIC]
    retention_ms = parse_duration_ns("--telemetry-retention", retention) // 1_000_000
    configs = {**spec.configs, "retention.ms": str(retention_ms), "segment.bytes": str(128 << 20)}
    admin = admin_client(bootstrap, security())
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, configs)])
    finally:
        admin.close()


def stack(command: str) -> float:
    """Run ``scripts/stack <command>``; return its wall seconds."""
    t0 = time.monotonic()
    subprocess.run([str(STACK), command], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def scenario_fleet(scenario_path: Path) -> Fleet:
    """The fleet the scenario is for (its elements' epoch aside)."""
    preset = presets.load_preset(load_scenario(str(scenario_path)).preset)
    return presets.build(preset, 0)[0]


def check_disk(n_samples: int, stored_at_once: int | None = None) -> None:
    """Refuse a soak the stack's disk cannot hold: PostgreSQL stops when its disk fills.
    ``stored_at_once``: the samples the database holds at most, when verified windows are
    deleted (``--verify-every``); the broker keeps every sample."""
    where = Path(os.environ.get("TWIN_STACK_DIR") or tempfile.gettempdir())
    need = n_samples * BROKER_BYTES_PER_SAMPLE + DATABASE_BYTES_PER_SAMPLE * (
        n_samples if stored_at_once is None else min(n_samples, stored_at_once)
    )
    free = shutil.disk_usage(where).free
    if need > free:
        raise SystemExit(
            f"soak: {n_samples:,} samples need ~{need / 1e9:.0f} GB for the database and the "
            f"broker, but {where} has {free / 1e9:.0f} GB free: free disk, or soak for less"
        )


def check_loopback(bootstrap: str, database_url: str) -> None:
    hosts = {h.rsplit(":", 1)[0].strip("[]") for h in bootstrap.split(",")}
    hosts.add(urlsplit(database_url).hostname or "")
    outside = sorted(hosts - LOOPBACK)
    if outside:
        raise SystemExit(f"soak: refusing non-loopback address(es) {outside}: loopback only")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="threebody-2800")
    p.add_argument("--duration", default="24h", help="simulated time (default 24h)")
    p.add_argument("--step", default="1s")
    p.add_argument("--speed", default="max", help="twin run --speed (default max)")
    p.add_argument("--per-kind", type=int, default=6, help="faults of each kind (default 6)")
    p.add_argument("--kills", type=int, default=12, help="SIGKILLs, taking turns over targets")
    p.add_argument("--bad-messages", type=int, default=18)
    p.add_argument("--seed", type=int, default=1, help="seed of the faults and the chaos")
    p.add_argument("--checkpoint-every", default="5m", help="twin checkpoints (simulated)")
    p.add_argument(
        "--telemetry-retention",
        help="broker retention of the run's telemetry (wall time; default: topics.toml's "
        "24 h). Shorter bounds the broker's disk, but must exceed ingest's lag: at --speed "
        "max the twin sends about twice as fast as ingest stores. A loss shows in the books",
    )
    p.add_argument(
        "--verify-every",
        help="verify each completed window of this much simulated time as the run goes, "
        "then delete it, so the database holds a few windows rather than the whole run "
        "(default: verify everything at the end). A multiple of --step",
    )
    p.add_argument("--max-wall", default="4h", help="give up after this wall time")
    p.add_argument("--workdir", help="logs and the scenario (default: a new temporary dir)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bootstrap = os.environ["TWIN_KAFKA_BOOTSTRAP"]
    database_url = os.environ["TWIN_DATABASE_URL"]
    check_loopback(bootstrap, database_url)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="soak-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    duration_s = parse_duration_ns("--duration", args.duration) / NS_PER_S
    step_s = parse_duration_ns("--step", args.step) / NS_PER_S
    max_wall_s = parse_duration_ns("--max-wall", args.max_wall) / NS_PER_S
    n_ticks = round(duration_s / step_s)
    window_ticks = None
    if args.verify_every:
        window_s = parse_duration_ns("--verify-every", args.verify_every) / NS_PER_S
        window_ticks = round(window_s / step_s)
        if window_ticks < 1 or abs(window_ticks * step_s - window_s) > 1e-9:
            raise SystemExit(
                f"soak: --verify-every {args.verify_every}: a positive multiple of --step "
                f"{args.step} is accepted"
            )

    scenario_path = work / "scenario.toml"
    subprocess.run(
        [sys.executable, "-m", "twin", "scenario", "generate", "--preset", args.preset,
         "--seed", str(args.seed), "--duration", args.duration,
         "--per-kind", str(args.per_kind), "--out", str(scenario_path)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    rules = load_rules(None)
    fleet = scenario_fleet(scenario_path)
    check_disk(
        fleet.n_sat * n_ticks,
        None if window_ticks is None else fleet.n_sat * window_ticks * WINDOWS_HELD,
    )
    run = prepare_scored_run(
        str(scenario_path),
        bootstrap,
        database_url,
        args.step,
        None,
        "soak",
        store=os.environ.get(ENV_STORE, "auto"),
    )
    start_us, end_us = run.window_us
    if args.telemetry_retention:
        bound_retention(bootstrap, run.prefix, args.telemetry_retention)
    sat_ids = run.sat_id
    telemetry_topic = run.prefix + telemetry.TELEMETRY_TOPIC
    # How far the twin has got: its messages on the broker (replays included) / the frames.
    produced = TopicOffsets(bootstrap, telemetry_topic)
    n_frames = n_ticks * len(frame_groups(fleet).names)
    quiet = np.setdiff1d(sat_ids, run.scenario.sat_id)
    probe = int(quiet[0] if quiet.size else sat_ids[0])  # progress: a satellite without faults
    progress = Stored(database_url, probe, start_us)
    print(
        f"soak: {run.scenario.name}: {args.preset}, {duration_s / 3600:g} h at {args.step}, "
        f"{run.scenario.n_faults} faults; {args.kills} kills, {args.bad_messages} bad messages; "
        f"topics {run.prefix}*; logs in {work}",
        flush=True,
    )

    twin = Supervised(
        "twin",
        run.twin_command(
            bootstrap, "--checkpoint-every", args.checkpoint_every,
            "--run-id", f"{run.prefix}twin", "--speed", args.speed,
        ),
        work, ends=True,
    )  # fmt: skip
    ingest_command = [
        sys.executable, "-m", "twin", "ingest", "--kafka", bootstrap, "--database",
        database_url, "--topic-prefix", run.prefix, "--group", f"{run.prefix}ingest",
        "--instance-id", f"{run.prefix}ingest-0",
    ]  # fmt: skip
    ingest = Supervised("ingest", ingest_command, work, ends=False)

    kill_plan = plan_kills(rng, args.kills)
    bad_plan = [
        (float(f), BAD_KINDS[i % len(BAD_KINDS)])
        for i, f in enumerate(np.sort(rng.uniform(0.02, 0.95, args.bad_messages)))
    ]
    producer = open_client(
        KafkaProducer, bootstrap, security(), acks="all", max_request_size=8 << 20, retries=0
    )
    chaos = Chaos()
    failures: list[str] = []
    pruner = None
    if window_ticks is not None:
        checkpoints = CheckpointWatch(
            lambda: soak_consumer(bootstrap), run.prefix + CHECKPOINTS_TOPIC, f"{run.prefix}twin"
        )
        pruner = Pruner(
            database_url, run, rules, f"{run.prefix}ingest", telemetry_topic, window_ticks,
            n_ticks, step_s, checkpoints, TopicOffsets(bootstrap, telemetry_topic),
            lambda first, stop: expected_samples(run.scenario, sat_ids, stop, step_s, first),
        )  # fmt: skip
    wall0 = time.monotonic()
    twin.start()
    ingest.start()
    if pruner is not None:
        pruner.start()
    last_s = (n_ticks - 1) * step_s  # the probe's last sample
    try:
        share, twin_share, complete = 0.0, 0.0, False
        while not (twin.done and (complete or not (kill_plan or bad_plan))):
            if time.monotonic() - wall0 > max_wall_s:
                failures.append(f"gave up after --max-wall {args.max_wall}")
                break
            twin.supervise()
            ingest.supervise()
            stored = progress.until_s()
            if stored is not None:
                share, complete = max(share, stored / duration_s), stored >= last_s
            sent = produced.offsets()
            if sent is not None:
                twin_share = max(twin_share, sum(sent.values()) / n_frames)
            for due, target in list(kill_plan):
                if due > (twin_share if target == "twin" else share):
                    continue
                outage_s = do_kill(target, twin, ingest, rng)
                if outage_s is None:
                    continue  # between a death and its restart: next round
                kill_plan.remove((due, target))
                chaos.kills.append((share, target, outage_s))
                print(
                    f"soak: {twin_share:6.1%} sent, {share:6.1%} stored: killed {target}",
                    flush=True,
                )
            while bad_plan and bad_plan[0][0] <= share:
                _, kind = bad_plan[0]
                topic, value = bad_message(kind, rng, probe, run.start_ns)
                try:
                    meta = producer.send(
                        run.prefix + topic, value, key=b"soak-bad",
                        headers=schema_headers(*SCHEMAS[topic]),
                    ).get(timeout=20)  # fmt: skip
                except Exception as exc:  # broker down: try again next round
                    print(f"soak: bad message {kind} not sent yet ({exc})", flush=True)
                    break
                chaos.injected[(meta.topic, meta.partition, meta.offset)] = kind
                bad_plan.pop(0)
            time.sleep(POLL_S)
        if kill_plan:
            failures.append(f"{len(kill_plan)} kills not done: the run ended first")
        if bad_plan:
            failures.append(f"{len(bad_plan)} bad messages never sent")
    finally:  # the pruner (a daemon thread) goes on through the drain
        producer.close()
        produced.close()
        progress.close()
        twin.stop()
        ingest.stop()
    if twin.proc is None or twin.proc.returncode != 0:
        failures.append(f"twin run did not finish (exit {twin.proc and twin.proc.returncode})")
    drain_s = drain(ingest_command, work)
    wall_s = time.monotonic() - wall0
    if pruner is not None:
        pruner.stop()

    expected = expected_samples(run.scenario, sat_ids, n_ticks, step_s)
    kept_from_us = start_us if pruner is None else pruner.pruned_until_us
    stored = stored_samples(database_url, (kept_from_us, end_us), sat_ids)
    got = np.array([stored.get(int(s), 0) for s in sat_ids])
    if pruner is not None:
        got += pruner.verified
        again = sum(stored_samples(database_url, (start_us, kept_from_us), sat_ids).values())
        print(
            f"soak: verified and deleted {pruner.windows} windows of {args.verify_every} as "
            f"they completed ({pruner.errors} attempts retried while a service was down); "
            f"rows stored again in them: {again}"
        )
        if again:
            failures.append(f"{again} rows stored again after their window was verified")
        if pruner.problem:
            failures.append(pruner.problem)
    short = np.nonzero(got != expected)[0]
    total = int(got.sum())
    letters = dead_letters(database_url, run.prefix)
    score, score_id = finish_scored_run(run, database_url, rules)

    print(f"soak: simulated {duration_s / 3600:g} h of {sat_ids.shape[0]} satellites in "
          f"{wall_s:.0f} s wall ({drain_s:.0f} s final drain)")  # fmt: skip
    print(f"soak: samples expected {int(expected.sum()):,}, stored {total:,}; "
          f"{short.shape[0]} satellites off")  # fmt: skip
    if short.size:
        detail = [(int(sat_ids[i]), int(expected[i]), int(got[i])) for i in short[:5]]
        failures.append(f"samples not stored exactly once (sat, expected, stored): {detail}")
    print(f"soak: throughput {total / wall_s:,.0f} samples/s stored, end to end")
    for target in TARGETS:
        outages = [o for _, t, o in chaos.kills if t == target]
        print(f"soak: {target:8} killed {len(outages)}x, outage {sum(outages):.0f} s")
    print(
        f"soak: restarts: twin {twin.starts - 1} (crashed {len(twin.crashes)}x: "
        f"exit {sorted(set(twin.crashes))}), ingest {ingest.starts - 1} "
        f"(crashed {len(ingest.crashes)}x: exit {sorted(set(ingest.crashes))})"
    )
    print(f"soak: dead letters {len(letters)}, injected {len(chaos.injected)}")
    for key, kind in sorted(chaos.injected.items()):
        print(f"soak:   {kind:20} {key[0]}[{key[1]}]@{key[2]}: {letters.get(key, 'MISSING')}")
    if set(letters) != set(chaos.injected):
        extra = sorted(set(letters) - set(chaos.injected))[:5]
        missing = sorted(set(chaos.injected) - set(letters))[:5]
        failures.append(f"dead letters differ from injected: extra {extra}, missing {missing}")
    print(f"soak: score id {score_id}")
    print(score.table())
    if not score.passed:
        failures.append("the anomaly score missed its targets")
    for failure in failures:
        print(f"soak: FAILED: {failure}")
    print("soak: PASSED" if not failures else "soak: FAILED")
    return 0 if not failures else 1


def plan_kills(rng: np.random.Generator, n: int) -> list[tuple[float, str]]:
    """``(share of the run, target)`` of ``n`` kills, in order: the targets take turns in a
    seeded order. The twin's kills fall at 5..60 % of the frames sent (it may have finished
    by the time the last ones are stored), the others at 5..95 % of the run stored."""
    order = [TARGETS[i] for i in rng.permutation(len(TARGETS))]
    targets = [order[i % len(order)] for i in range(n)]
    share = np.where(
        np.array(targets) == "twin", rng.uniform(0.05, 0.6, n), rng.uniform(0.05, 0.95, n)
    )
    return sorted(zip(share.tolist(), targets, strict=True))


def do_kill(target: str, twin: Supervised, ingest: Supervised, rng) -> float | None:
    """SIGKILL ``target``; for a service, restart it after an outage. Returns the outage in
    wall seconds (until the service answers again, or until the process is restarted), or
    None when the process was not running."""
    t0 = time.monotonic()
    if target in ("twin", "ingest"):
        if not (twin if target == "twin" else ingest).kill():
            return None
        return RESTART_DELAY_S  # supervise() starts it again after the delay
    stack(f"kill-{target}")
    time.sleep(rng.uniform(*OUTAGE_S))
    stack("up")
    return time.monotonic() - t0


def drain(ingest_command: list[str], work: Path, attempts: int = 5) -> float:
    """Run ingest until every partition is consumed to its end; return its wall seconds."""
    t0 = time.monotonic()
    with open(work / "ingest-drain.log", "ab") as log:
        for _ in range(attempts):
            done = subprocess.run(
                [*ingest_command, "--stop-when-caught-up"], stdout=log, stderr=subprocess.STDOUT
            )
            if done.returncode == 0:
                break
            time.sleep(RESTART_DELAY_S)
    return time.monotonic() - t0


if __name__ == "__main__":
    sys.exit(main())

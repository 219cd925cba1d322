"""Detection quality: the anomalies of a run scored against the faults injected into it.

A fault counts as detected when an anomaly opens on its satellite between its onset and
``DETECT_AFTER_END_S`` after its end, and at most ``DETECT_WITHIN_S`` after its onset (an
anomaly hours later says nothing about the fault); the detection latency is the time from
the onset to the first such anomaly. Any other anomaly
opened on a satellite during the run is a false alarm: on a satellite without a fault,
before a fault's onset, or later than ``SETTLE_AFTER_END_S`` after its end. False alarms are
counted per 1,000 satellite-hours of the run. Fleet anomalies (fleet rules) belong to no
satellite; they are counted apart.

The truth (``fault_truth``) and the score (``score_runs``) are written by the scorer, never
read by rules: ingest has no right to read them.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import numpy as np
from psycopg.types.json import Jsonb

from ingest.rules.definitions import RuleSet
from ingest.service.consumer import IngestStats
from ingest.store.db import connect
from twin.core.clock import iso, parse_duration_ns
from twin.core.settings import PLAINTEXT, ConfigError, KafkaSecurity, kafka_security_env
from twin.sim.faults import KINDS, Scenario, load_scenario

log = logging.getLogger(__name__)

DETECT_AFTER_END_S = 60.0
DETECT_WITHIN_S = 3600.0  # a fault starting in eclipse shows on the array ~35 min later
SETTLE_AFTER_END_S = 900.0  # sensors unfreeze, arrays come back: clearing takes a while
RECALL_AT_LEAST = 0.95
MEDIAN_LATENCY_AT_MOST_S = 60.0
FALSE_ALARMS_PER_1000_SAT_H_AT_MOST = 1.0
US_PER_S = 1_000_000


@dataclass(frozen=True)
class Score:
    """Per fault: ``detected_us`` (NaN-free int64, −1 when missed) and ``detected_by``."""

    scenario: Scenario
    start_us: int
    hours: float
    n_sat: int
    detected_us: np.ndarray  # (n_fault,) int64, −1 when not detected
    detected_by: tuple[str, ...]
    false_alarms: int
    false_alarm_rules: dict[str, int]
    fleet_anomalies: int = 0

    @property
    def latency_s(self) -> np.ndarray:
        onset_us = self.start_us + np.round(self.scenario.onset_s * US_PER_S).astype(np.int64)
        return np.where(self.detected_us >= 0, (self.detected_us - onset_us) / US_PER_S, np.nan)

    @property
    def recall(self) -> float:
        return float((self.detected_us >= 0).mean()) if self.detected_us.size else 1.0

    @property
    def median_latency_s(self) -> float:
        found = self.latency_s[self.detected_us >= 0]
        return float(np.median(found)) if found.size else float("nan")

    @property
    def false_alarms_per_1000_sat_h(self) -> float:
        return 1000.0 * self.false_alarms / max(self.n_sat * self.hours, 1e-9)

    @property
    def passed(self) -> bool:
        return (
            self.recall >= RECALL_AT_LEAST
            and (self.scenario.n_faults == 0 or self.median_latency_s <= MEDIAN_LATENCY_AT_MOST_S)
            and self.false_alarms_per_1000_sat_h <= FALSE_ALARMS_PER_1000_SAT_H_AT_MOST
        )

    def per_kind(self) -> dict[str, dict]:
        out = {}
        latency = self.latency_s
        for k, name in enumerate(KINDS):
            mine = self.scenario.kind == k
            if not mine.any():
                continue
            found = latency[mine & (self.detected_us >= 0)]
            out[name] = {
                "faults": int(mine.sum()),
                "detected": int(found.size),
                "median_latency_s": float(np.median(found)) if found.size else None,
                "max_latency_s": float(found.max()) if found.size else None,
            }
        return out

    def table(self) -> str:
        """The score as a text table: one row per fault kind, then the totals."""
        lines = [f"{'fault kind':<24} {'faults':>6} {'detected':>8} {'median s':>9} {'max s':>8}"]
        for name, k in self.per_kind().items():
            med = "-" if k["median_latency_s"] is None else f"{k['median_latency_s']:.0f}"
            top = "-" if k["max_latency_s"] is None else f"{k['max_latency_s']:.0f}"
            lines.append(f"{name:<24} {k['faults']:>6} {k['detected']:>8} {med:>9} {top:>8}")
        lines.append(
            f"recall {self.recall:.1%} (at least {RECALL_AT_LEAST:.0%}); median latency "
            f"{self.median_latency_s:.0f} s (at most {MEDIAN_LATENCY_AT_MOST_S:.0f}); "
            f"false alarms {self.false_alarms} over {self.n_sat * self.hours:,.0f} "
            f"satellite-hours = {self.false_alarms_per_1000_sat_h:.2f} per 1,000 (at most "
            f"{FALSE_ALARMS_PER_1000_SAT_H_AT_MOST:g}); {'PASSED' if self.passed else 'FAILED'}"
        )
        lines.append(f"fleet anomalies (counted apart): {self.fleet_anomalies}")
        if self.false_alarm_rules:
            lines.append(
                "false alarms by rule: "
                + ", ".join(f"{r} {n}" for r, n in sorted(self.false_alarm_rules.items()))
            )
        return "\n".join(lines)


def score_anomalies(
    scenario: Scenario,
    start_us: int,
    hours: float,
    n_sat: int,
    opened: list[tuple[int | None, int, str]],
) -> Score:
    """Score anomalies opened during a run, ``(sat_id or None, time_us, rule)`` each, in
    time order, against the scenario run from ``start_us`` for ``hours``."""
    end_us = start_us + int(hours * 3600 * US_PER_S)
    onset = start_us + np.round(scenario.onset_s * US_PER_S).astype(np.int64)
    ends = np.where(
        np.isfinite(scenario.end_s),
        start_us + np.where(np.isfinite(scenario.end_s), scenario.end_s, 0.0) * US_PER_S,
        end_us,
    ).astype(np.int64)
    detect_until = np.minimum(ends, onset + int(DETECT_WITHIN_S * US_PER_S)) + int(
        DETECT_AFTER_END_S * US_PER_S
    )
    settle_until = ends + int(SETTLE_AFTER_END_S * US_PER_S)
    detected = np.full(scenario.n_faults, -1, np.int64)
    detected_by = [""] * scenario.n_faults
    false_rules: dict[str, int] = {}
    false_alarms = fleet = 0
    for sat, t, rule in opened:  # anomalies are few: a loop over them is fine
        if sat is None:
            fleet += 1
            continue
        mine = (scenario.sat_id == sat) & (onset <= t)
        catching = np.nonzero(mine & (t <= detect_until) & (detected < 0))[0]
        for i in catching.tolist():
            detected[i], detected_by[i] = t, rule
        if not (mine & (t <= settle_until)).any():
            false_alarms += 1
            false_rules[rule] = false_rules.get(rule, 0) + 1
    return Score(
        scenario,
        start_us,
        hours,
        n_sat,
        detected,
        tuple(detected_by),
        false_alarms,
        false_rules,
        fleet,
    )


def opened_anomalies(database_url: str, start_us: int, end_us: int) -> list[tuple]:
    """``(sat_id, time_us, rule)`` of the anomalies opened in [start, end), in time order."""
    with connect(database_url) as conn:
        return conn.execute(
            "SELECT sat_id, (extract(epoch FROM time) * 1000000)::int8, rule FROM anomalies "
            "WHERE state = 'open' AND time >= timestamptz 'epoch' + %s * interval '1 microsecond' "
            "AND time < timestamptz 'epoch' + %s * interval '1 microsecond' ORDER BY time",
            (start_us, end_us),
        ).fetchall()


def store_score(database_url: str, score: Score, rules_source: str) -> int:
    """Write the run's score (with the rule file scored) and its faults' truth; return the
    score id."""
    s = score.scenario
    latency = score.latency_s
    with connect(database_url) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "INSERT INTO score_runs (scenario, rules, preset, seed, start, hours, satellites, "
            "faults, detected, recall, median_latency_s, false_alarms, "
            "false_alarms_per_1000_sat_h, fleet_anomalies, passed, per_kind) VALUES "
            "(%s, %s, %s, %s, timestamptz 'epoch' + %s * interval '1 microsecond', "
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING score_id",
            (
                s.name,
                rules_source,
                s.preset,
                s.seed,
                score.start_us,
                score.hours,
                score.n_sat,
                s.n_faults,
                int((score.detected_us >= 0).sum()),
                score.recall,
                None if np.isnan(score.median_latency_s) else score.median_latency_s,
                score.false_alarms,
                score.false_alarms_per_1000_sat_h,
                score.fleet_anomalies,
                score.passed,
                Jsonb(score.per_kind()),
            ),
        )
        score_id = cur.fetchone()[0]
        cur.executemany(
            "INSERT INTO fault_truth (score_id, fault, kind, sat_id, onset, ends, magnitude, "
            "channel, detected_at, detected_by, latency_s) SELECT %s, %s, %s, %s, "
            "timestamptz 'epoch' + o * interval '1 microsecond', "
            "timestamptz 'epoch' + e * interval '1 microsecond', %s, %s, "
            "timestamptz 'epoch' + d * interval '1 microsecond', %s, %s "
            "FROM (VALUES (%s::int8, %s::int8, %s::int8)) AS v(o, e, d)",
            [
                (
                    score_id,
                    i,
                    KINDS[int(s.kind[i])],
                    int(s.sat_id[i]),
                    float(s.magnitude[i]),
                    s.channel[i] or None,
                    score.detected_by[i] or None,
                    None if np.isnan(latency[i]) else float(latency[i]),
                    score.start_us + round(float(s.onset_s[i]) * US_PER_S),
                    score.start_us + round(float(s.end_s[i]) * US_PER_S)
                    if np.isfinite(s.end_s[i])
                    else None,
                    int(score.detected_us[i]) if score.detected_us[i] >= 0 else None,
                )
                for i in range(s.n_faults)
            ],
        )
    return score_id


def default_start_ns(database_url: str) -> int:
    """A start for a scored run that overlaps nothing stored: the later of now and an hour
    after the newest telemetry, on a whole minute."""
    with connect(database_url) as conn:
        newest = conn.execute(
            "SELECT (extract(epoch FROM max(time)) * 1000000)::int8 FROM telemetry"
        ).fetchone()[0]
    start_us = max(time.time_ns() // 1000, (newest or 0) + 3600 * US_PER_S)
    minute = 60 * US_PER_S
    return -(-start_us // minute) * minute * 1000


def _check_window_free(database_url: str, start_ns: int, duration_s: float) -> None:
    """A scored run's rows must be its own: refuse a window already holding telemetry."""
    start_us = start_ns // 1000
    with connect(database_url) as conn:
        taken = conn.execute(
            "SELECT 1 FROM telemetry WHERE time >= timestamptz 'epoch' + %s * interval "
            "'1 microsecond' AND time < timestamptz 'epoch' + %s * interval '1 microsecond' "
            "LIMIT 1",
            (start_us, start_us + int(duration_s * US_PER_S)),
        ).fetchone()
    if taken:
        raise ConfigError(
            "--start",
            iso(start_ns),
            "a start whose run window holds no stored telemetry yet (or leave --start out)",
        )


@dataclass(frozen=True, eq=False)
class ScoredRun:
    """A scored run prepared in the database and on Kafka: its scenario, window, fleet
    (``sat_id``, (n_sat,) int32, ascending) and fresh topics (``prefix``)."""

    scenario_path: str
    scenario: Scenario
    start_ns: int
    step: str
    sat_id: np.ndarray
    prefix: str

    @property
    def n_sat(self) -> int:
        return int(self.sat_id.shape[0])

    @property
    def window_us(self) -> tuple[int, int]:
        """The run's ``[start, end)`` in µs since the epoch."""
        start_us = self.start_ns // 1000
        return start_us, start_us + int(self.scenario.duration_s * US_PER_S)

    def twin_command(self, bootstrap: str, *options: str) -> list[str]:
        """``twin run`` of the scenario at full speed into this run's topics; ``options``
        are added (or override earlier ones, e.g. ``--checkpoint-every 5m``)."""
        s = self.scenario
        return [
            sys.executable, "-m", "twin", "run", "--preset", s.preset,
            "--scenario", self.scenario_path, "--start", iso(self.start_ns),
            "--duration", f"{s.duration_s:g}s", "--step", self.step, "--speed", "max",
            "--checkpoint-every", "off", "--seed", str(s.seed),
            "--kafka", bootstrap, "--topic-prefix", self.prefix, "--quiet", *options,
        ]  # fmt: skip


def prepare_scored_run(
    scenario_path: str,
    bootstrap: str,
    database_url: str,
    step: str = "1s",
    start_ns: int | None = None,
    prefix_word: str = "score",
    security: KafkaSecurity = PLAINTEXT,
    store: str = "auto",
) -> ScoredRun:
    """Migrate (a new store on the path ``store`` picks, ``ingest.store.migrate.choose_store``),
    register the scenario's fleet and the stations, pick a free window (or check
    ``start_ns``'s) and create fresh topics ``<prefix_word>-<hex>.*`` for a scored run."""
    from ingest.store.dimensions import register_fleet, register_stations
    from ingest.store.migrate import migrate
    from twin.payload import ground
    from twin.sim import presets
    from twin.stream.broker import DEFAULT_TOPICS_FILE, ensure_topics, load_topics

    scenario = load_scenario(scenario_path)
    migrate(database_url, store=store)
    if start_ns is None:
        start_ns = default_start_ns(database_url)
    else:
        _check_window_free(database_url, start_ns, scenario.duration_s)
    preset = presets.load_preset(scenario.preset)
    fleet, hw = presets.build(preset, start_ns)
    step_s = parse_duration_ns("--step", step) / 1e9
    register_fleet(database_url, fleet, hw, preset.name, [s.name for s in preset.shells], step_s)
    register_stations(database_url, ground.load_stations(None))
    prefix = f"{prefix_word}-{uuid.uuid4().hex[:12]}."
    ensure_topics(bootstrap, list(load_topics(DEFAULT_TOPICS_FILE, prefix).values()), security)
    return ScoredRun(scenario_path, scenario, start_ns, step, np.sort(fleet.sat_id), prefix)


def finish_scored_run(
    run: ScoredRun, database_url: str, rules: RuleSet, ingest_url: str | None = None
) -> tuple[Score, int]:
    """Once ingest has stored the whole run: the fleet rules over its window (as
    ``twin_ingest``, logged in with ``ingest_url`` when given), then its score, stored by the
    owner; returns the score and its id."""
    from ingest.rules.fleet import check_fleet

    start_us, end_us = run.window_us
    check_fleet(
        ingest_url or database_url,
        rules,
        until_us=end_us,
        since_us=start_us,
        name=f"fleet-rules:{run.prefix}",
    )
    score = score_anomalies(
        run.scenario,
        start_us,
        run.scenario.duration_s / 3600.0,
        run.n_sat,
        opened_anomalies(database_url, start_us, end_us),
    )
    return score, store_score(database_url, score, rules.source)


def run_scored(
    scenario_path: str,
    bootstrap: str,
    database_url: str,
    rules: RuleSet,
    step: str = "1s",
    start_ns: int | None = None,
    ingest_url: str | None = None,
    security: KafkaSecurity = PLAINTEXT,
    store: str = "auto",
) -> tuple[Score, int, IngestStats]:
    """Run the twin with the scenario through Kafka into the database, with the rules in
    ingest, then the fleet rules; score, store the score; return it with its id and the
    ingest counts. The twin runs as its own process (``twin run``) while ingest runs here.
    The owner (``database_url``) migrates, registers and stores the score; ingest and the
    fleet rules act as ``twin_ingest``, logged in with ``ingest_url`` when given. Both the
    twin and ingest reach Kafka with ``security``.
    """
    from ingest.service.consumer import run_ingest

    run = prepare_scored_run(
        scenario_path, bootstrap, database_url, step, start_ns, security=security, store=store
    )
    command = run.twin_command(bootstrap)
    log.info("scoring %s: %s", run.scenario.name, " ".join(command))
    env = {**os.environ, **kafka_security_env(security)}
    twin = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    try:
        stats = run_ingest(
            bootstrap,
            ingest_url or database_url,
            run.prefix,
            group=f"{run.prefix}ingest",
            stop_when_caught_up=True,
            rules=rules,
            keep_going=lambda: twin.poll() is None,
            security=security,
        )
    finally:
        if twin.poll() is None:
            twin.kill()
        twin.wait()
    if twin.returncode != 0:
        raise RuntimeError(f"twin run exited with {twin.returncode}: {' '.join(command)}")
    score, score_id = finish_scored_run(run, database_url, rules, ingest_url)
    return score, score_id, stats

"""Fleet alert rules in Grafana's alerting file-provisioning format, as code.

Each rule is one SQL query returning one number, reduced to its last value and compared with
a threshold by Grafana's server-side expressions. Rules on telemetry read the rollups over
the rule's window (``$__timeFilter``: Grafana evaluates them over ``relativeTimeRange``);
rules on ingest itself (lag, dead letters) compare with the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.grafana.board import DATASOURCE, target

FOLDER = "Orbital twin"
GROUP = "fleet"
EVALUATE_EVERY = "1m"


@dataclass(frozen=True)
class Rule:
    """Fire when ``sql``'s value is ``op`` (``gt`` or ``lt``) ``threshold`` for ``for_``."""

    uid: str
    title: str
    sql: str
    op: str
    threshold: float
    summary: str
    for_: str = "5m"
    window_s: int = 600
    severity: str = "warning"


RULES = (
    Rule(
        "twin-throughput-below-plan",
        "Delivered compute below plan",
        # Plan: each registered satellite's peak TOPS at its nominal workload share.
        "SELECT f.throughput_tops / nullif((SELECT sum((hardware->>'accelerator_peak_tops')"
        "::float8 * (hardware->>'payload_utilisation')::float8) FROM satellites), 0) "
        "AS share_of_plan FROM fleet_1m f WHERE $__timeFilter(f.bucket) "
        "ORDER BY f.bucket DESC LIMIT 1",
        "lt",
        0.8,
        "The fleet delivers less than 80 % of the planned TOPS.",
    ),
    Rule(
        "twin-safe-mode-share",
        "Satellites in safe mode",
        # A share of the registered fleet, so the rule means the same for 12 or 2,800.
        "SELECT coalesce(max(safe_mode_satellites), 0)::float8 / "
        "nullif((SELECT count(*) FROM satellites), 0) AS share_in_safe_mode FROM fleet_1m "
        "WHERE $__timeFilter(bucket)",
        "gt",
        0.1,
        "More than 10 % of the fleet is in safe mode.",
        severity="critical",
    ),
    Rule(
        "twin-critical-anomalies",
        "Critical anomalies open",
        "SELECT count(*) AS open_critical FROM anomaly_status "
        "WHERE closed_at IS NULL AND severity = 'critical' AND NOT acknowledged AND NOT shelved",
        "gt",
        0.0,
        "A critical anomaly is open and nobody has acknowledged or shelved it.",
        for_="0s",
        severity="critical",
    ),
    Rule(
        "twin-warning-anomalies",
        "Warning anomalies open",
        "SELECT count(*) AS open_warnings FROM anomaly_status "
        "WHERE closed_at IS NULL AND severity = 'warning' AND NOT acknowledged AND NOT shelved",
        "gt",
        0.0,
        "A warning anomaly has been open for 15 minutes, not acknowledged or shelved.",
        for_="15m",
    ),
    Rule(
        "twin-completeness",
        "Telemetry completeness below 99 %",
        "SELECT sum(m.orbit_samples)::float8 / nullif(sum(60.0 / s.telemetry_interval_s), 0) "
        "AS completeness FROM telemetry_1m m JOIN satellites s USING (sat_id) "
        "WHERE $__timeFilter(m.bucket) AND m.bucket < $__timeTo()::timestamptz - interval "
        "'2 minutes'",
        "lt",
        0.99,
        "Fewer than 99 % of the expected orbit samples arrived in the last complete minutes.",
    ),
    Rule(
        "twin-ingest-lag",
        "Ingest stalled",
        "SELECT extract(epoch FROM now() - max(received_at)) AS idle_s FROM ingest_batches",
        "gt",
        120.0,
        "Ingest has stored nothing for more than two minutes.",
        for_="2m",
        severity="critical",
    ),
    Rule(
        "twin-dead-letters",
        "Dead letters",
        "SELECT count(*) AS messages FROM dead_letters "
        "WHERE received_at >= now() - interval '10 minutes'",
        "gt",
        0.0,
        "Messages were rejected into dead_letters and twin.deadletter.",
        for_="0s",
    ),
)


RUNBOOK = "docs/runbook.md"


def runbook_url(rule: Rule) -> str:
    """Where the runbook says what to do when ``rule`` fires: its section under "Alerts",
    headed by the rule's uid (a path in the repository, as Grafana shows it)."""
    return f"{RUNBOOK}#{rule.uid}"


def rule_json(rule: Rule) -> dict:
    query = target(rule.sql, table=True)
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": rule.window_s, "to": 0},
                "datasourceUid": DATASOURCE["uid"],
                "model": query,
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"},
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": rule.op, "params": [rule.threshold]}}],
                },
            },
        ],
        "noDataState": "NoData",
        "execErrState": "Error",
        "for": rule.for_,
        "annotations": {"summary": rule.summary, "runbook_url": runbook_url(rule)},
        "labels": {"team": "operations", "severity": rule.severity},
    }


def provisioning() -> dict:
    """The alerting provisioning file's content."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP,
                "folder": FOLDER,
                "interval": EVALUATE_EVERY,
                "rules": [rule_json(r) for r in RULES],
            }
        ],
    }

"""Anomaly rules as data: a YAML file of per-satellite rules (evaluated inside ingest) and
fleet rules (evaluated in SQL over the rollups by ``twin rules check``).

Every rule turns samples into a *score* (a value, a rate, an age, a robust z-score, a ratio
to the twin's nominal expectation), raises an anomaly when the score passes ``trigger`` for
``for_s`` seconds and clears it when the score passes ``clear`` (on the safe side of the
trigger: the hysteresis band) for ``clear_for_s`` seconds. A rule may apply only in a
context (``when``: e.g. only in sunlight, only outside contact).

A bad file is rejected with a ``RuleError`` naming the rule, the field, the value and what
is accepted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from twin.core.settings import InputError
from twin.wire.telemetry import CHANNELS, GROUPS

SEVERITIES = ("info", "warning", "critical")
# type -> what its score is
RULE_TYPES = {
    "threshold": "the channel's value (or its decayed count with count_over_s)",
    "rate": "the channel's rate of change, units per second",
    "stuck": "seconds the channel has kept exactly the same value",
    "missing": "samples of the channel group missed, against the satellite's own rate",
    "out_of_family": "robust z-score against the plane or the fleet at the same tick",
    "residual": "measured / the twin's nominal expectation",
    "limit": "how far the channel is past the satellite's own limit, channel units",
}
# Quantities a residual rule may measure besides channels: name -> channels it is made of.
DERIVED = {"battery_capacity_wh": ("battery_wh", "soc")}
# Nominal expectations a residual rule compares with (computed in ``ingest.rules.detect``).
EXPECTED = {
    "array_power_w": "illumination × solar flux at the Earth's distance × array area × cell "
    "efficiency × packing × ageing (Sun-tracking arrays)",
    "battery_capacity_wh": "the battery's nameplate capacity",
}
FAMILIES = ("plane", "fleet")
# Fleet measures over fleet_1m (one row per minute): name -> SQL expression of its columns.
FLEET_MEASURES = {
    "safe_mode_share": "safe_mode_satellites::float8 / NULLIF(satellites, 0)",
    "reporting_share": "satellites::float8 / NULLIF((SELECT count(*) FROM satellites), 0)",
    "in_contact_share": "in_contact_satellites::float8 / NULLIF(satellites, 0)",
    "upsets_per_min": "upsets::float8",
    "soc_min": "soc_min",
    "temp_payload_max_c": "temp_payload_max_c",
}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
BUNDLED = "rules.yaml"


class RuleError(InputError):
    """A rule file that cannot be used; the message names the rule and the field."""


@dataclass(frozen=True)
class Level:
    """A score level and the side that counts: ``score > value`` ("above") or below."""

    direction: str  # "above" or "below"
    value: float

    def passed(self, score):
        """Elementwise: has ``score`` passed the level? (NaN never has.)"""
        return score > self.value if self.direction == "above" else score < self.value


@dataclass(frozen=True)
class Condition:
    """Context: a boolean channel equal to ``equals``, or a numeric channel past ``level``."""

    channel: str
    equals: bool | None = None
    level: Level | None = None


@dataclass(frozen=True)
class Rule:
    """One rule; fields not used by its type are None."""

    name: str
    type: str
    severity: str
    trigger: Level
    clear: Level
    for_s: float = 0.0
    clear_for_s: float = 0.0
    update_every_s: float = 600.0  # an open anomaly reports its worst score this often
    description: str = ""
    channel: str | None = None  # measured channel (or DERIVED quantity for residuals)
    group: str | None = None  # missing: the channel group expected
    when: tuple[Condition, ...] = ()
    count_over_s: float | None = None  # threshold: score is the count decayed over this time
    against: str | None = None  # out_of_family: "plane" or "fleet"
    min_spread: float = 0.0  # out_of_family: least robust spread (channel units)
    min_members: int = 8  # out_of_family: least satellites reporting in the family
    expected: str | None = None  # residual: an EXPECTED name
    measure: str | None = None  # fleet rules: a FLEET_MEASURES name
    limit: str | None = None  # limit: a LIMIT_NAMES name, resolved per satellite

    @property
    def channels(self) -> tuple[str, ...]:
        """Telemetry channels this rule reads (context included)."""
        names = [c.channel for c in self.when]
        if self.channel is not None:
            names += DERIVED.get(self.channel, (self.channel,))
        if self.expected == "array_power_w":
            names.append("illumination")
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class RuleSet:
    satellite: tuple[Rule, ...]
    fleet: tuple[Rule, ...]
    source: str

    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in (*self.satellite, *self.fleet))


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and check a rule file (default: the bundled ``ingest/rules/rules.yaml``)."""
    if path is None:
        text, source = resources.files("ingest.rules").joinpath(BUNDLED).read_text(), BUNDLED
    else:
        try:
            text, source = Path(path).read_text(), str(path)
        except OSError as exc:
            raise RuleError(f"--rules: cannot read {path}: {exc.strerror}") from None
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"{source}: not valid YAML: {exc}".splitlines()[0]) from None
    return parse_rules(body, source)


def parse_rules(body: object, source: str = "rules") -> RuleSet:
    """Check a parsed rule document: ``{version: 1, rules: [...], fleet_rules: [...]}``."""
    if not isinstance(body, dict):
        raise RuleError(f"{source}: expected a mapping with 'version' and 'rules'")
    unknown = set(body) - {"version", "rules", "fleet_rules"}
    if unknown:
        raise RuleError(
            f"{source}: unknown top-level key {sorted(unknown)[0]!r}; accepted: version, "
            "rules, fleet_rules"
        )
    if body.get("version") != 1:
        raise RuleError(f"{source}: version: {body.get('version')!r}; accepted: 1")
    satellite = _rule_list(body.get("rules", []), "rules", source, fleet=False)
    fleet = _rule_list(body.get("fleet_rules", []), "fleet_rules", source, fleet=True)
    names = [r.name for r in (*satellite, *fleet)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RuleError(f"{source}: rule {twice[0]!r} is defined twice; names must be unique")
    return RuleSet(satellite, fleet, source)


def _rule_list(items: object, key: str, source: str, fleet: bool) -> tuple[Rule, ...]:
    if not isinstance(items, list):
        raise RuleError(f"{source}: {key}: expected a list of rules")
    return tuple(_parse_rule(item, i, key, source, fleet) for i, item in enumerate(items))


_COMMON = {"name", "type", "severity", "trigger", "clear", "for_s", "clear_for_s"}
_COMMON |= {"update_every_s", "description", "when"}
_FIELDS = {
    "threshold": {"channel", "count_over_s"},
    "rate": {"channel"},
    "stuck": {"channel"},
    "missing": {"group"},
    "out_of_family": {"channel", "against", "min_spread", "min_members"},
    "residual": {"channel", "expected"},
    "limit": {"channel", "limit", "margin"},
    "fleet": {"measure"},
}


def _parse_rule(item: object, i: int, key: str, source: str, fleet: bool) -> Rule:
    where = f"{source}: {key}[{i}]"
    if not isinstance(item, dict):
        raise RuleError(f"{where}: expected a mapping")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise RuleError(
            f"{where}: field 'name': {name!r}; accepted: lower-case letters, digits and "
            "underscores, starting with a letter, at most 40 characters"
        )
    where = f"{source}: rule {name!r}"

    def bad(field: str, value: object, accepted: str) -> RuleError:
        return RuleError(f"{where}: field {field!r}: {value!r}; accepted: {accepted}")

    kind = "fleet" if fleet else item.get("type")
    if not fleet and kind not in RULE_TYPES:
        raise bad("type", kind, ", ".join(RULE_TYPES))
    if fleet and "type" in item and item["type"] != "fleet":
        raise bad("type", item["type"], "fleet (or no type) in fleet_rules")
    allowed = _COMMON | _FIELDS[kind] | ({"type"} if fleet else set())
    if kind == "limit":  # the satellite's limit is the trigger; the margin sets the clear
        allowed -= {"trigger", "clear"}
    extra = sorted(set(item) - allowed)
    if extra:
        raise bad(
            extra[0], item[extra[0]], f"the fields of a {kind} rule: {', '.join(sorted(allowed))}"
        )
    severity = item.get("severity")
    if severity not in SEVERITIES:
        raise bad("severity", severity, ", ".join(SEVERITIES))

    def number(field: str, default: float | None, low: float = 0.0) -> float | None:
        value = item.get(field, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
            raise bad(field, value, f"a number of at least {low:g}")
        return float(value)

    if kind == "limit":
        margin = item.get("margin")  # required: the hysteresis band, channel units
        if isinstance(margin, bool) or not isinstance(margin, (int, float)):
            margin = math.nan
        if not 0.0 < margin < math.inf:
            raise bad("margin", item.get("margin"), "a positive finite number (channel units)")
        item = {**item, "trigger": {"above": 0.0}, "clear": {"below": -float(margin)}}
    trigger = _level(item.get("trigger"), "trigger", bad)
    clear = _level(item.get("clear"), "clear", bad)
    if clear.direction == trigger.direction or trigger.passed(clear.value):
        opposite = "below" if trigger.direction == "above" else "above"
        raise bad(
            "clear",
            item.get("clear"),
            f"{{{opposite}: X}} with X on the safe side of the trigger "
            f"({trigger.direction} {trigger.value:g}): the hysteresis band",
        )
    fields = {
        "name": name,
        "type": kind,
        "severity": severity,
        "trigger": trigger,
        "clear": clear,
        "for_s": number("for_s", 0.0),
        "clear_for_s": number("clear_for_s", 0.0),
        "update_every_s": number("update_every_s", 600.0, low=1.0),
        "description": str(item.get("description", "")),
        "when": _conditions(item.get("when", {}), bad),
    }
    if kind == "fleet":
        measure = item.get("measure")
        if measure not in FLEET_MEASURES:
            raise bad("measure", measure, ", ".join(FLEET_MEASURES))
        if fields["when"]:
            raise bad("when", item["when"], "no context for fleet rules")
        return Rule(**fields, measure=measure)
    if kind == "missing":
        if fields["when"]:
            raise bad("when", item["when"], "no context for missing rules (silence has none)")
        group = item.get("group")
        if group not in GROUPS:
            raise bad("group", group, ", ".join(GROUPS))
        return Rule(**fields, group=group)
    channel = item.get("channel")
    numeric = [n for n, c in CHANNELS.items() if c.dtype != "bool"]
    accepted = [*numeric, *DERIVED] if kind == "residual" else numeric
    if channel not in accepted:
        raise bad("channel", channel, "a numeric telemetry channel: " + ", ".join(accepted))
    if kind == "threshold":
        return Rule(**fields, channel=channel, count_over_s=number("count_over_s", None, 1e-9))
    if kind == "out_of_family":
        against = item.get("against", "plane")
        if against not in FAMILIES:
            raise bad("against", against, ", ".join(FAMILIES))
        members = item.get("min_members", 8)
        if isinstance(members, bool) or not isinstance(members, int) or members < 3:
            raise bad("min_members", members, "an integer of at least 3")
        return Rule(
            **fields,
            channel=channel,
            against=against,
            min_spread=number("min_spread", 0.0),
            min_members=members,
        )
    if kind == "residual":
        expected = item.get("expected")
        if expected not in EXPECTED:
            raise bad("expected", expected, ", ".join(EXPECTED))
        return Rule(**fields, channel=channel, expected=expected)
    if kind == "limit":
        limit = item.get("limit")
        defined = [n for n, value in CHANNELS[channel].limits.items() if value is not None]
        if limit not in defined:
            raise bad("limit", limit, f"a limit {channel} has: {', '.join(defined) or 'none'}")
        return Rule(**fields, channel=channel, limit=limit)
    return Rule(**fields, channel=channel)


def _level(value: object, field: str, bad) -> Level:
    if (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in ("above", "below")
        and isinstance(next(iter(value.values())), (int, float))
        and not isinstance(next(iter(value.values())), bool)
        and math.isfinite(next(iter(value.values())))
    ):
        direction, level = next(iter(value.items()))
        return Level(direction, float(level))
    raise bad(field, value, "{above: NUMBER} or {below: NUMBER}")


def _conditions(value: object, bad) -> tuple[Condition, ...]:
    if not isinstance(value, dict):
        raise bad("when", value, "a mapping of channel: true/false or channel: {above|below: X}")
    conditions = []
    for channel, test in value.items():
        if channel not in CHANNELS:
            raise bad("when", channel, "telemetry channels: " + ", ".join(CHANNELS))
        if CHANNELS[channel].dtype == "bool":
            if not isinstance(test, bool):
                raise bad(f"when.{channel}", test, "true or false")
            conditions.append(Condition(channel, equals=test))
        else:
            conditions.append(Condition(channel, level=_level(test, f"when.{channel}", bad)))
    return tuple(conditions)

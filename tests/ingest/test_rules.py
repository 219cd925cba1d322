"""Rule files: the bundled set loads; bad files name the rule and the field."""

import pytest
import yaml

from ingest.rules.definitions import RULE_TYPES, RuleError, load_rules, parse_rules

GOOD = {
    "name": "hot",
    "type": "threshold",
    "channel": "temp_payload_c",
    "trigger": {"above": 70},
    "clear": {"below": 65},
    "for_s": 30,
    "severity": "warning",
}


def _doc(**changes) -> dict:
    rule = {**GOOD, **changes}
    return {"version": 1, "rules": [{k: v for k, v in rule.items() if v is not None}]}


def test_bundled_rules_cover_every_rule_type_and_fleet_rules():
    rules = load_rules()
    assert {r.type for r in rules.satellite} == set(RULE_TYPES)
    assert rules.fleet and all(r.measure for r in rules.fleet)
    assert len(set(rules.names())) == len(rules.names())


def test_a_good_rule_parses_with_its_levels():
    rule = parse_rules(_doc(when={"sunlit": True, "soc": {"above": 0.5}})).satellite[0]
    assert (rule.trigger.direction, rule.trigger.value) == ("above", 70.0)
    assert (rule.clear.direction, rule.clear.value) == ("below", 65.0)
    assert [c.channel for c in rule.when] == ["sunlit", "soc"]
    assert rule.when[0].equals is True and rule.when[1].level.value == 0.5


@pytest.mark.parametrize(
    ("changes", "field", "accepted"),
    [
        ({"type": "bound"}, "'type'", "threshold, rate"),
        ({"channel": "temp_core_c"}, "'channel'", "temp_payload_c"),
        ({"channel": "sunlit"}, "'channel'", "numeric telemetry channel"),
        ({"severity": "major"}, "'severity'", "info, warning, critical"),
        ({"trigger": {"over": 70}}, "'trigger'", "{above: NUMBER}"),
        ({"trigger": {"above": "70"}}, "'trigger'", "{above: NUMBER}"),
        ({"clear": {"below": 75}}, "'clear'", "hysteresis"),
        ({"clear": {"above": 65}}, "'clear'", "hysteresis"),
        ({"for_s": -1}, "'for_s'", "at least 0"),
        ({"when": {"sunlit": "yes"}}, "'when.sunlit'", "true or false"),
        ({"when": {"moon": True}}, "'when'", "telemetry channels"),
        ({"against": "plane"}, "'against'", "fields of a threshold rule"),
    ],
)
def test_bad_rules_name_the_rule_field_value_and_what_is_accepted(changes, field, accepted):
    with pytest.raises(RuleError) as caught:
        parse_rules(_doc(**changes), "my.yaml")
    message = str(caught.value)
    assert "my.yaml: rule 'hot'" in message
    assert f"field {field}" in message
    assert accepted in message


def test_type_specific_fields_are_checked():
    base = {k: v for k, v in GOOD.items() if k != "channel"}
    with pytest.raises(RuleError, match=r"field 'group'.*orbit, power"):
        parse_rules({"version": 1, "rules": [{**base, "type": "missing", "group": "x"}]})
    with pytest.raises(RuleError, match=r"field 'expected'.*array_power_w"):
        parse_rules({"version": 1, "rules": [{**GOOD, "type": "residual", "expected": "magic"}]})
    with pytest.raises(RuleError, match=r"field 'against'.*plane, fleet"):
        parse_rules(
            {"version": 1, "rules": [{**GOOD, "type": "out_of_family", "against": "shell"}]}
        )
    fleet = {k: v for k, v in base.items() if k != "type"}
    with pytest.raises(RuleError, match=r"rule 'hot': field 'measure'.*safe_mode_share"):
        parse_rules({"version": 1, "fleet_rules": [{**fleet, "measure": "mood"}]})


def test_a_limit_rule_takes_its_trigger_from_the_satellites_limit_and_a_margin():
    limit = {"name": "hot", "type": "limit", "channel": "temp_payload_c", "severity": "critical"}
    rule = parse_rules({"version": 1, "rules": [{**limit, "limit": "red_high", "margin": 6}]})
    rule = rule.satellite[0]
    assert (rule.limit, rule.trigger.direction, rule.trigger.value) == ("red_high", "above", 0.0)
    assert (rule.clear.direction, rule.clear.value) == ("below", -6.0)
    cases = [
        ({"limit": "red_high"}, r"field 'margin': None; accepted: a positive finite number"),
        ({"limit": "red_high", "margin": 0}, r"field 'margin': 0"),
        ({"limit": "red_high", "margin": float("inf")}, r"field 'margin': inf"),
        ({"limit": "red_high", "margin": True}, r"field 'margin': True"),
        ({"limit": "amber", "margin": 1}, r"field 'limit'.*red_low, yellow_low, yellow_high"),
        (
            {"limit": "red_high", "margin": 1, "channel": "array_w"},
            r"field 'limit'.*a limit array_w has: none",
        ),
        (
            {"limit": "red_high", "margin": 1, "trigger": {"above": 70}},
            r"field 'trigger'.*the fields of a limit rule",
        ),
    ]
    for changes, message in cases:
        with pytest.raises(RuleError, match=message):
            parse_rules({"version": 1, "rules": [{**limit, **changes}]})


def test_whole_file_errors():
    with pytest.raises(RuleError, match="version: 2; accepted: 1"):
        parse_rules({"version": 2, "rules": []})
    with pytest.raises(RuleError, match="rule 'hot' is defined twice"):
        parse_rules({"version": 1, "rules": [GOOD, GOOD]})
    with pytest.raises(RuleError, match=r"rules\[0\]: field 'name'"):
        parse_rules({"version": 1, "rules": [{**GOOD, "name": "Hot Payload"}]})
    with pytest.raises(RuleError, match="unknown top-level key 'rule'"):
        parse_rules({"version": 1, "rule": []})


def test_a_file_that_is_not_yaml_or_missing_is_named(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("rules: [unclosed")
    with pytest.raises(RuleError, match=r"r\.yaml: not valid YAML"):
        load_rules(bad)
    with pytest.raises(RuleError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_doc()))
    assert load_rules(good).names() == ("hot",)

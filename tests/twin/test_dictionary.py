"""``twin channels``: the telemetry dictionary as JSON and XTCE, read back independently."""

import json
import xml.etree.ElementTree as ET

import numpy as np

from twin.app.cli import main
from twin.core.clock import parse_start
from twin.fleet.limits import resolve
from twin.sim.presets import build, load_preset
from twin.wire.telemetry import CHANNELS

NS = {"x": "http://www.omg.org/spec/XTCE/20180204"}
X = "{" + NS["x"] + "}"
LIMITS = ("red_low", "yellow_low", "yellow_high", "red_high")


def _run(argv, tmp_path, name):
    out = tmp_path / name
    assert main([*argv, "--out", str(out)]) == 0
    return out.read_bytes()


def test_json_lists_every_channel_with_its_limits_per_hardware_model(tmp_path):
    body = json.loads(_run(["channels", "--preset", "threebody-12"], tmp_path, "d.json"))
    assert body["schema"] == "twin.channels" and body["preset"] == "threebody-12"
    assert [c["name"] for c in body["channels"]] == list(CHANNELS)
    _, hw = build(load_preset("threebody-12"), parse_start("2026-03-20T12:00:00Z"))
    resolved = resolve(hw)
    for entry in body["channels"]:
        channel = CHANNELS[entry["name"]]
        assert (entry["unit"], entry["resolution"]) == (channel.unit, channel.resolution)
        if entry["name"] not in resolved:
            assert set(entry["limits"].values()) == {None}
            continue
        # Every model's limits are among the satellites' resolved ones.
        per_sat = {tuple(row) for row in np.nan_to_num(resolved[entry["name"]], nan=-9e99)}
        for limits in entry["limits_by_hardware"].values():
            row = tuple(-9e99 if limits[k] is None else limits[k] for k in LIMITS)
            assert row in per_sat, (entry["name"], row)
    soc = next(c for c in body["channels"] if c["name"] == "soc")
    assert soc["limits"]["red_low"] == {"hardware": "safe_mode_enter_soc", "scale": 1.0,
                                        "offset": 0.0}  # fmt: skip


def test_xtce_has_one_typed_parameter_per_channel_with_units_and_alarm_ranges(tmp_path):
    root = ET.fromstring(
        _run(["channels", "--format", "xtce", "--preset", "threebody-12"], tmp_path, "d.xml")
    )
    assert root.tag == X + "SpaceSystem"
    parameters = root.findall("x:TelemetryMetaData/x:ParameterSet/x:Parameter", NS)
    assert [p.get("name") for p in parameters] == list(CHANNELS)
    types = {t.get("name"): t for t in root.find("x:TelemetryMetaData/x:ParameterTypeSet", NS)}
    for parameter in parameters:
        name = parameter.get("name")
        kind = types[parameter.get("parameterTypeRef")]
        expected = {"float64": "FloatParameterType", "int16": "IntegerParameterType",
                    "bool": "BooleanParameterType"}[CHANNELS[name].dtype]  # fmt: skip
        assert kind.tag == X + expected, name
        unit = kind.find("x:UnitSet/x:Unit", NS)
        assert (unit.text if unit is not None else "") == CHANNELS[name].unit, name
    ranges = types["temp_payload_c_type"].find("x:DefaultAlarm/x:StaticAlarmRanges", NS)
    warning = ranges.find("x:WarningRange", NS)
    critical = ranges.find("x:CriticalRange", NS)
    hardware = load_preset("threebody-12").hardware
    throttle = {spec.throttle_above_c for spec in hardware.values()}
    assert len(throttle) == 1  # both models agree, so the alarm is written
    assert float(warning.get("maxInclusive")) == throttle.pop()
    assert float(critical.get("maxInclusive")) == float(warning.get("maxInclusive")) + 8.0


def test_without_a_preset_xtce_keeps_only_the_limits_that_are_numbers(tmp_path):
    root = ET.fromstring(_run(["channels", "--format", "xtce"], tmp_path, "d.xml"))
    types = {t.get("name"): t for t in root.find("x:TelemetryMetaData/x:ParameterTypeSet", NS)}
    assert types["soc_type"].find("x:DefaultAlarm", NS) is None  # depends on the hardware
    altitude = types["alt_km_type"].find("x:DefaultAlarm/x:StaticAlarmRanges", NS)
    assert float(altitude.find("x:CriticalRange", NS).get("minInclusive")) == 200.0

"""The telemetry dictionary exported for ground-segment tools: JSON, and XTCE (OMG's XML
Telemetric and Command Exchange, 1.2, the form Yamcs and COSMOS import).

Each channel of ``twin.wire.telemetry.CHANNELS`` with its type, unit, range, resolution and
limits. A limit that depends on the hardware is written as that dependency in JSON and, with a
preset's hardware models, also as its value for each; XTCE alarms need numbers, so there a
limit is written when the models agree on it (or it is a number). ``schemas/`` holds both
without a preset (``python -m twin.stream.contract``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from twin.fleet.hardware import Hardware, HardwareSpec, hardware_arrays
from twin.fleet.limits import limit_values
from twin.wire.telemetry import CHANNELS, Channel, FromHardware, Limit

SCHEMA_ID = "twin.channels"
SCHEMA_VERSION = 1
XTCE_NAMESPACE = "http://www.omg.org/spec/XTCE/20180204"


def _models(hardware: dict[str, HardwareSpec]) -> dict[str, Hardware]:
    """Hardware model name -> its one-satellite ``Hardware`` arrays."""
    return {name: hardware_arrays([spec], [1]) for name, spec in hardware.items()}


def _limit_json(limit: Limit) -> float | dict | None:
    if isinstance(limit, FromHardware):
        return {"hardware": limit.field, "scale": limit.scale, "offset": limit.offset}
    return limit


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def to_json(preset: str | None = None, hardware: dict[str, HardwareSpec] | None = None) -> dict:
    """The dictionary as a JSON-ready object; with the ``hardware`` models of ``preset``, each
    channel's limits for each model under ``limits_by_hardware``."""
    models = _models(hardware or {})
    channels = []
    for name, channel in CHANNELS.items():
        entry = {
            "name": name,
            "group": channel.group,
            "type": channel.pg_type,
            "unit": channel.unit,
            "description": channel.description,
            "low": channel.low,
            "high": channel.high,
            "resolution": channel.resolution,
            "stored_step": channel.stored_step,
            "limits": {k: _limit_json(v) for k, v in channel.limits.items()},
        }
        if models:
            entry["limits_by_hardware"] = {
                model: {k: _number(limit_values(v, hw)[0]) for k, v in channel.limits.items()}
                for model, hw in models.items()
            }
        channels.append(entry)
    return {
        "schema": SCHEMA_ID,
        "version": SCHEMA_VERSION,
        "preset": preset,
        "channels": channels,
    }


def _agreed_limits(channel: Channel, models: dict[str, Hardware]) -> dict[str, float]:
    """The channel's limits that are one number for every model (all four names kept only
    where known)."""
    agreed = {}
    for key, limit in channel.limits.items():
        if limit is None:
            continue
        if not isinstance(limit, FromHardware):
            agreed[key] = float(limit)
            continue
        values = {float(limit_values(limit, hw)[0]) for hw in models.values()}
        if len(values) == 1:
            agreed[key] = values.pop()
    return agreed


def to_xtce(preset: str | None = None, hardware: dict[str, HardwareSpec] | None = None) -> bytes:
    """The dictionary as an XTCE 1.2 SpaceSystem (UTF-8 XML): one parameter type and one
    parameter per channel, with its unit, encoding and static alarm ranges (warning: yellow,
    critical: red) where the ``hardware`` models of ``preset`` agree on them."""
    models = _models(hardware or {})
    ET.register_namespace("xtce", XTCE_NAMESPACE)

    def el(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
        return ET.SubElement(parent, f"{{{XTCE_NAMESPACE}}}{tag}", attrs)

    root = ET.Element(f"{{{XTCE_NAMESPACE}}}SpaceSystem", {"name": "orbital-twin"})
    el(root, "LongDescription").text = "Telemetry channels of the orbital twin" + (
        "" if preset is None else f", limits for preset {preset}"
    )
    telemetry = el(root, "TelemetryMetaData")
    types = el(telemetry, "ParameterTypeSet")
    parameters = el(telemetry, "ParameterSet")
    for name, channel in CHANNELS.items():
        type_name = f"{name}_type"
        if channel.dtype == "bool":
            kind = el(types, "BooleanParameterType", name=type_name)
        elif channel.dtype == "int16":
            kind = el(types, "IntegerParameterType", name=type_name, signed="true", sizeInBits="16")
        else:
            kind = el(types, "FloatParameterType", name=type_name, sizeInBits="64")
        if channel.unit:
            el(el(kind, "UnitSet"), "Unit").text = channel.unit
        if channel.dtype == "bool":
            el(kind, "IntegerDataEncoding", sizeInBits="8")
        elif channel.dtype == "int16":
            el(kind, "IntegerDataEncoding", sizeInBits="16", encoding="twosComplement")
        else:
            el(kind, "FloatDataEncoding", sizeInBits="64")
        limits = _agreed_limits(channel, models)
        if limits and channel.dtype != "bool":
            ranges = el(el(kind, "DefaultAlarm"), "StaticAlarmRanges")
            for range_tag, low_key, high_key in (
                ("WarningRange", "yellow_low", "yellow_high"),
                ("CriticalRange", "red_low", "red_high"),
            ):
                bounds = {}
                if low_key in limits:
                    bounds["minInclusive"] = repr(limits[low_key])
                if high_key in limits:
                    bounds["maxInclusive"] = repr(limits[high_key])
                if bounds:
                    el(ranges, range_tag, **bounds)
        parameter = el(parameters, "Parameter", name=name, parameterTypeRef=type_name)
        parameter.set("shortDescription", channel.description)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)

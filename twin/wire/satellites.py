"""``twin.satellites``: the registry of the satellites a run flies, one message per satellite
on a compacted topic keyed by its id, so a consumer resolves the bare ``sat_id`` of every
other topic to a name, a catalogue number, its shell, plane and hardware model, and the epoch
of its elements (``twin run`` publishes it before its first tick).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import orjson

from twin.core.errors import ContractError, shown
from twin.wire.messages import open_envelope

SATELLITES_TOPIC = "twin.satellites"
SCHEMA_ID = "twin.satellites"
SCHEMA_VERSION = 1
NAME_PATTERN = "^[A-Za-z0-9._:-]{1,64}$"
MAX_CATALOGUE_NUMBER = 999_999_999
MAX_INTERVAL_S = 86_400.0
_NAME = re.compile(NAME_PATTERN.replace("$", r"\Z"))
FIELDS = {
    "schema", "version", "sat_id", "name", "norad_cat_id", "fleet", "shell", "plane",
    "hardware", "element_epoch_unix_ns", "telemetry_interval_s",
}  # fmt: skip


def safe_name(text: str) -> str:
    """``text`` as a name of the registry: other characters become ``-``, at most 64."""
    return re.sub(r"[^A-Za-z0-9._:-]", "-", text)[:64] or "unnamed"


class SatelliteError(ContractError):
    """A registry message that breaks its contract; the message says how."""


@dataclass(frozen=True)
class Satellite:
    """One satellite of the registry.

    Attributes
    ----------
    sat_id : the id every other topic carries.
    name, fleet, shell, hardware : names (``NAME_PATTERN``); ``hardware`` is the model.
    plane : orbital plane, 0-based within the fleet.
    element_epoch_unix_ns : epoch of its element set, ns since the Unix epoch (UTC).
    telemetry_interval_s : seconds between its orbit samples.
    norad_cat_id : its catalogue number, None when it has none (a planned satellite).
    """

    sat_id: int
    name: str
    fleet: str
    shell: str
    plane: int
    hardware: str
    element_epoch_unix_ns: int
    telemetry_interval_s: float
    norad_cat_id: int | None = None


def encode(satellite: Satellite) -> bytes:
    body = {"schema": SCHEMA_ID, "version": SCHEMA_VERSION, **satellite.__dict__}
    if satellite.norad_cat_id is None:
        del body["norad_cat_id"]
    return orjson.dumps(body)


def _name(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not _NAME.match(value):
        raise SatelliteError(f"{key}: {shown(value)} is not a name matching {NAME_PATTERN}")
    return value


def _integer(body: dict, key: str, low: int, high: int) -> int:
    value = body.get(key)
    if type(value) is not int or not low <= value <= high:
        raise SatelliteError(f"{key}: {shown(value)} is not an integer in {low}..{high}")
    return value


def decode(payload: bytes | None) -> Satellite:
    """The satellite of a ``twin.satellites`` message, validated; raises ``SatelliteError``
    with the reason."""
    body = open_envelope(payload, SCHEMA_ID, SCHEMA_VERSION, "satellite", FIELDS, SatelliteError)
    missing = sorted(FIELDS - {"norad_cat_id"} - set(body))
    if missing:
        raise SatelliteError(f"missing fields: {', '.join(missing)}")
    interval = body["telemetry_interval_s"]
    if (
        type(interval) not in (int, float)
        or not math.isfinite(interval)
        or not 0 < interval <= MAX_INTERVAL_S
    ):
        raise SatelliteError(
            f"telemetry_interval_s: {shown(interval)} is not a number in (0, {MAX_INTERVAL_S:g}]"
        )
    return Satellite(
        sat_id=_integer(body, "sat_id", 1, 2**31 - 1),
        name=_name(body, "name"),
        fleet=_name(body, "fleet"),
        shell=_name(body, "shell"),
        plane=_integer(body, "plane", 0, 2**31 - 1),
        hardware=_name(body, "hardware"),
        element_epoch_unix_ns=_integer(body, "element_epoch_unix_ns", 0, 2**63 - 1),
        telemetry_interval_s=float(interval),
        norad_cat_id=(
            _integer(body, "norad_cat_id", 1, MAX_CATALOGUE_NUMBER)
            if "norad_cat_id" in body
            else None
        ),
    )

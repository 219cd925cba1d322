"""``twin.elements``: element sets of the real fleet, one message per set, keyed by the
satellite's catalogue number (decimal text).

A message carries either ``omm``, a CCSDS OMM's mean elements with the keys CelesTrak's GP
JSON uses (numbers as JSON numbers, ``EPOCH`` as ISO-8601 UTC text), or ``tle``, the two lines
of a two-line element set (with ``object_name`` beside them when known). Either way the set
must be one SGP4 can fly; ``decode`` returns it with its ``Satrec``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sgp4 import omm
from sgp4.api import Satrec
from sgp4.conveniences import sat_epoch_datetime

from twin.core.errors import ContractError, shown
from twin.wire.messages import open_envelope

ELEMENTS_TOPIC = "twin.elements"
SCHEMA_ID = "twin.elements"
SCHEMA_VERSION = 1
FIELDS = {"schema", "version", "omm", "tle", "object_name"}
MAX_CATALOGUE_NUMBER = 339_999  # the largest a TLE's Alpha-5 field (and sgp4) carries
MAX_COUNT = 999_999_999  # element set and revolution numbers
TEXT_PATTERN = "^[ -~]{0,64}$"  # printable ASCII
_TEXT = re.compile(TEXT_PATTERN.replace("$", r"\Z"))
TLE_PATTERNS = ("^1 [ -~]{67}$", "^2 [ -~]{67}$")
EPOCH_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z?$"
_EPOCH = re.compile(EPOCH_PATTERN.replace("$", r"\Z"))
EARLIEST_EPOCH = "1957-10-04T00:00:00"  # Sputnik 1
LATEST_EPOCH = "2100-01-01T00:00:00"
# OMM keys: the numbers SGP4 needs, then the optional ones with their defaults.
OMM_NUMBERS = (
    "MEAN_MOTION",  # rev/day
    "ECCENTRICITY",
    "INCLINATION",  # deg
    "RA_OF_ASC_NODE",  # deg
    "ARG_OF_PERICENTER",  # deg
    "MEAN_ANOMALY",  # deg
    "BSTAR",  # 1/earth radii
)
OMM_OPTIONAL_NUMBERS = {
    "MEAN_MOTION_DOT": 0.0,  # rev/day², as the TLE gives it (half the derivative)
    "MEAN_MOTION_DDOT": 0.0,  # rev/day³, a sixth of the second derivative
}
OMM_INTEGERS = {"NORAD_CAT_ID": None, "EPHEMERIS_TYPE": 0, "ELEMENT_SET_NO": 999, "REV_AT_EPOCH": 0}
OMM_TEXTS = {
    "EPOCH": None,
    "OBJECT_NAME": "",
    "OBJECT_ID": "",
    "CLASSIFICATION_TYPE": "U",
    "CENTER_NAME": "EARTH",
    "REF_FRAME": "TEME",
    "TIME_SYSTEM": "UTC",
    "MEAN_ELEMENT_THEORY": "SGP4",
}
OMM_KEYS = (*OMM_NUMBERS, *OMM_OPTIONAL_NUMBERS, *OMM_INTEGERS, *OMM_TEXTS)
# What these keys must hold for SGP4: its frame, time system and theory.
OMM_FIXED = {
    "CENTER_NAME": "EARTH",
    "REF_FRAME": "TEME",
    "TIME_SYSTEM": "UTC",
    "MEAN_ELEMENT_THEORY": "SGP4",
}


class ElementSetError(ContractError):
    """An element set that breaks the ``twin.elements`` contract; the message says how."""


@dataclass(frozen=True)
class ElementSet:
    """One satellite's element set as received.

    Attributes
    ----------
    norad_cat_id : catalogue number (the ``sat_id`` of a mirrored fleet).
    object_name, object_id : name and international designator ("" when not given).
    epoch_unix_ns : epoch, ns since the Unix epoch (UTC).
    omm : the set as OMM keys and values (what is stored; a TLE's converted by sgp4).
    tle : the two lines when the set came as a TLE, else None.
    satrec : the SGP4 record.
    """

    norad_cat_id: int
    object_name: str
    object_id: str
    epoch_unix_ns: int
    omm: dict
    tle: tuple[str, str] | None
    satrec: Satrec


def element_problems(sat: Satrec) -> list[str]:
    """What makes ``sat`` unflyable by SGP4: an eccentricity outside [0, 1), a mean motion
    that is not positive, an inclination outside [0°, 180°], or an initialisation error
    (empty: none)."""
    problems = []
    if not 0.0 <= sat.ecco < 1.0:
        problems.append(f"eccentricity {sat.ecco:g} is not in [0, 1)")
    if not sat.no_kozai > 0.0:
        problems.append(
            f"mean motion {sat.no_kozai * 1440 / (2 * math.pi):g} rev/day is not positive"
        )
    if not 0.0 <= sat.inclo <= math.pi:
        problems.append(f"inclination {math.degrees(sat.inclo):g}° is not in [0, 180]")
    if sat.error:
        problems.append(f"SGP4 rejects these elements (error {sat.error})")
    return problems


def tle_checksum_ok(line: str) -> bool:
    """The TLE line's last column is the sum of its digits, each minus sign counting 1,
    modulo 10 (the NORAD two-line element format)."""
    digits = "0123456789"  # ASCII only: str.isdigit also takes '²'
    if len(line) != 69 or line[68] not in digits:
        return False
    total = sum(int(c) if c in digits else c == "-" for c in line[:68])
    return total % 10 == int(line[68])


def satrec_from_omm(fields: dict) -> Satrec:
    """The SGP4 record of an OMM's keys (values as numbers or text, as sgp4's OMM parser
    reads them); raises ``ValueError`` (or ``KeyError`` for a missing key) when they cannot
    make one."""
    sat = Satrec()
    try:
        omm.initialize(sat, fields)
    except (TypeError, AttributeError, OverflowError, IndexError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    return sat


def omm_fields(sat: Satrec, name: str = "") -> dict:
    """The OMM keys of ``sat`` as sgp4's exporter writes them (also for a record made by
    ``sgp4init``, which has no international designator: ``OBJECT_ID`` is then empty)."""
    rev_per_day = 1440.0 / (2.0 * math.pi)  # rad/min -> rev/day
    year = int(sat.intldesg[:2]) if sat.intldesg[:2].isdigit() else None
    object_id = (
        "" if year is None else f"{year + (1900 if year >= 57 else 2000)}-{sat.intldesg[2:]}"
    )
    return {
        "OBJECT_NAME": name,
        "OBJECT_ID": object_id,
        "EPOCH": sat_epoch_datetime(sat).strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "MEAN_MOTION": sat.no_kozai * rev_per_day,
        "ECCENTRICITY": sat.ecco,
        "INCLINATION": math.degrees(sat.inclo),
        "RA_OF_ASC_NODE": math.degrees(sat.nodeo),
        "ARG_OF_PERICENTER": math.degrees(sat.argpo),
        "MEAN_ANOMALY": math.degrees(sat.mo),
        "EPHEMERIS_TYPE": sat.ephtype,
        "CLASSIFICATION_TYPE": sat.classification or "U",
        "NORAD_CAT_ID": sat.satnum,
        "ELEMENT_SET_NO": sat.elnum,
        "REV_AT_EPOCH": sat.revnum,
        "BSTAR": sat.bstar,
        "MEAN_MOTION_DOT": sat.ndot * rev_per_day * 1440.0,
        "MEAN_MOTION_DDOT": sat.nddot * rev_per_day * 1440.0 * 1440.0,
    }


def encode(sat: Satrec, name: str = "") -> bytes:
    """The ``twin.elements`` message of ``sat`` as OMM."""
    body = {"schema": SCHEMA_ID, "version": SCHEMA_VERSION, "omm": omm_fields(sat, name)}
    return orjson.dumps(body)


def encode_tle(line1: str, line2: str, name: str = "") -> bytes:
    """The ``twin.elements`` message of a TLE."""
    body = {"schema": SCHEMA_ID, "version": SCHEMA_VERSION, "tle": [line1, line2]}
    return orjson.dumps(body | ({"object_name": name} if name else {}))


def decode(payload: bytes | None) -> ElementSet:
    """Check a ``twin.elements`` message; raises ``ElementSetError`` with the reason."""
    body = open_envelope(payload, SCHEMA_ID, SCHEMA_VERSION, "message", FIELDS, ElementSetError)
    if ("omm" in body) == ("tle" in body):
        raise ElementSetError("exactly one of 'omm' and 'tle' is needed")
    if "omm" in body:
        if "object_name" in body:
            raise ElementSetError("object_name: goes inside 'omm' as OBJECT_NAME")
        fields = _omm_fields(body["omm"])
        tle = None
    else:
        tle = _tle_lines(body["tle"])
        name = _text(body, "object_name", "")
        try:
            fields = omm_fields(Satrec.twoline2rv(*tle), name)
        except (ValueError, IndexError, OverflowError) as exc:
            raise ElementSetError(f"tle: SGP4 cannot read it: {shown(str(exc))}") from None
    try:
        sat = satrec_from_omm(fields)
    except (KeyError, ValueError) as exc:
        raise ElementSetError(f"omm: SGP4 cannot read it: {shown(str(exc))}") from None
    problems = element_problems(sat)
    if problems:
        raise ElementSetError(f"catalogue {sat.satnum}: {'; '.join(problems)}")
    epoch = datetime.strptime(fields["EPOCH"], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    epoch_ns = (epoch - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
    return ElementSet(
        norad_cat_id=int(fields["NORAD_CAT_ID"]),
        object_name=str(fields.get("OBJECT_NAME", "")),
        object_id=str(fields.get("OBJECT_ID", "")),
        epoch_unix_ns=epoch_ns,
        omm=fields,
        tle=tle,
        satrec=sat,
    )


def _text(body: dict, key: str, default: str | None) -> str:
    value = body.get(key, default)
    if value is None:
        raise ElementSetError(f"{key}: missing")
    if not isinstance(value, str) or not _TEXT.match(value):
        raise ElementSetError(f"{key}: {shown(value)} does not match {TEXT_PATTERN}")
    return value


def _omm_fields(value: object) -> dict:
    """The OMM keys checked and completed with their defaults, EPOCH in sgp4's form."""
    if not isinstance(value, dict):
        raise ElementSetError(f"omm: {shown(value)} is not a JSON object")
    unknown = sorted(set(value) - set(OMM_KEYS))
    if unknown:
        raise ElementSetError(f"omm: unknown keys: {', '.join(shown(k) for k in unknown[:10])}")
    fields: dict = {}
    for key in OMM_NUMBERS:
        fields[key] = _number(value, key, None)
    for key, default in OMM_OPTIONAL_NUMBERS.items():
        fields[key] = _number(value, key, default)
    for key, default in OMM_INTEGERS.items():
        number = value.get(key, default)
        if number is None:
            raise ElementSetError(f"omm.{key}: missing")
        if type(number) is not int or not 0 <= number <= MAX_COUNT:
            raise ElementSetError(f"omm.{key}: {shown(number)} is not an integer in 0..{MAX_COUNT}")
        fields[key] = number
    if not 1 <= fields["NORAD_CAT_ID"] <= MAX_CATALOGUE_NUMBER:
        raise ElementSetError(
            f"omm.NORAD_CAT_ID: {fields['NORAD_CAT_ID']} is not in 1..{MAX_CATALOGUE_NUMBER}"
        )
    for key, default in OMM_TEXTS.items():
        fields[key] = _text(value, key, default)
    for key, required in OMM_FIXED.items():
        if fields[key] != required:
            raise ElementSetError(f"omm.{key}: {shown(fields[key])}; SGP4 needs {required}")
    fields["EPOCH"] = _epoch(fields["EPOCH"])
    return fields


def _number(value: dict, key: str, default: float | None) -> float:
    number = value.get(key, default)
    if number is None:
        raise ElementSetError(f"omm.{key}: missing")
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise ElementSetError(f"omm.{key}: {shown(number)} is not a number")
    if not math.isfinite(number) or abs(number) > 1e6:
        raise ElementSetError(f"omm.{key}: {shown(number)} is not a finite number within 1e6")
    return float(number)


def _epoch(text: str) -> str:
    """``text`` (ISO-8601 UTC, optional fraction and Z) in sgp4's form, microseconds."""
    if not _EPOCH.match(text):
        raise ElementSetError(f"omm.EPOCH: {shown(text)} does not match {EPOCH_PATTERN}")
    whole, _, fraction = text.rstrip("Z").partition(".")
    epoch = f"{whole}.{(fraction + '000000')[:6]}"
    if not EARLIEST_EPOCH <= epoch < LATEST_EPOCH:
        raise ElementSetError(f"omm.EPOCH: {text} is outside {EARLIEST_EPOCH}..{LATEST_EPOCH}")
    try:
        datetime.strptime(epoch, "%Y-%m-%dT%H:%M:%S.%f")
    except ValueError:
        raise ElementSetError(f"omm.EPOCH: {text} is not a date and time") from None
    return epoch


def _tle_lines(value: object) -> tuple[str, str]:
    if not isinstance(value, list) or len(value) != 2:
        raise ElementSetError(f"tle: {shown(value)} is not a list of two lines")
    for number, (line, pattern) in enumerate(zip(value, TLE_PATTERNS, strict=True), start=1):
        if not isinstance(line, str) or not re.match(pattern.replace("$", r"\Z"), line):
            raise ElementSetError(f"tle: line {number}: {shown(line)} does not match {pattern}")
    first, second = value
    for number, line in ((1, first), (2, second)):
        if not tle_checksum_ok(line):
            raise ElementSetError(
                f"tle: line {number} is not a 69-column TLE line with a valid checksum"
            )
    if first[2:7] != second[2:7]:
        raise ElementSetError("tle: the two lines carry different catalogue numbers")
    return first, second

"""Import of real element sets: TLE files and OMM in CSV, XML or JSON, through sgp4's parsers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from xml.etree.ElementTree import ParseError

import numpy as np
from sgp4 import omm
from sgp4.api import Satrec

from twin.fleet import Fleet, make_fleet
from twin.settings import InputError

FORMATS = ("tle", "omm-csv", "omm-xml", "omm-json")


class ElementsError(InputError):
    """An element file that cannot be read; names the file, the entry and the problem."""


def detect_format(path: Path) -> str:
    """Guess the format from the suffix: .tle/.txt/.3le, .csv, .xml, .json."""
    suffix = path.suffix.lower()
    formats = {
        ".tle": "tle",
        ".txt": "tle",
        ".3le": "tle",
        ".csv": "omm-csv",
        ".xml": "omm-xml",
        ".json": "omm-json",
    }
    if suffix not in formats:
        raise ElementsError(
            f"{path}: unknown suffix {suffix!r}; accepted: {sorted(formats)} "
            f"or give the format ({', '.join(FORMATS)})"
        )
    return formats[suffix]


def read_elements(path: Path, fmt: str | None = None) -> tuple[list[Satrec], list[str]]:
    """Read element sets; return the Satrecs and a name per satellite (catalogue id if none)."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ElementsError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ElementsError(f"{path}: cannot be read ({exc})") from None
    if fmt == "tle":
        return _read_tle(path, text)
    if fmt == "omm-json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ElementsError(f"{path}: not JSON: {exc}") from None
        records = records if isinstance(records, list) else [records]
    else:
        try:
            with path.open(encoding="utf-8") as f:
                records = list(omm.parse_csv(f) if fmt == "omm-csv" else omm.parse_xml(f))
        except (ParseError, csv.Error, ValueError) as exc:
            raise ElementsError(f"{path}: not {fmt.upper()}: {exc}") from None
    sats, names = [], []
    for i, fields in enumerate(records):
        sat = Satrec()
        try:
            omm.initialize(sat, fields)
        except (KeyError, ValueError, TypeError) as exc:
            raise ElementsError(f"{path}: entry {i + 1}: {type(exc).__name__}: {exc}") from None
        sats.append(sat)
        names.append(str(fields.get("OBJECT_NAME") or fields.get("NORAD_CAT_ID")))
    return sats, names


def _read_tle(path: Path, text: str) -> tuple[list[Satrec], list[str]]:
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    sats, names, name, i = [], [], None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("1 ") and i + 1 < len(lines) and lines[i + 1].startswith("2 "):
            sat = Satrec.twoline2rv(line, lines[i + 1])
            if sat.error:
                raise ElementsError(
                    f"{path}: line {i + 1}: SGP4 rejects these elements (error {sat.error})"
                )
            sats.append(sat)
            names.append(name or str(sat.satnum))
            name, i = None, i + 2
        elif not line.startswith(("1 ", "2 ")):
            name, i = line.removeprefix("0 ").strip(), i + 1
        else:
            raise ElementsError(f"{path}: line {i + 1}: a TLE line 1 must be followed by line 2")
    if not sats:
        raise ElementsError(f"{path}: no TLE found")
    return sats, names


def fleet_from_elements(sats: list[Satrec], first_sat_id: int | None = None) -> Fleet:
    """A fleet of imported satellites; ids are catalogue numbers unless ``first_sat_id``.

    Satellites are grouped into planes by right ascension of the node in 10° bins, a coarse
    grouping for frames (element sets carry no plane label).
    """
    if first_sat_id is None:
        sat_id = np.array([s.satnum for s in sats], dtype=np.int32)
    else:
        sat_id = first_sat_id + np.arange(len(sats), dtype=np.int32)
    raan_deg = np.degrees([s.nodeo for s in sats]) % 360.0
    _, plane = np.unique((raan_deg // 10.0).astype(int), return_inverse=True)
    return make_fleet(sat_id, plane, sats)

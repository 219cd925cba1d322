"""Import of real element sets: TLE files and OMM in CSV, XML or JSON, through sgp4's parsers."""

from __future__ import annotations

import csv
import io
import json
import zlib
from pathlib import Path
from xml.etree.ElementTree import ParseError

import numpy as np
from sgp4 import omm
from sgp4.api import Satrec

from twin.core.clock import JD_UNIX_EPOCH, NS_PER_DAY
from twin.core.settings import InputError
from twin.fleet import structure
from twin.fleet.constellation import Fleet, make_fleet
from twin.wire.elements import element_problems, satrec_from_omm, tle_checksum_ok

FORMATS = ("tle", "omm-csv", "omm-xml", "omm-json")
MAX_GUNZIPPED_BYTES = 256 * 1024 * 1024  # ~1.5 M element sets as TLE


class ElementsError(InputError):
    """An element file that cannot be read; names the file, the entry and the problem."""


def detect_format(path: Path) -> str:
    """Guess the format from the suffix: .tle/.txt/.3le, .csv, .xml, .json (each also
    gzipped, .gz after it)."""
    suffix = (path.with_suffix("") if path.suffix.lower() == ".gz" else path).suffix.lower()
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


def epochs_ns(sats) -> np.ndarray:
    """(n,) int64 epoch of each element set, ns since the Unix epoch (one read per set)."""
    jd = np.fromiter((s.jdsatepoch for s in sats), np.float64, len(sats))
    fraction = np.fromiter((s.jdsatepochF for s in sats), np.float64, len(sats))
    return np.rint(((jd - JD_UNIX_EPOCH) + fraction) * NS_PER_DAY).astype(np.int64)


def catalogue_name(path: Path) -> str:
    """A catalogue's name from its file: the name less its format suffix (and .gz)."""
    path = Path(path)
    return (path.with_suffix("") if path.suffix.lower() == ".gz" else path).stem


def read_elements(path: Path, fmt: str | None = None) -> tuple[list[Satrec], list[str]]:
    """Read element sets (a file ending in .gz is gunzipped first, at most
    ``MAX_GUNZIPPED_BYTES``); return the Satrecs and a name per satellite (catalogue id if
    none)."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ElementsError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        raw = path.read_bytes()
        if path.suffix.lower() == ".gz":
            raw = _gunzip(raw, path)
        text = raw.decode("utf-8")
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
            with io.StringIO(text) as f:
                records = list(omm.parse_csv(f) if fmt == "omm-csv" else omm.parse_xml(f))
        except (ParseError, csv.Error, ValueError) as exc:
            raise ElementsError(f"{path}: not {fmt.upper()}: {exc}") from None
    if not records:
        raise ElementsError(f"{path}: no element sets")
    sats, names, where = [], [], []
    for i, fields in enumerate(records):
        try:
            sat = satrec_from_omm(fields)
        except (KeyError, ValueError) as exc:
            raise ElementsError(f"{path}: entry {i + 1}: {type(exc).__name__}: {exc}") from None
        _check_elements(sat, path, f"entry {i + 1}")
        sats.append(sat)
        names.append(str(fields.get("OBJECT_NAME") or fields.get("NORAD_CAT_ID")))
        where.append(f"entry {i + 1}")
    _check_unique(sats, path, where)
    return sats, names


def _gunzip(raw: bytes, path: Path) -> bytes:
    """``raw`` gunzipped, refusing more than ``MAX_GUNZIPPED_BYTES`` (a small hostile file
    must not inflate to gigabytes)."""
    inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        out = inflate.decompress(raw, MAX_GUNZIPPED_BYTES + 1)
    except zlib.error as exc:
        raise ElementsError(f"{path}: not gzip ({exc})") from None
    if len(out) > MAX_GUNZIPPED_BYTES:
        raise ElementsError(f"{path}: more than {MAX_GUNZIPPED_BYTES} bytes once gunzipped")
    return out


def _check_elements(sat: Satrec, path: Path, where: str) -> None:
    """Refuse elements SGP4 cannot fly (``twin.wire.elements.element_problems``)."""
    problems = element_problems(sat)
    if problems:
        raise ElementsError(f"{path}: {where} (catalogue {sat.satnum}): {'; '.join(problems)}")


def _check_unique(sats: list[Satrec], path: Path, where: list[str]) -> None:
    first: dict[int, str] = {}
    for sat, here in zip(sats, where, strict=True):
        if sat.satnum in first:
            raise ElementsError(
                f"{path}: {here} repeats catalogue number {sat.satnum} of {first[sat.satnum]}; "
                "keep one element set per satellite"
            )
        first[sat.satnum] = here


def _read_tle(path: Path, text: str) -> tuple[list[Satrec], list[str]]:
    # (line number in the file, text) of the non-blank lines
    lines = [(n, ln.rstrip()) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    sats, names, where, name, i = [], [], [], None, 0
    while i < len(lines):
        number, line = lines[i]
        if line.startswith("1 ") and i + 1 < len(lines) and lines[i + 1][1].startswith("2 "):
            second = lines[i + 1][1]
            for n, text_ in ((number, line), (lines[i + 1][0], second)):
                if not tle_checksum_ok(text_):
                    raise ElementsError(
                        f"{path}: line {n}: not a 69-column TLE line with a valid checksum "
                        "(a corrupted digit would fly another orbit)"
                    )
            try:
                sat = Satrec.twoline2rv(line, second)
            except (ValueError, IndexError, OverflowError) as exc:
                raise ElementsError(f"{path}: line {number}: not a TLE ({exc})") from None
            _check_elements(sat, path, f"line {number}")
            sats.append(sat)
            names.append(name or str(sat.satnum))
            where.append(f"line {number}")
            name, i = None, i + 2
        elif not line.startswith(("1 ", "2 ")):
            if name is not None:
                raise ElementsError(f"{path}: line {number}: a name line follows the name {name!r}")
            name, i = line.removeprefix("0 ").strip(), i + 1
        else:
            raise ElementsError(f"{path}: line {number}: a TLE line 1 must be followed by line 2")
    if not sats:
        raise ElementsError(f"{path}: no TLE found")
    if name is not None:
        raise ElementsError(f"{path}: the file ends after the name {name!r}, without its TLE")
    _check_unique(sats, path, where)
    return sats, names


def fleet_from_elements(sats: list[Satrec], first_sat_id: int | None = None) -> Fleet:
    """A fleet of imported satellites; ids are catalogue numbers unless ``first_sat_id``."""
    return catalogue_fleet(sats, first_sat_id)[0]


def catalogue_fleet(
    sats: list[Satrec], first_sat_id: int | None = None
) -> tuple[Fleet, structure.Structure]:
    """A fleet of imported satellites with its shells and planes recovered from the
    elements (``twin.fleet.structure``), and that structure; ids are catalogue numbers
    unless ``first_sat_id``."""
    if first_sat_id is None:
        sat_id = np.array([s.satnum for s in sats], dtype=np.int32)
    else:
        sat_id = first_sat_id + np.arange(len(sats), dtype=np.int32)
    found = structure.recover(*structure.mean_elements(sats))
    return make_fleet(sat_id, found.plane, sats, found.shell), found

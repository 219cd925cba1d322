"""Element files of any content: read, or refused with ``ElementsError`` naming the place;
never another exception, never elements SGP4 cannot fly (generated with hypothesis)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sgp4.exporter import export_omm

from tests.test_hostile_decoders import json_values
from tests.twin.test_elements import ISS, _fixed
from twin.fleet import elements as elements_module
from twin.fleet.constellation import walker_delta
from twin.fleet.elements import ElementsError, read_elements

GOOD_TLE = ["ISS (ZARYA)", _fixed(ISS[0]), _fixed(ISS[1])]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _flyable(sats) -> bool:
    return all(0 <= s.ecco < 1 and s.no_kozai > 0 and 0 <= s.inclo <= np.pi for s in sats)


def _read(path) -> None:
    try:
        sats, names = read_elements(path)
    except ElementsError as exc:
        assert str(path) in str(exc)
        return
    assert sats and len(sats) == len(names) and _flyable(sats)


@SETTINGS
@given(
    line=st.integers(0, 2),
    column=st.integers(0, 68),
    char=st.characters(codec="utf-8"),
    extra=st.lists(st.text(max_size=80), max_size=3),
)
def test_a_mutated_tle_file_is_read_or_refused(tmp_path_factory, line, column, char, extra):
    lines = list(GOOD_TLE)
    text = lines[line]
    lines[line] = text[:column] + char + text[column + 1 :]
    path = tmp_path_factory.mktemp("tle") / "f.tle"
    path.write_text("\n".join(lines + extra) + "\n", encoding="utf-8")
    _read(path)


@SETTINGS
@given(data=st.binary(max_size=400))
def test_any_bytes_as_an_element_file_are_read_or_refused(tmp_path_factory, data):
    for suffix in ("tle", "json", "csv", "xml"):
        path = tmp_path_factory.mktemp("raw") / f"f.{suffix}"
        path.write_bytes(data)
        _read(path)


@SETTINGS
@given(data=st.binary(max_size=400), gzipped=st.booleans())
def test_any_bytes_as_a_gzipped_element_file_are_read_or_refused(tmp_path_factory, data, gzipped):
    for suffix in ("tle", "json", "csv", "xml"):
        path = tmp_path_factory.mktemp("gz") / f"f.{suffix}.gz"
        path.write_bytes(gzip.compress(data) if gzipped else data)
        _read(path)


def test_a_gzip_bomb_is_refused_before_it_inflates(tmp_path, monkeypatch):
    monkeypatch.setattr(elements_module, "MAX_GUNZIPPED_BYTES", 1_000_000)
    path = tmp_path / "bomb.tle.gz"
    path.write_bytes(gzip.compress(b"\n" * 50_000_000))  # 50 MB of blank lines in ~50 kB
    assert path.stat().st_size < 100_000
    with pytest.raises(ElementsError, match="more than 1000000 bytes once gunzipped"):
        read_elements(path)
    good = tmp_path / "good.tle.gz"  # the same limit reads a real gzipped file
    good.write_bytes(gzip.compress(("\n".join(GOOD_TLE) + "\n").encode()))
    assert len(read_elements(good)[0]) == len(GOOD_TLE) // 3


@SETTINGS
@given(field=st.sampled_from(["EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION",
                              "RA_OF_ASC_NODE", "NORAD_CAT_ID", "BSTAR", "OBJECT_ID"]),
       value=json_values)  # fmt: skip
def test_an_omm_record_with_any_value_is_read_or_refused(tmp_path_factory, field, value):
    source = walker_delta(2, 1, 0, 550.0, 53.0, 1_774_008_000 * 10**9)
    for sat in source.elements:
        sat.intldesg = "26001A"
    records = [export_omm(s, f"SAT-{i}") for i, s in enumerate(source.elements)]
    records[1][field] = value
    path = tmp_path_factory.mktemp("omm") / "f.json"
    path.write_text(json.dumps(records))
    _read(path)

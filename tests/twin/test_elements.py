"""Element import: TLE and OMM (CSV, XML, JSON) give the same orbits as the sources."""

import csv
import json

import numpy as np
import pytest
from sgp4.exporter import export_omm, export_tle

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.constellation import walker_delta
from twin.fleet.elements import ElementsError, fleet_from_elements, read_elements
from twin.physics.orbit import propagate

START_NS = parse_start("2026-03-20T12:00:00Z")


@pytest.fixture(scope="module")
def source():
    return walker_delta(8, 2, 1, 550.0, 53.0, START_NS, bstar=2e-5)


def _positions(fleet):
    t = START_NS + np.arange(0, 7200, 600, dtype=np.int64) * NS_PER_S
    return propagate(fleet.satrecs, t).r_teme_km


def _omm_records(source):
    for sat in source.elements:
        sat.intldesg = "26001A"  # OMM needs an international designator; generated sets lack one
    return [export_omm(s, f"SAT-{i}") for i, s in enumerate(source.elements)]


def test_tle_round_trip(tmp_path, source):
    lines = []
    for i, sat in enumerate(source.elements):
        lines += [f"SAT-{i}", *export_tle(sat)]
    path = tmp_path / "fleet.tle"
    path.write_text("\n".join(lines) + "\n")
    sats, names = read_elements(path)
    assert names == [f"SAT-{i}" for i in range(8)]
    # TLE text keeps ~8 digits: agreement to well under a kilometre after two hours.
    np.testing.assert_allclose(_positions(fleet_from_elements(sats)), _positions(source), atol=1.0)


def test_omm_json_csv_and_xml_agree(tmp_path, source):
    records = _omm_records(source)
    (tmp_path / "fleet.json").write_text(json.dumps(records))
    with (tmp_path / "fleet.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    body = "".join(
        "<segment><metadata>"
        + "".join(
            f"<{k}>{r[k]}</{k}>"
            for k in (
                "OBJECT_NAME",
                "OBJECT_ID",
                "CENTER_NAME",
                "REF_FRAME",
                "TIME_SYSTEM",
                "MEAN_ELEMENT_THEORY",
            )
        )
        + "</metadata><data><meanElements>"
        + "".join(
            f"<{k}>{r[k]}</{k}>"
            for k in (
                "EPOCH",
                "MEAN_MOTION",
                "ECCENTRICITY",
                "INCLINATION",
                "RA_OF_ASC_NODE",
                "ARG_OF_PERICENTER",
                "MEAN_ANOMALY",
            )
        )
        + "</meanElements><tleParameters>"
        + "".join(
            f"<{k}>{r[k]}</{k}>"
            for k in (
                "EPHEMERIS_TYPE",
                "CLASSIFICATION_TYPE",
                "NORAD_CAT_ID",
                "ELEMENT_SET_NO",
                "REV_AT_EPOCH",
                "BSTAR",
                "MEAN_MOTION_DOT",
                "MEAN_MOTION_DDOT",
            )
        )
        + "</tleParameters></data></segment>"
        for r in records
    )
    (tmp_path / "fleet.xml").write_text(
        f'<?xml version="1.0"?><ndm><omm><body>{body}</body></omm></ndm>'
    )
    expected = _positions(source)
    for name in ("fleet.json", "fleet.csv", "fleet.xml"):
        sats, names = read_elements(tmp_path / name)
        assert names[0] == "SAT-0" and len(sats) == 8
        np.testing.assert_allclose(_positions(fleet_from_elements(sats, 1)), expected, atol=1e-3)


def test_imported_fleet_groups_planes_by_node(source, tmp_path):
    (tmp_path / "f.json").write_text(json.dumps(_omm_records(source)))
    fleet = fleet_from_elements(read_elements(tmp_path / "f.json")[0], first_sat_id=100)
    assert len(np.unique(fleet.plane)) == 2 and fleet.sat_id.tolist() == list(range(100, 108))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.tle",
            "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9005\n",
            "line 1: a TLE line 1 must be followed by line 2",
        ),
        ("a.tle", "just a name\n", "no TLE found"),
        ("a.json", "{broken", "not JSON"),
        ("a.json", '[{"OBJECT_NAME": "X"}]', "entry 1: KeyError"),
        ("a.dat", "", "unknown suffix '.dat'"),
    ],
)
def test_bad_files_are_reported_with_place_and_reason(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ElementsError, match=message):
        read_elements(tmp_path / name)


ISS = (
    "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9005",
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.50377579 12345",
)


def _fixed(line: str) -> str:
    """``line`` with its checksum made right."""
    total = sum(int(c) if c.isdigit() else c == "-" for c in line[:68])
    return line[:68] + str(total % 10)


def test_tle_checksums_are_checked(tmp_path):
    good = [_fixed(ISS[0]), _fixed(ISS[1])]
    (tmp_path / "ok.tle").write_text("ISS\n" + "\n".join(good) + "\n")
    sats, _ = read_elements(tmp_path / "ok.tle")
    assert np.degrees(sats[0].inclo) == pytest.approx(51.6416)
    corrupted = good[1].replace(" 51.6416", " 81.6416")  # one digit: 30° more inclination
    (tmp_path / "bad.tle").write_text("ISS\n\n\n" + good[0] + "\n" + corrupted + "\n")
    with pytest.raises(ElementsError, match=r"line 5: .*checksum"):  # blank lines counted
        read_elements(tmp_path / "bad.tle")


def test_a_name_without_its_tle_and_repeated_catalogue_numbers_are_refused(tmp_path):
    good = "\n".join(_fixed(line) for line in ISS)
    (tmp_path / "end.tle").write_text(f"ISS\n{good}\nLAST ONE\n")
    with pytest.raises(ElementsError, match=r"ends after the name .LAST ONE."):
        read_elements(tmp_path / "end.tle")
    (tmp_path / "twice.tle").write_text(f"A\n{good}\nB\n{good}\n")
    with pytest.raises(ElementsError, match=r"twice.tle: line 5 repeats catalogue number 25544"):
        read_elements(tmp_path / "twice.tle")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ECCENTRICITY": 1.5}, "eccentricity 1.5 is not in"),
        ({"MEAN_MOTION": -15.5}, "mean motion .* is not positive"),
        ({"INCLINATION": 200.0}, "inclination 200"),
    ],
)
def test_omm_elements_sgp4_cannot_fly_are_refused(tmp_path, source, change, message):
    records = _omm_records(source)
    records[3] = {**records[3], **change}
    (tmp_path / "f.json").write_text(json.dumps(records))
    with pytest.raises(ElementsError, match=f"entry 4 .*{message}"):
        read_elements(tmp_path / "f.json")


def test_an_empty_omm_list_is_refused(tmp_path):
    (tmp_path / "none.json").write_text("[]")
    with pytest.raises(ElementsError, match="no element sets"):
        read_elements(tmp_path / "none.json")

"""``twin ephemeris``: the fleet's trajectories as a CCSDS OEM, read back by a parser written
here and checked against skyfield's SGP4 in TEME within a metre and a millimetre a second."""

import re

import numpy as np
from skyfield.api import EarthSatellite, load
from skyfield.sgp4lib import TEME

from twin.app.cli import main
from twin.core.clock import parse_start
from twin.sim.presets import build, load_preset

REQUIRED = ("OBJECT_NAME", "OBJECT_ID", "CENTER_NAME", "REF_FRAME", "TIME_SYSTEM",
            "START_TIME", "STOP_TIME")  # fmt: skip


def _parse(text: str) -> dict[str, tuple[dict, list]]:
    """OEM KVN -> OBJECT_ID: (metadata, [(epoch, x, y, z, vx, vy, vz)])."""
    header, *segments = re.split(r"^META_START$", text, flags=re.M)
    assert re.search(r"^CCSDS_OEM_VERS = 2\.0$", header, re.M)
    assert re.search(r"^CREATION_DATE = \d{4}-\d\d-\d\dT", header, re.M)
    assert re.search(r"^ORIGINATOR = \S", header, re.M)
    parsed = {}
    for segment in segments:
        meta_text, data = segment.split("META_STOP", 1)
        meta = dict(re.findall(r"^(\w+) = (.+)$", meta_text, re.M))
        assert set(REQUIRED) <= set(meta), meta
        states = []
        for line in data.strip().splitlines():
            if line.startswith("COMMENT"):
                continue
            epoch, *numbers = line.split()
            assert len(numbers) == 6, line
            states.append((np.datetime64(epoch), *map(float, numbers)))
        assert str(states[0][0]).startswith(meta["START_TIME"][:19])
        assert str(states[-1][0]).startswith(meta["STOP_TIME"][:19])
        parsed[meta["OBJECT_ID"]] = (meta, states)
    return parsed


def test_ephemeris_matches_skyfield_in_teme(tmp_path):
    out = tmp_path / "fleet.oem"
    start = "2026-03-20T12:00:00Z"
    assert main(["ephemeris", "--preset", "threebody-12", "--start", start,
                 "--duration", "95m", "--step", "5m", "--satellites", "1,7",
                 "--out", str(out)]) == 0  # fmt: skip
    parsed = _parse(out.read_text())
    assert sorted(parsed) == ["1", "7"]
    fleet, _ = build(load_preset("threebody-12"), parse_start(start))
    ts = load.timescale(builtin=True)
    for object_id, (meta, states) in parsed.items():
        assert (meta["REF_FRAME"], meta["CENTER_NAME"], meta["TIME_SYSTEM"]) == (
            "TEME", "EARTH", "UTC")  # fmt: skip
        assert len(states) == 20  # 0 to 95 minutes every 5
        row = int(np.flatnonzero(fleet.sat_id == int(object_id))[0])
        satellite = EarthSatellite.from_satrec(fleet.elements[row], ts)
        epochs = [s[0].astype("datetime64[us]").item() for s in states]
        fields = ("year", "month", "day", "hour", "minute", "second")
        t = ts.utc(*([getattr(e, f) for e in epochs] for f in fields))
        r, v = satellite.at(t).frame_xyz_and_velocity(TEME)
        got = np.array([s[1:] for s in states])
        np.testing.assert_allclose(got[:, :3], r.km.T, atol=1e-3)  # 1 m
        np.testing.assert_allclose(got[:, 3:], v.km_per_s.T, atol=1e-6)  # 1 mm/s


def test_bad_requests_exit_2(tmp_path, capsys):
    base = ["ephemeris", "--preset", "threebody-12", "--out", str(tmp_path / "x.oem")]
    for extra, message in [
        (["--satellites", "1,999"], "names ids not in the fleet"),
        (["--step", "0s"], "--step"),
        (["--duration", "365d", "--step", "1s"], "at most 10,000,000"),
    ]:
        assert main([*base, *extra]) == 2
        assert message in capsys.readouterr().err


def test_czml_positions_match_skyfield_earth_fixed_and_stations_are_placed(tmp_path):
    import json

    from skyfield.framelib import itrs

    from twin.payload.ground import load_stations

    out = tmp_path / "fleet.czml"
    start = "2026-03-20T12:00:00Z"
    assert main(["ephemeris", "--preset", "threebody-12", "--start", start, "--duration", "30m",
                 "--step", "2m", "--format", "czml", "--out", str(out)]) == 0  # fmt: skip
    document = json.loads(out.read_text())
    head, *packets = document
    assert head["id"] == "document" and head["version"] == "1.0"
    assert head["clock"]["interval"] == "2026-03-20T12:00:00Z/2026-03-20T12:30:00Z"
    satellites = [p for p in packets if p["id"].startswith("sat-")]
    stations = [p for p in packets if p["id"].startswith("station-")]
    fleet, _ = build(load_preset("threebody-12"), parse_start(start))
    ground = load_stations()
    assert len(satellites) == fleet.n_sat and len(stations) == len(ground.name)
    ts = load.timescale(builtin=True)
    for packet in satellites:
        position = packet["position"]
        assert (position["referenceFrame"], position["epoch"]) == ("FIXED", start)
        samples = np.array(position["cartesian"]).reshape(-1, 4)
        assert samples.shape == (16, 4) and (np.diff(samples[:, 0]) == 120).all()
        row = int(np.flatnonzero(fleet.sat_id == int(packet["id"][4:]))[0])
        satellite = EarthSatellite.from_satrec(fleet.elements[row], ts)
        t = ts.utc(2026, 3, 20, 12, 0, samples[:, 0])
        expected_m = satellite.at(t).frame_xyz(itrs).m.T
        np.testing.assert_allclose(samples[:, 1:], expected_m, atol=1.0)  # 1 m
    first = stations[0]["position"]["cartographicDegrees"]
    assert first == [ground.lon_deg[0], ground.lat_deg[0], ground.alt_km[0] * 1000.0]


def test_czml_contacts_are_the_visibility_windows_skyfield_finds(tmp_path):
    import json

    from skyfield.api import wgs84

    from twin.core.clock import NS_PER_S
    from twin.payload.ground import load_stations

    out = tmp_path / "fleet.czml"
    start = "2026-03-20T12:00:00Z"
    assert main(["ephemeris", "--preset", "threebody-12", "--start", start, "--duration", "6h",
                 "--step", "1m", "--format", "czml", "--out", str(out)]) == 0  # fmt: skip
    packets = json.loads(out.read_text())[1:]
    drawn = {p["id"]: p for p in packets if p["id"].startswith("contact-")}
    assert drawn, "six hours of twelve satellites over the bundled stations drew no contact"
    t0_ns = parse_start(start)
    fleet, _ = build(load_preset("threebody-12"), t0_ns)
    ground = load_stations()
    ts = load.timescale(builtin=True)
    t = ts.utc(2026, 3, 20, 12, np.arange(361))
    compared = 0
    for row, sat_id in enumerate(fleet.sat_id.tolist()):
        satellite = EarthSatellite.from_satrec(fleet.elements[row], ts)
        for s in range(len(ground.name)):
            shown = np.zeros(361, dtype=bool)
            packet = drawn.get(f"contact-{sat_id}-{s}")
            if packet is not None:
                refs = packet["polyline"]["positions"]["references"]
                assert refs == [f"sat-{sat_id}#position", f"station-{s}#position"]
                for window in packet["availability"]:
                    first, last = ((parse_start(x) - t0_ns) // (60 * NS_PER_S)
                                   for x in window.split("/"))  # fmt: skip
                    assert not shown[first : last + 1].any(), "windows overlap"
                    shown[first : last + 1] = True
            place = wgs84.latlon(ground.lat_deg[s], ground.lon_deg[s], ground.alt_km[s] * 1000.0)
            alt_deg = (satellite - place).at(t).altaz()[0].degrees
            mask_deg = ground.min_elevation_deg[s]
            clear = np.abs(alt_deg - mask_deg) > 0.01  # samples on the mask are moot
            np.testing.assert_array_equal(shown[clear], (alt_deg >= mask_deg)[clear])
            compared += int((shown & clear).sum())
    assert compared > 10  # visible samples actually compared

"""``twin ephemeris --format czml`` loads in CesiumJS (from npm) in headless Chromium: every
entity is there, and each satellite's position as Cesium evaluates it matches skyfield's SGP4
(Earth-fixed) within a metre. A screenshot would prove nothing; the numbers do."""

import html
import json
import os
import re
import shutil
import subprocess
from datetime import datetime

import numpy as np
import pytest
from skyfield.api import EarthSatellite, load
from skyfield.framelib import itrs

from tests.conftest import REQUIRE_ENV
from twin.app.cli import main
from twin.core.clock import parse_start
from twin.payload.ground import load_stations
from twin.sim.presets import build, load_preset

pytestmark = pytest.mark.integration

START = "2026-03-20T12:00:00Z"
AT = ["2026-03-20T12:00:00Z", "2026-03-20T12:10:00Z", "2026-03-20T12:24:00Z"]  # sample epochs


def _needed() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    cesium = os.environ.get("TWIN_CESIUM_JS", "")
    missing = []
    if not chromium:
        missing.append("chromium (apt-get install chromium)")
    if not os.path.isfile(cesium):
        missing.append("CesiumJS ($TWIN_CESIUM_JS: Build/Cesium/Cesium.js of npm cesium; .ci/run)")
    if missing:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but missing: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")
    return chromium, cesium


def test_the_czml_loads_in_cesium_with_every_entity_where_skyfield_puts_it(tmp_path):
    chromium, cesium = _needed()
    out = tmp_path / "fleet.czml"
    assert main(["ephemeris", "--preset", "threebody-12", "--start", START, "--duration", "3h",
                 "--step", "2m", "--format", "czml", "--out", str(out)]) == 0  # fmt: skip
    page = tmp_path / "globe.html"
    page.write_text(f"""<!doctype html><html><head><script src="file://{cesium}"></script>
</head><body><pre id="out">pending</pre><script>
const czml = {out.read_text()};
const at = {json.dumps(AT)};
Cesium.CzmlDataSource.load(czml).then(function (source) {{
  const found = source.entities.values.map(function (e) {{
    if (e.polyline) {{  // a contact: both ends where it first shows
      const when = e.availability.get(0).start;
      const ends = e.polyline.positions.getValue(when);
      return [e.id, [Cesium.JulianDate.toIso8601(when, 0), e.availability.length,
                     ends.map(function (p) {{ return [p.x, p.y, p.z]; }})]];
    }}
    return [e.id, at.map(function (iso) {{
      const p = e.position.getValue(Cesium.JulianDate.fromIso8601(iso), new Cesium.Cartesian3());
      return p ? [p.x, p.y, p.z] : null;
    }})];
  }});
  document.getElementById("out").textContent = JSON.stringify(found);
}}).catch(function (err) {{ document.getElementById("out").textContent = "error: " + err; }});
</script></body></html>""")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    text = html.unescape(re.search(r'<pre id="out">(.*?)</pre>', dom, re.S).group(1))
    assert not text.startswith(("pending", "error")), text
    entities = dict(json.loads(text))
    fleet, _ = build(load_preset("threebody-12"), parse_start(START))
    satellites = {k: v for k, v in entities.items() if k.startswith("sat-")}
    stations = {k: v for k, v in entities.items() if k.startswith("station-")}
    contacts = {k: v for k, v in entities.items() if k.startswith("contact-")}
    assert len(satellites) == fleet.n_sat
    assert len(stations) == len(load_stations().name)
    written = [p for p in json.loads(out.read_text()) if p["id"].startswith("contact-")]
    assert contacts and len(contacts) == len(written) == len(entities) - fleet.n_sat - len(stations)
    for packet in written:  # each line joins its satellite and station where Cesium has them
        when, windows, ends = contacts[packet["id"]]
        assert windows == len(packet["availability"])
        assert when.rstrip("Z") == packet["availability"][0].split("/")[0].rstrip("Z")
        sat_key, station_key = (
            r.split("#")[0] for r in packet["polyline"]["positions"]["references"]
        )
        np.testing.assert_allclose(ends[1], stations[station_key][0], atol=1e-3)
        row = int(np.flatnonzero(fleet.sat_id == int(sat_key[4:]))[0])
        ts_ = load.timescale(builtin=True)
        expected = (
            EarthSatellite.from_satrec(fleet.elements[row], ts_)
            .at(ts_.from_datetime(datetime.fromisoformat(when.replace("Z", "+00:00"))))
            .frame_xyz(itrs)
            .m
        )
        np.testing.assert_allclose(ends[0], expected, atol=1.0, err_msg=packet["id"])
    ts = load.timescale(builtin=True)
    t = ts.utc(2026, 3, 20, 12, [0, 10, 24])
    for entity_id, positions in satellites.items():
        row = int(np.flatnonzero(fleet.sat_id == int(entity_id[4:]))[0])
        expected_m = EarthSatellite.from_satrec(fleet.elements[row], ts).at(t).frame_xyz(itrs).m
        np.testing.assert_allclose(np.array(positions), expected_m.T, atol=1.0, err_msg=entity_id)

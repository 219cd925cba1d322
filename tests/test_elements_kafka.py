"""Element sets of a real fleet through the real broker into the store: ``twin elements
publish`` checks and sends every set of a TLE or OMM file, ``twin ingest`` stores each once
(a repeat is dropped and counted), and foreign bytes on the topic are dead-lettered."""

from __future__ import annotations

import json

import numpy as np
import pytest
from kafka import KafkaProducer
from skyfield.api import EarthSatellite, load

from ingest.store.db import connect
from ingest.store.migrate import migrate
from tests.conftest import KEEP_HISTORY, twin_command
from twin.core.clock import parse_start
from twin.sim.presets import build, load_preset
from twin.stream.contract import ISS_TLE
from twin.wire import elements

pytestmark = pytest.mark.integration


def test_published_element_sets_are_stored_once_and_fly_where_skyfield_puts_them(
    tmp_path, database, kafka_env, kafka_bootstrap, topic_prefix
):
    migrate(database, KEEP_HISTORY, store="postgresql")
    fleet, _ = build(load_preset("threebody-12"), parse_start("2026-03-20T12:00:00Z"))
    omm = [elements.omm_fields(s, f"TB-{s.satnum}") for s in fleet.elements]
    (tmp_path / "fleet.json").write_text(json.dumps(omm))
    (tmp_path / "iss.tle").write_text("ISS (ZARYA)\n" + "\n".join(ISS_TLE) + "\n")
    env = {**kafka_env, "TWIN_DATABASE_URL": database}
    twin_command("topics", "ensure", env=env)
    files = [str(tmp_path / "fleet.json"), str(tmp_path / "iss.tle")]
    out = twin_command("elements", "publish", *files, env=env)
    assert "13 element sets sent" in out
    twin_command("elements", "publish", *files, env=env)  # the same sets again: repeats
    topic = topic_prefix + elements.ELEMENTS_TOPIC
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    broken = ISS_TLE[1][:-1] + str((int(ISS_TLE[1][-1]) + 1) % 10)  # a corrupted checksum
    for value in (b"\xff\x00", elements.encode_tle(ISS_TLE[0], broken, "ISS")):
        producer.send(topic, key=b"25544", value=value)
    producer.flush()
    producer.close()

    out = twin_command("ingest", "--stop-when-caught-up", env=env)
    assert "28 messages" in out and "26 element sets (13 repeated)" in out, out
    assert "2 dead letters" in out, out
    with connect(database) as conn:
        stored = conn.execute(
            "SELECT norad_cat_id, extract(epoch FROM epoch)::float8, object_name, omm, "
            "tle_line1, tle_line2 FROM element_sets ORDER BY norad_cat_id"
        ).fetchall()
        latest = conn.execute(
            "SELECT norad_cat_id, age_days FROM latest_element_sets ORDER BY norad_cat_id"
        ).fetchall()
        reasons = [
            r[0] for r in conn.execute("SELECT reason FROM dead_letters WHERE topic = %s", (topic,))
        ]
    assert [r[0] for r in stored] == [*range(1, 13), 25544]
    assert len(latest) == 13 and all(age > 0 for _, age in latest)
    assert any("checksum" in r for r in reasons) and any("not JSON" in r for r in reasons)
    iss = stored[-1]
    assert (iss[2], iss[4], iss[5]) == ("ISS (ZARYA)", *ISS_TLE)
    assert iss[1] == parse_start("2024-01-01T12:00:00Z") / 1e9
    # Each stored set flies where skyfield flies the original, within a millimetre.
    ts = load.timescale(builtin=True)
    t = ts.utc(2026, 3, 20, 12, np.arange(0, 600, 60))
    originals = {s.satnum: s for s in fleet.elements}
    for norad, _, _, fields, _, _ in stored[:-1]:
        again = elements.satrec_from_omm({**fields})
        got = EarthSatellite.from_satrec(again, ts).at(t).position.km
        expected = EarthSatellite.from_satrec(originals[norad], ts).at(t).position.km
        np.testing.assert_allclose(got, expected, atol=1e-6)

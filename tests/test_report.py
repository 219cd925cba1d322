"""``twin report`` on a store filled by a short scored run, rendered in headless Chromium;
the bundled coastlines; the errors a user can fix (exit code 2)."""

import base64
import io
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from ingest.store.migrate import migrate
from tests.conftest import REQUIRE_ENV, TEST_START, fresh_database, twin_command
from twin.app import report
from twin.app.report_plots import break_track, coastline_polylines, load_coastlines
from twin.core.clock import parse_start
from twin.sim.faults import dump_scenario, generate
from twin.sim.presets import build, load_preset

pytestmark = pytest.mark.integration

PRESET = "threebody-12"
CHROMIUM_TIMEOUT_S = 120


def _chromium() -> str:
    """The Chromium binary; a skip, or a failure under TWIN_REQUIRE_SERVICES=1, without it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    reason = "chromium is not installed (apt-get install chromium)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def scored(postgres_url, kafka_bootstrap, tmp_path_factory):
    """A fresh database filled as tests/test_score.py does: threebody-12, two hours at 5 s
    ticks, one fault of each kind, scored."""
    fleet, _ = build(load_preset(PRESET), parse_start(TEST_START))
    scenario = generate(PRESET, fleet.sat_id, seed=11, duration_s=7200.0, per_kind=1)
    path = tmp_path_factory.mktemp("report") / "scenario.toml"
    path.write_text(dump_scenario(scenario))
    with fresh_database(postgres_url) as url:
        twin_command(
            "score", "--scenario", str(path), "--step", "5s", "--start", TEST_START,
            env={**os.environ, "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap, "TWIN_DATABASE_URL": url},
            timeout_s=900,
        )  # fmt: skip
        yield url


def _twin(*args: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        env={**os.environ, "TWIN_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
    )


class _Figures(HTMLParser):
    """Per ``<figure id>``: the ``src`` of its images and the text of its caption."""

    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, list[str]] = {}
        self.captions: dict[str, str] = {}
        self._figure: str | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self._figure = attrs.get("id")
            self.images[self._figure] = []
            self.captions[self._figure] = ""
        elif tag == "img" and self._figure:
            self.images[self._figure].append(attrs.get("src") or "")
        elif tag == "figcaption":
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        elif tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._in_caption and self._figure:
            self.captions[self._figure] += data


def _figures(html_text: str) -> _Figures:
    parser = _Figures()
    parser.feed(html_text)
    return parser


def _png(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    return Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :]))).convert("RGB")


def _ink(image: Image.Image) -> tuple[float, int]:
    """Share of pixels that are not near-white, and distinct colours (8 levels a channel)."""
    rgb = np.asarray(image)
    share = float((rgb < 235).any(axis=2).mean())
    colours = len(np.unique((rgb // 32).reshape(-1, 3), axis=0))
    return share, colours


def test_report_of_a_scored_run_renders_in_chromium(scored, tmp_path):
    chromium = _chromium()
    out = tmp_path / "report.html"
    stdout = twin_command(
        "report", "--out", str(out), env={**os.environ, "TWIN_DATABASE_URL": scored}
    )
    assert str(out) in stdout and "5 figures" in stdout, stdout
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://", page, re.IGNORECASE), "the report references a URL"
    assert not re.search(r"<script|<link|@import|url\(", page, re.IGNORECASE)
    assert "12</b> of 12 registered satellites" in page

    browse = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
              f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,5000"]  # fmt: skip
    dom = subprocess.run(
        [*browse, "--dump-dom", out.as_uri()],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_S,
        check=True,
    ).stdout
    found = _figures(dom)
    assert set(found.images) == set(report.FIGURES), found.images.keys()
    for figure_id in report.FIGURES:
        assert len(found.images[figure_id]) == 1, figure_id
        image = _png(found.images[figure_id][0])
        share, colours = _ink(image)
        assert image.width >= 800 and image.height >= 300, (figure_id, image.size)
        assert share > 0.03 and colours >= 8, (figure_id, share, colours)
        assert "No data" not in found.captions[figure_id], found.captions[figure_id]
    assert "8 faults injected by scored run" in found.captions["anomalies"]
    assert "lowest minimum state of charge: sat" in found.captions["worst-satellites"]

    shot = tmp_path / "report.png"
    subprocess.run(
        [*browse, f"--screenshot={shot}", out.as_uri()],
        capture_output=True,
        timeout=CHROMIUM_TIMEOUT_S,
        check=True,
    )
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 5000)
    share, colours = _ink(image)
    assert share > 0.05 and colours >= 24, (share, colours)


def test_sampled_path_agrees_with_the_rollups(scored, monkeypatch):
    """A large plain-PostgreSQL store from before schema version 6 (its rollups views over raw
    rows) is read one tick per bucket: on this store, the sampled figures agree with the
    rollups' (12 ticks a minute, one sampled)."""
    exact = report.gather(scored)
    facts = report._store_facts

    def before_version_6(conn):
        timescaledb, _, _, window = facts(conn)
        return timescaledb, False, report.ROLLUP_BYTES_AT_MOST + 1, window

    monkeypatch.setattr(report, "_store_facts", before_version_6)
    sampled = report.gather(scored)
    assert exact.exact and not sampled.exact
    assert sampled.reporting == exact.reporting == 12
    assert abs(sampled.samples - exact.samples) <= 0.02 * exact.samples
    assert len(sampled.fleet_times) == len(exact.fleet_times) == 120
    assert abs(np.nanmean(sampled.fleet_tops) / np.nanmean(exact.fleet_tops) - 1) < 0.1
    assert np.nanmax(np.abs(sampled.fleet_sunlit - exact.fleet_sunlit)) <= 0.1
    lowest = min(w.soc_min for w in exact.worst)
    assert abs(min(w.soc_min for w in sampled.worst) - lowest) < 0.02
    assert exact.contacts == sampled.contacts and exact.anomalies == sampled.anomalies


def test_report_of_part_of_the_span(scored, tmp_path):
    out = tmp_path / "part.html"
    env = {**os.environ, "TWIN_DATABASE_URL": scored}
    twin_command(
        "report", "--out", str(out), "--since", "2026-03-20T12:30:00Z",
        "--until", "2026-03-20T13:00:00Z", env=env,
    )  # fmt: skip
    page = out.read_text(encoding="utf-8")
    assert "2026-03-20 12:30:00 UTC to 2026-03-20 13:00:00 UTC (0.50 h)" in page
    assert all(f"id='{figure_id}'" in page for figure_id in report.FIGURES)
    bad = _twin("report", "--out", str(out), "--since", "yesterday", url=scored)
    assert bad.returncode == 2 and "--since: 'yesterday'" in bad.stderr, bad.stderr
    backwards = _twin(
        "report", "--out", str(out), "--since", "2026-03-20T13:00:00Z",
        "--until", "2026-03-20T12:00:00Z", url=scored,
    )  # fmt: skip
    assert backwards.returncode == 2 and "--since / --until" in backwards.stderr


def test_database_without_the_schema_or_unwritable_out_exits_2(postgres_url, tmp_path):
    with fresh_database(postgres_url) as url:
        done = _twin("report", "--out", str(tmp_path / "r.html"), url=url)
        assert done.returncode == 2, done.stderr
        assert "no twin schema" in done.stderr and "twin db migrate" in done.stderr
        assert not (tmp_path / "r.html").exists()
        unwritable = _twin("report", "--out", str(tmp_path / "missing" / "r.html"), url=url)
        assert unwritable.returncode == 2 and "--out:" in unwritable.stderr, unwritable.stderr


def test_empty_store_still_shows_every_figure_with_a_note(postgres_url, tmp_path):
    with fresh_database(postgres_url) as url:
        migrate(url, store="postgresql")
        out = tmp_path / "empty.html"
        twin_command("report", "--out", str(out), env={**os.environ, "TWIN_DATABASE_URL": url})
        found = _figures(out.read_text(encoding="utf-8"))
    assert set(found.images) == set(report.FIGURES)
    for figure_id in report.FIGURES:
        assert _png(found.images[figure_id][0]).width >= 800
    assert "No contact" in found.captions["contacts"]
    assert "No anomaly" in found.captions["anomalies"]


def test_the_newest_what_ifs_are_listed_with_their_verdicts(postgres_url, tmp_path):
    change = tmp_path / "late.toml"
    change.write_text('[[jobs]]\njob_id = "late"\nkind = "inference"\nsat_id = 3\n'
                      'deadline_s = 1\n')  # fmt: skip
    with fresh_database(postgres_url) as url:
        migrate(url, store="postgresql")
        env = {**os.environ, "TWIN_DATABASE_URL": url}
        for whatif_id, extra in (("calm", ()), ("late-job", ("--change", str(change)))):
            done = subprocess.run(
                [sys.executable, "-m", "twin", "whatif", "--preset", PRESET, "--start",
                 TEST_START, "--from", "start", "--step", "30s", "--horizon", "1h",
                 "--whatif-id", whatif_id, *extra],
                env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == (3 if extra else 0), done.stderr
        out = tmp_path / "whatifs.html"
        twin_command("report", "--out", str(out), env=env)
        page = out.read_text(encoding="utf-8")
    table = page[page.index("<table id='whatifs'>") :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td class='text'>([^<]+)</td>.*?</tr>", table)
    assert sorted(rows) == ["calm", "late-job"]
    late = table[table.index("late-job") :]
    assert "breaks a constraint</td><td>1</td>" in late
    calm = table[table.index("calm") :]
    assert "keeps all</td><td>0</td><td>+0.00</td>" in calm


def test_coastlines_are_natural_earth_land():
    lonlat, starts = load_coastlines()
    lines = coastline_polylines()
    assert lonlat.shape[1] == 2 and lonlat.shape[0] > 4000 and len(lines) > 100
    assert starts[0] == 0 and np.all(np.diff(starts) >= 2)
    assert np.all(np.abs(lonlat[:, 0]) <= 180) and np.all(np.abs(lonlat[:, 1]) <= 90)
    assert all(np.all(np.abs(np.diff(line[:, 0])) < 180) for line in lines)  # no wrap-around
    for name, lat, lon in (("Gibraltar", 36.0, -5.6), ("Cape of Good Hope", -34.4, 18.5)):
        distance = np.hypot(lonlat[:, 0] - lon, lonlat[:, 1] - lat).min()
        assert distance < 1.0, (name, distance)
    assert (lonlat[:, 1] < -60).any() and (lonlat[:, 1] > 80).any()  # Antarctica, Greenland


def test_ground_track_breaks_at_the_antimeridian_and_at_gaps():
    minute = 1 / 1440
    t = np.array([0, 1, 2, 10]) * minute  # a gap before the last sample
    lon, lat = break_track(t, np.array([0.0, 10.0, 20.0, 30.0]), np.array([170, 178, -176, -170.0]))
    assert np.isnan(lon).sum() == 2 and np.nanmax(np.abs(np.diff(lon))) < 180
    cross = np.flatnonzero(np.isnan(lon))[0]
    assert lon[cross - 1] == 180.0 and lon[cross + 1] == -180.0
    assert lat[cross - 1] == lat[cross + 1] == pytest.approx(10 + 10 * 2 / 6)


@pytest.mark.parametrize("path", ["postgresql", "timescaledb"])
def test_a_run_starting_mid_minute_has_every_sample_counted(path, request):
    """Ten minutes from 12:00:30: the first, partial minute's rollup counts too."""
    from ingest.store.dimensions import register_fleet
    from tests.conftest import KEEP_HISTORY, store_frames
    from twin.core.clock import NS_PER_S
    from twin.sim.engine import FramesTo, RunPlan, run

    url = request.getfixturevalue("database" if path == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=path)
    start = parse_start("2026-03-20T12:00:30Z")
    fleet, hw = build(load_preset(PRESET), start)
    register_fleet(url, fleet, hw, PRESET, ["batch-1"], 1.0)
    frames = []
    run(fleet, hw, RunPlan(start, NS_PER_S, 600), FramesTo(frames.append))
    assert store_frames(url, frames).rows_inserted == 7200
    d = report.gather(url)
    assert d.exact and d.samples == 7200 and d.reporting == 12

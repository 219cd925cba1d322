"""Grafana: the committed files are current, Grafana's own models accept every field, and
every panel, variable, annotation and alert query runs on both databases with the columns
its panel reads."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.alerting import RuleGroup
from grafana_foundation_sdk.models.dashboard import Dashboard

from ingest.store.db import connect
from ingest.store.dimensions import register_stations
from ingest.store.forecasts import write_forecast, write_states
from ingest.store.migrate import migrate
from ingest.store.roles import READER_ROLE, allow_login
from ingest.store.whatif import write_whatif
from tests.conftest import KEEP_HISTORY
from tests.ingest.test_roles_and_audit import T0, _load_two_hours
from twin.core.clock import NS_PER_S
from twin.forecast.states import forecast_states
from twin.forecast.windows import windows
from twin.grafana import alerts
from twin.grafana.board import board_json
from twin.grafana.dashboards import BOARDS
from twin.grafana.files import rendered
from twin.grafana.publish import load_bundle
from twin.grafana.sql import interpolate
from twin.payload.ground import load_stations
from twin.sim.presets import build, load_preset
from twin.stream.forks import Setup, fly_request, fork_of
from twin.stream.runner import RunConfig
from twin.wire.telemetry import CHANNELS
from twin.wire.whatif import Request

GRAFANA = Path(__file__).resolve().parent.parent / "grafana"
register_default_plugins()


def test_committed_files_are_what_the_code_generates():
    for relative, text in rendered().items():
        assert (GRAFANA / relative).read_text() == text, f"{relative}: run python -m twin.grafana"


def _dropped(ours, theirs, path="") -> list[str]:
    """Paths of keys in ``ours`` that Grafana's model lost, or whose value it changed."""
    if isinstance(ours, dict):
        lost = [f"{path}/{k}" for k in ours if k not in theirs]
        return lost + [
            p for k in ours if k in theirs for p in _dropped(ours[k], theirs[k], f"{path}/{k}")
        ]
    if isinstance(ours, list):
        if len(ours) != len(theirs):
            return [path]
        return [p for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
                for p in _dropped(a, b, f"{path}[{i}]")]  # fmt: skip
    return [] if ours == theirs else [f"{path}: {ours!r} became {theirs!r}"]


def _through(model, body: dict) -> dict:
    return json.loads(json.dumps(model.from_json(body), cls=JSONEncoder))


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.uid)
def test_grafanas_dashboard_model_keeps_every_field(board):
    body = board_json(board)

    def lost(ours):
        # Grafana's schema types an annotation's target as the built-in datasource's (limit,
        # tags, type); a SQL datasource's annotation carries its query there instead.
        return [
            p
            for p in _dropped(ours, _through(Dashboard, ours))
            if not p.startswith("/annotations/list[0]/target/")
        ]

    assert lost(body) == []
    # A field Grafana does not know is lost, so this check can fail:
    assert lost({**body, "colour": "red"}) == ["/colour"]


def test_grafanas_alerting_model_keeps_every_field_of_the_published_rules(monkeypatch):
    env = {"TWIN_GRAFANA_DB_HOST": "db:5432", "TWIN_GRAFANA_DB_USER": "twin_reader",
           "TWIN_GRAFANA_DB_PASSWORD": "x", "TWIN_GRAFANA_DB_SSLMODE": "disable"}  # fmt: skip
    (group,) = load_bundle(GRAFANA, env).rule_groups
    assert [r["uid"] for r in group["rules"]] == [r.uid for r in alerts.RULES]
    assert _dropped(group, _through(RuleGroup, group)) == []


def _run(conn, sql: str):
    cur = conn.execute(sql)
    return [c.name for c in cur.description], cur.fetchall()


def _variables(conn, timescale: bool, board=BOARDS[0]) -> dict[str, list[str] | str]:
    """Every variable of ``board`` at "All", in order; the satellite is 3, the one with an
    anomaly, and the what-if the one stored (single-value variables: strings, as Grafana
    hands them to its datasource)."""
    picked: dict[str, list[str] | str] = {}
    start, end = _range()
    for variable in board.variables:
        if variable.name == "whatif":
            _, rows = _run(conn, variable.sql)
            assert [r[0] for r in rows] == ["w-test"]
            picked[variable.name] = "w-test"
            continue
        sql = interpolate(variable.sql, picked, start, end, "1m", timescale)
        _, rows = _run(conn, sql)
        assert rows, f"variable {variable.name}: no values"
        values = [str(r[0]) for r in rows]
        if not variable.multi:
            assert "3" in values
            picked[variable.name] = "3"
            continue
        picked[variable.name] = values
    return picked


def _range() -> tuple[datetime, datetime]:
    start = datetime.fromtimestamp(T0 / 1e9, UTC)
    return start, start + timedelta(hours=2)


def _store_a_forecast(url: str, stations) -> None:
    """The windows of the two hours, as ``twin forecast make`` stores them."""
    fleet, _ = build(load_preset("threebody-12"), T0)
    span = (T0, T0 + 2 * 3600 * NS_PER_S)
    found = windows(fleet, stations, T0, span[1] - T0, 20 * NS_PER_S)
    with connect(url) as conn:
        write_forecast(conn, "f-test", fleet.sat_id, stations.station_id, found, span,
                       20 * NS_PER_S, 0, None)  # fmt: skip


def _store_a_whatif(url: str) -> None:
    """A what-if whose added job misses its deadline, as ``twin whatif`` keeps it, and a
    state forecast stored after the windows' forecast (each panel must find its own)."""
    fleet, hw = build(load_preset("threebody-12"), T0)
    setup = Setup(RunConfig("", {}, "threebody-12", T0, 30 * NS_PER_S, 1, None), fleet, hw,
                  ["batch-1"], "threebody-12")  # fmt: skip
    change = '[[jobs]]\njob_id = "late"\nkind = "inference"\nsat_id = 3\ndeadline_s = 1\n'
    request = Request("w-test", "start", None, 3600.0, None, change)
    result, _ = fly_request(setup, request)
    assert result.violates
    with connect(url) as conn:
        write_whatif(conn, "w-test", result, change, None)
    # A state forecast of the same two hours, from the same fork.
    fleet, ctx, fork, _ = fork_of(setup, "start", None, None, 2 * 3600 * NS_PER_S)
    found = forecast_states(fleet, ctx, fork, 2 * 3600 * NS_PER_S)
    with connect(url) as conn:
        write_states(conn, "s-test", found, (T0, T0 + 2 * 3600 * NS_PER_S), 30 * NS_PER_S)


@pytest.fixture(params=["postgresql", "timescaledb"], scope="module")
def store(request):
    """Two simulated hours of threebody-12 with events, jobs, stations, an anomaly and a
    dead letter, on one database path."""
    fixture = "_module_database" if request.param == "postgresql" else "_module_timescale"
    url = request.getfixturevalue(fixture)
    migrate(url, KEEP_HISTORY, store=request.param)
    _load_two_hours(url)
    stations = load_stations()
    register_stations(url, stations)
    _store_a_forecast(url, stations)
    _store_a_whatif(url)
    with connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dead_letters (topic, partition, kafka_offset, reason, samples, payload) "
            "VALUES ('twin.telemetry', 0, 99, 'not JSON: test', 0, '\\x00')"
        )
        conn.execute(
            "INSERT INTO anomalies (time, anomaly_id, sat_id, rule, severity, state, value, "
            "message) VALUES (%s, 'a-2', 5, 'temp_high', 'critical', 'open', 81.0, 'hot')",
            (_range()[0] + timedelta(minutes=30),),
        )
        if request.param == "timescaledb":  # now, not at the policies' next run
            for view in ("telemetry_1m", "fleet_1m", "fleet_1h"):
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
    # Grafana's datasource logs in as the read-only role: the proofs do too.
    allow_login(url, READER_ROLE, "test-only")
    parts = urlsplit(url)
    reader = parts._replace(netloc=f"{READER_ROLE}:test-only@{parts.hostname}:{parts.port}")
    return urlunsplit(reader), request.param == "timescaledb"


@pytest.fixture(scope="module")
def _module_database(postgres_url):
    from tests.conftest import fresh_database

    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="module")
def _module_timescale(timescale_url):
    from tests.conftest import fresh_database

    with fresh_database(timescale_url) as url:
        yield url


def test_every_panel_query_returns_the_columns_its_panel_reads(store):
    url, timescale = store
    start, end = _range()
    with connect(url) as conn:
        for board in BOARDS:
            picked = _variables(conn, timescale, board)
            for panel in board.panels:
                sql = interpolate(panel.sql, picked, start, end, "1m", timescale)
                columns, rows = _run(conn, sql)
                where = f"{board.uid} / {panel.title}"
                assert rows, f"{where}: no rows"
                assert set(panel.columns) <= set(columns), f"{where}: {columns}"
                if not panel.table:
                    assert columns[0] == "time", where
            for annotation in board.annotations:
                sql = interpolate(annotation["target"]["rawSql"], picked, start, end, "1m",
                                  timescale)  # fmt: skip
                columns, rows = _run(conn, sql)
                assert rows and {"time", "timeend", "text"} <= set(columns)


def test_every_alert_query_gives_one_number_and_the_rules_judge_the_data_right(store):
    url, timescale = store
    start, end = _range()
    values = {}
    with connect(url) as conn:
        for rule in alerts.RULES:
            _, rows = _run(conn, interpolate(rule.sql, {}, start, end, "1m", timescale))
            assert len(rows) == 1 and len(rows[0]) == 1 and rows[0][0] is not None, rule.uid
            values[rule.uid] = float(rows[0][0])
    assert values["twin-throughput-below-plan"] > 0.8  # a healthy fleet: not firing
    assert values["twin-safe-mode-share"] == 0
    # The store's open critical anomaly (a-2) fires the critical rule, not the warning one.
    assert (values["twin-critical-anomalies"], values["twin-warning-anomalies"]) == (1, 0)
    assert values["twin-completeness"] >= 0.99
    assert values["twin-dead-letters"] == 1  # the dead letter stored just now: firing
    assert values["twin-ingest-lag"] >= 0


CRAFTED = ("3 OR true", "3; DROP TABLE satellites", "3' OR 'x'='x", "3) OR (1=1", "\\'; --")


def test_the_expander_puts_single_values_in_unquoted_as_grafana_does():
    # Grafana doubles the quotes of a single-value variable and puts it in as it is: a bare
    # $satellite would run a crafted value as SQL. The expander must be as unsafe, or tests
    # could not see that; ${satellite:sqlstring} quotes it.
    start, end = _range()
    bare = interpolate("sat_id = $satellite", {"satellite": "3 OR true"}, start, end, "1m", False)
    assert bare == "sat_id = 3 OR true"
    quoted = interpolate("x = ${v:sqlstring}", {"v": "a'b"}, start, end, "1m", False)
    assert quoted == "x = 'a''b'"
    assert interpolate("x IN ($v)", {"v": ["a", "b'c"]}, start, end, "1m", False) == (
        "x IN ('a','b''c')"
    )


def test_no_dashboard_query_puts_a_single_value_variable_in_unquoted():
    single = {v.name for board in BOARDS for v in board.variables if not v.multi}
    assert single == {"satellite", "whatif"}
    for board in BOARDS:
        for sql in [p.sql for p in board.panels] + [
            a["target"]["rawSql"] for a in board.annotations
        ]:
            for name in single:
                assert f"${name}" not in sql.replace(f"${{{name}:sqlstring}}", ""), (
                    f"{board.uid}: ${name} unquoted in {sql}"
                )


def test_a_crafted_satellite_value_stays_data_in_every_panel(store):
    url, timescale = store
    start, end = _range()
    with connect(url, autocommit=True) as conn:
        for crafted in CRAFTED:
            for board in BOARDS:
                picked = _variables(conn, timescale, board)
                single = [v.name for v in board.variables if not v.multi]
                for panel, name in itertools.product(board.panels, single):
                    if f"${{{name}:sqlstring}}" not in panel.sql:
                        continue
                    sql = interpolate(
                        panel.sql, {**picked, name: crafted}, start, end, "1m", timescale
                    )
                    try:
                        rows = conn.execute(sql).fetchall()
                    except psycopg.errors.InvalidTextRepresentation:
                        continue  # '3 OR true' is no integer: refused as data
                    assert rows == [], f"{board.uid} / {panel.title}: {crafted!r} matched rows"
        assert conn.execute("SELECT count(*) FROM satellites").fetchone()[0] == 12
        assert conn.execute("SELECT count(*) FROM whatif_runs").fetchone()[0] == 1


def _panels():
    """(board uid, panel definition, its rendered JSON) of every dashboard panel."""
    for board in BOARDS:
        rendered = board_json(board)["panels"]
        yield from ((board.uid, p, j) for p, j in zip(board.panels, rendered, strict=True))


def _override(panel_json: dict, field: str, key: str):
    for override in panel_json["fieldConfig"]["overrides"]:
        if override["matcher"] == {"id": "byName", "options": field}:
            for prop in override["properties"]:
                if prop["id"] == key:
                    return prop["value"]
    return None


def test_every_panel_has_a_unit_and_one_unit_per_axis():
    for uid, panel, body in _panels():
        default = body["fieldConfig"]["defaults"].get("unit")
        assert default, (uid, panel.title)
        axes: dict[str, set[str]] = {}
        for column in panel.columns:
            if column in ("time", "metric"):
                continue
            unit = _override(body, column, "unit") or default
            axis = _override(body, column, "custom.axisPlacement") or "left"
            axes.setdefault(axis, set()).add(unit)
        if panel.kind == "timeseries":
            assert all(len(units) == 1 for units in axes.values()), (uid, panel.title, axes)


def test_panels_of_a_channel_with_limits_draw_them_in_their_colours():
    drawn = set()
    for uid, panel, body in _panels():
        if not panel.channel:
            continue
        limits = CHANNELS[panel.channel].limits
        assert any(limit is not None for _, limit in limits.items())
        lines = {c: _override(body, c, "color") for c in panel.columns}
        lines = {c: v["fixedColor"] for c, v in lines.items() if v is not None}
        assert set(lines.values()) == {"red", "yellow"}, (uid, panel.title, lines)
        for column in lines:
            assert _override(body, column, "custom.lineStyle")["fill"] == "dash"
            assert "channel_limits" in panel.sql and f"'{panel.channel}'" in panel.sql
        drawn.add((uid, panel.channel))
    assert {c for _, c in drawn} == {"soc", "temp_payload_c"}
    assert {u for u, _ in drawn} == {"twin-satellite", "twin-power-thermal"}


def test_every_row_or_point_about_a_satellite_links_to_its_dashboard():
    linked = 0
    for uid, panel, body in _panels():
        if "sat_id" not in panel.columns:
            continue
        links = body["fieldConfig"]["defaults"].get("links", [])
        assert links, (uid, panel.title)
        url = links[0]["url"]
        assert (
            url.startswith("/d/twin-satellite?") and "var-satellite=${__data.fields.sat_id}" in url
        )
        linked += 1
    assert linked >= 4
    assert "twin-satellite" in {b.uid for b in BOARDS}


def test_no_map_joins_samples_with_lines_across_the_antimeridian():
    for uid, panel, body in _panels():
        if panel.kind == "geomap":
            layers = [layer["type"] for layer in body["options"]["layers"]]
            assert "route" not in layers, (uid, panel.title)  # lines would cross the map


def test_every_alert_rule_points_at_its_runbook_section_and_a_route_takes_its_severity():
    import re

    import yaml

    runbook = (Path(__file__).resolve().parent.parent / "docs" / "runbook.md").read_text()
    headings = set(re.findall(r"^### (\S+)$", runbook, re.M))
    (group,) = alerts.provisioning()["groups"]
    for rule in group["rules"]:
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/runbook.md#{rule['uid']}" and rule["uid"] in headings, url
    template = yaml.safe_load((GRAFANA / "templates" / "notifications.yaml").read_text())
    (contact,) = template["contactPoints"]
    assert contact["receivers"][0]["settings"]["url"] == "$TWIN_ALERT_WEBHOOK_URL"
    routed = {m[2] for route in template["policies"][0]["routes"] for m in route["object_matchers"]}
    assert {rule["labels"]["severity"] for rule in group["rules"]} <= routed

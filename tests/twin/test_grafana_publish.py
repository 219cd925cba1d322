"""``twin grafana publish`` against a stand-in for Grafana's HTTP API.

Why a stand-in: Grafana's server cannot run on this machine. No package registry here ships
it (the Go module is AGPL and marked not to use; there is no npm, PyPI or Debian package of
the server), and there is no Docker engine. So the tests start a small HTTP server in a
thread on 127.0.0.1 that implements only the endpoints publish uses, with the request and
response shapes of Grafana's HTTP API documentation (folders, data sources, dashboards,
alerting provisioning), keeps their state in memory and records every request. It is
stricter than Grafana where Grafana silently ignores what it does not know: an unknown key in
a datasource or alert rule body is a 400 here, so a file-format key that was not converted to
the API format fails a test instead of being dropped.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from twin.core.settings import InputError
from twin.grafana.publish import (
    FOLDER_TITLE,
    FOLDER_UID,
    grafana_auth,
    load_bundle,
    publish,
)

TOKEN = "glsa_test_token_0123456789"
DB_PASSWORD = "s3cret-db-password"
ENV = {
    "TWIN_GRAFANA_DB_HOST": "db.example:5432",
    "TWIN_GRAFANA_DB_USER": "twin_reader",
    "TWIN_GRAFANA_DB_PASSWORD": DB_PASSWORD,
    "TWIN_GRAFANA_DB_SSLMODE": "verify-full",
}

# Body keys Grafana's API reads (AddDataSourceCommand / UpdateDataSourceCommand,
# ProvisionedAlertRule, AlertQuery, SaveDashboardCommand).
DATASOURCE_KEYS = {
    "name", "type", "uid", "access", "url", "user", "database", "basicAuth", "basicAuthUser",
    "withCredentials", "isDefault", "jsonData", "secureJsonData", "version",
}  # fmt: skip
RULE_KEYS = {
    "id", "uid", "orgID", "folderUID", "ruleGroup", "title", "condition", "data", "updated",
    "noDataState", "execErrState", "for", "annotations", "labels", "provenance", "isPaused",
    "notification_settings", "record", "keep_firing_for", "missing_series_evals_to_resolve",
}  # fmt: skip
RULE_REQUIRED = {"orgID", "folderUID", "ruleGroup", "title", "condition", "data", "for",
                 "noDataState", "execErrState"}  # fmt: skip
QUERY_KEYS = {"refId", "queryType", "relativeTimeRange", "datasourceUid", "model"}
DASHBOARD_SAVE_KEYS = {"dashboard", "folderUid", "folderId", "overwrite", "message"}


class FakeGrafana:
    """In-memory state of the resources publish touches, served over HTTP."""

    def __init__(self, token: str | None = TOKEN, basic: tuple[str, str] | None = None) -> None:
        self.token = token
        self.basic = basic
        self.requests: list[dict] = []
        self.folders: dict[str, dict] = {}
        self.datasources: dict[str, dict] = {}
        self.secure: dict[str, dict] = {}  # datasource uid -> secureJsonData (never returned)
        self.dashboards: dict[str, dict] = {}  # uid -> {"dashboard", "folderUid"}
        self.rule_groups: dict[tuple[str, str], dict] = {}
        self.next_id = 1
        self.lock = threading.Lock()

    def state(self) -> dict:
        return copy.deepcopy(
            {
                "folders": self.folders,
                "datasources": self.datasources,
                "secure": self.secure,
                "dashboards": self.dashboards,
                "rule_groups": {"/".join(k): v for k, v in self.rule_groups.items()},
            }
        )

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def authorized(self, header: str | None) -> tuple[bool, str]:
        if header and self.token and header == f"Bearer {self.token}":
            return True, ""
        if header and self.basic and header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if (user, password) == self.basic:
                return True, ""
            return False, "Invalid username or password"
        return False, "invalid API key"

    # Each handler returns (status, JSON body); paths are below /api.
    def handle(self, method: str, parts: list[str], body, headers) -> tuple[int, object]:
        match method, parts:
            case "GET", ["folders", uid]:
                folder = self.folders.get(uid)
                return (200, folder) if folder else (404, {"message": "folder not found"})
            case "POST", ["folders"]:
                uid = body.get("uid")
                if uid in self.folders:
                    return 409, {"message": "a folder with the same uid already exists"}
                if any(f["title"] == body["title"] for f in self.folders.values()):
                    return 409, {"message": "a folder with the same name already exists"}
                self.folders[uid] = {
                    "id": self._id(), "uid": uid, "title": body["title"],
                    "url": f"/dashboards/f/{uid}/", "version": 1,
                }  # fmt: skip
                return 200, self.folders[uid]
            case "PUT", ["folders", uid]:
                folder = self.folders.get(uid)
                if folder is None:
                    return 404, {"message": "folder not found"}
                if not body.get("overwrite") and body.get("version") != folder["version"]:
                    return 412, {"message": "the folder has been changed by someone else"}
                folder.update(title=body.get("title", folder["title"]))
                folder["version"] += 1
                return 200, folder
            case "GET", ["datasources", "uid", uid]:
                ds = self.datasources.get(uid)
                return (200, ds) if ds else (404, {"message": "Data source not found"})
            case ("POST", ["datasources"]) | ("PUT", ["datasources", "uid", _]):
                unknown = set(body) - DATASOURCE_KEYS
                if unknown:
                    return 400, {"message": f"unknown fields {sorted(unknown)}"}
                uid = body["uid"] if method == "POST" else parts[2]
                if method == "POST" and uid in self.datasources:
                    return 409, {"message": "data source with the same uid already exists"}
                if method == "PUT" and uid not in self.datasources:
                    return 404, {"message": "Data source not found"}
                if any(d["name"] == body["name"] and u != uid for u, d in self.datasources.items()):
                    return 409, {"message": "data source with the same name already exists"}
                old = self.datasources.get(uid, {})
                secure = body.get("secureJsonData") or {}
                if secure or uid not in self.secure:
                    self.secure[uid] = dict(secure)
                ds = {
                    "id": old.get("id") or self._id(), "orgId": 1, "uid": uid,
                    "name": body["name"], "type": body["type"],
                    "access": body.get("access", "proxy"), "url": body.get("url", ""),
                    "user": body.get("user", ""), "database": body.get("database", ""),
                    "basicAuth": body.get("basicAuth", False),
                    "isDefault": body.get("isDefault", False),
                    "jsonData": body.get("jsonData", {}),
                    "secureJsonFields": dict.fromkeys(self.secure[uid], True),
                    # Grafana sets version to the command's version + 1 (0 when left out).
                    "version": body.get("version", 0) + 1, "readOnly": False,
                }  # fmt: skip
                self.datasources[uid] = ds
                verb = "added" if method == "POST" else "updated"
                return 200, {"datasource": ds, "id": ds["id"], "message": f"Datasource {verb}",
                             "name": ds["name"]}  # fmt: skip
            case "GET", ["dashboards", "uid", uid]:
                stored = self.dashboards.get(uid)
                if stored is None:
                    return 404, {"message": "Dashboard not found"}
                return 200, {
                    "dashboard": stored["dashboard"],
                    "meta": {"folderUid": stored["folderUid"], "slug": uid, "canSave": True},
                }
            case "POST", ["dashboards", "db"]:
                unknown = set(body) - DASHBOARD_SAVE_KEYS
                if unknown:
                    return 400, {"message": f"unknown fields {sorted(unknown)}"}
                model, uid = dict(body["dashboard"]), body["dashboard"].get("uid")
                folder_uid = body.get("folderUid", "")
                if folder_uid and folder_uid not in self.folders:
                    return 400, {"message": "folder not found"}
                old = self.dashboards.get(uid)
                if model.get("id") is not None and (old is None or old["id"] != model["id"]):
                    return 404, {"message": "Dashboard not found"}
                if old is not None and not body.get("overwrite"):
                    return 412, {"message": "A dashboard with the same uid already exists",
                                 "status": "name-exists"}  # fmt: skip
                version = old["dashboard"]["version"] + 1 if old else 1
                model.update(id=old["id"] if old else self._id(), version=version)
                self.dashboards[uid] = {"id": model["id"], "dashboard": model,
                                        "folderUid": folder_uid}  # fmt: skip
                return 200, {"id": model["id"], "uid": uid, "url": f"/d/{uid}/x",
                             "status": "success", "version": version, "slug": uid,
                             "folderUid": folder_uid}  # fmt: skip
            case "GET", ["v1", "provisioning", "folder", folder_uid, "rule-groups", group]:
                stored = self.rule_groups.get((folder_uid, group))
                return (200, stored) if stored else (404, {"message": "rule group not found"})
            case "PUT", ["v1", "provisioning", "folder", folder_uid, "rule-groups", group]:
                return self._put_rule_group(folder_uid, group, body, headers)
        return 404, {"message": "Not found"}

    def _put_rule_group(self, folder_uid, group, body, headers) -> tuple[int, object]:
        if folder_uid not in self.folders:
            return 404, {"message": "folder does not exist"}
        if not isinstance(body.get("interval"), int) or body["interval"] <= 0:
            return 400, {"message": "interval must be a positive number of seconds"}
        provenance = "" if headers.get("X-Disable-Provenance") else "api"
        rules = []
        for rule in body.get("rules", []):
            unknown, missing = set(rule) - RULE_KEYS, RULE_REQUIRED - set(rule)
            if unknown or missing:
                return 400, {"message": f"rule: unknown {sorted(unknown)} missing {missing}"}
            if (rule["folderUID"], rule["ruleGroup"]) != (folder_uid, group):
                return 400, {"message": "rule folderUID/ruleGroup differ from the path"}
            if not isinstance(rule["for"], str):
                return 400, {"message": "for: expected a duration string"}
            for query in rule["data"]:
                if set(query) - QUERY_KEYS:
                    return 400, {"message": f"query: unknown {sorted(set(query) - QUERY_KEYS)}"}
            rules.append({**rule, "provenance": provenance})
        self.rule_groups[(folder_uid, group)] = {
            "title": group, "folderUid": folder_uid, "interval": body["interval"],
            "rules": rules,
        }  # fmt: skip
        return 200, self.rule_groups[(folder_uid, group)]


@pytest.fixture
def grafana():
    """A FakeGrafana served on 127.0.0.1 (random port); yields (fake, url)."""
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart

        def log_message(self, *args):  # keep test output clean
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = urlsplit(self.path).path
            fake.requests.append(
                {
                    "method": self.command,
                    "path": path,
                    "body": body,
                    "provenance_header": self.headers.get("X-Disable-Provenance"),
                    "authorization": self.headers.get("Authorization"),
                }
            )
            ok, message = fake.authorized(self.headers.get("Authorization"))
            if path == "/api/health":  # the one endpoint Grafana answers without credentials
                status, answer = 200, {"database": "ok", "version": "12.2.0", "commit": "x"}
            elif not ok:
                status, answer = 401, {"message": message}
            elif not path.startswith("/api/"):
                status, answer = 404, {"message": "Not found"}
            else:
                parts = [unquote(p) for p in path[len("/api/") :].split("/")]
                with fake.lock:
                    status, answer = fake.handle(self.command, parts, body, self.headers)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


DATASOURCE_YAML = """\
apiVersion: 1
datasources:
  - name: Orbital twin
    uid: twin-timescaledb
    type: grafana-postgresql-datasource
    access: proxy
    url: $TWIN_GRAFANA_DB_HOST
    user: ${TWIN_GRAFANA_DB_USER}
    jsonData:
      database: twin
      sslmode: disable
      timescaledb: true
      postgresVersion: 1700
      timeInterval: 1s
    secureJsonData:
      password: $TWIN_GRAFANA_DB_PASSWORD
    editable: false
"""

ALERTING_YAML = """\
apiVersion: 1
groups:
  - orgId: 1
    name: fleet health
    folder: Orbital twin
    interval: 1m
    rules:
      - uid: twin-battery-low
        title: Battery low
        condition: C
        data:
          - refId: A
            relativeTimeRange: {from: 600, to: 0}
            datasourceUid: twin-timescaledb
            model:
              rawSql: SELECT min(battery_wh) FROM t WHERE $__timeFilter(time)
              format: time_series
          - refId: C
            datasourceUid: __expr__
            model:
              type: threshold
              expression: A
              conditions: [{evaluator: {type: lt, params: [10]}}]
        dashboardUid: twin-fleet
        panelId: 3
        noDataState: OK
        execErrState: Error
        for: 5m
        keepFiringFor: 1m
        annotations:
          summary: "battery of {{ $labels.sat_id }} below 10 Wh ($$ spent)"
        labels:
          severity: warning
  - name: links
    folder: Orbital twin
    interval: 30s
    rules:
      - uid: twin-links-down
        title: Links down
        condition: A
        data:
          - refId: A
            datasourceUid: twin-timescaledb
            model: {rawSql: SELECT 1}
"""


def _dashboard(uid: str, title: str) -> dict:
    return {
        "id": 7,
        "uid": uid,
        "title": title,
        "schemaVersion": 41,
        "version": 3,
        "panels": [{"id": 3, "type": "timeseries", "title": "battery_wh"}],
        "templating": {"list": [{"name": "sat_id", "query": "SELECT $__timeFilter(t)"}]},
    }


@pytest.fixture
def grafana_dir(tmp_path) -> Path:
    root = tmp_path / "grafana"
    (root / "provisioning" / "datasources").mkdir(parents=True)
    (root / "provisioning" / "alerting").mkdir(parents=True)
    (root / "dashboards").mkdir()
    (root / "provisioning" / "datasources" / "twin.yaml").write_text(DATASOURCE_YAML)
    (root / "provisioning" / "alerting" / "twin.yaml").write_text(ALERTING_YAML)
    for uid, title in (("twin-fleet", "Fleet"), ("twin-power", "Power and thermal")):
        (root / "dashboards" / f"{uid}.json").write_text(json.dumps(_dashboard(uid, title)))
    return root


def test_first_publish_creates_everything_in_the_folder(grafana, grafana_dir):
    fake, url = grafana
    report = publish(url, grafana_dir, TOKEN, ENV)

    assert dict(report.created) == {
        "folder": 1, "datasource": 1, "dashboard": 2, "rule group": 2,
    }  # fmt: skip
    assert not report.updated and not report.unchanged
    assert fake.folders[FOLDER_UID]["title"] == FOLDER_TITLE

    ds = fake.datasources["twin-timescaledb"]
    assert (ds["url"], ds["user"]) == ("db.example:5432", "twin_reader")
    assert ds["jsonData"]["postgresVersion"] == 1700 and ds["jsonData"]["timescaledb"] is True
    assert fake.secure["twin-timescaledb"] == {"password": DB_PASSWORD}
    assert ds["secureJsonFields"] == {"password": True} and DB_PASSWORD not in json.dumps(ds)

    saves = [r for r in fake.requests if r["path"] == "/api/dashboards/db"]
    assert len(saves) == 2
    for save in saves:
        assert save["body"]["folderUid"] == FOLDER_UID and save["body"]["overwrite"] is True
        assert save["body"]["dashboard"]["id"] is None
    assert fake.dashboards["twin-fleet"]["folderUid"] == FOLDER_UID
    # Dashboards are sent as written: their $variables and macros are Grafana's, not env.
    fleet = fake.dashboards["twin-fleet"]["dashboard"]
    assert fleet["templating"]["list"][0]["query"] == "SELECT $__timeFilter(t)"

    health = fake.rule_groups[(FOLDER_UID, "fleet health")]
    assert health["interval"] == 60
    (rule,) = health["rules"]
    assert (rule["folderUID"], rule["ruleGroup"], rule["orgID"]) == (
        FOLDER_UID, "fleet health", 1,
    )  # fmt: skip
    assert (rule["for"], rule["keep_firing_for"]) == ("5m", "1m")
    assert (rule["noDataState"], rule["execErrState"]) == ("OK", "Error")
    assert rule["annotations"] == {
        "summary": "battery of {{ $labels.sat_id }} below 10 Wh ($$ spent)",  # raw, as Grafana
        "__dashboardUid__": "twin-fleet",
        "__panelId__": "3",
    }
    assert "$__timeFilter(time)" in rule["data"][0]["model"]["rawSql"]
    assert rule["provenance"] == "api"  # published without X-Disable-Provenance

    links = fake.rule_groups[(FOLDER_UID, "links")]
    assert links["interval"] == 30
    (rule,) = links["rules"]
    assert (rule["for"], rule["noDataState"], rule["execErrState"]) == ("0s", "NoData", "Alerting")
    # The group name has a space: it travels as one escaped path segment.
    assert any(r["path"].endswith("/rule-groups/fleet%20health") for r in fake.requests)
    assert all(r["provenance_header"] is None for r in fake.requests)


def test_second_publish_changes_nothing(grafana, grafana_dir):
    fake, url = grafana
    publish(url, grafana_dir, TOKEN, ENV)
    after_first, writes_first = fake.state(), len(fake.requests)

    report = publish(url, grafana_dir, TOKEN, ENV)

    assert not report.created
    assert dict(report.unchanged) == {"folder": 1, "dashboard": 2}
    assert dict(report.updated) == {"datasource": 1, "rule group": 2}
    assert fake.state() == after_first
    second = fake.requests[writes_first:]
    assert not [r for r in second if r["method"] == "POST"]  # nothing created twice
    assert report.summary() == (
        "created nothing; updated 1 datasource, 2 rule groups; unchanged 1 folder, 2 dashboards"
    )


def test_changed_dashboard_and_folder_title_are_updated(grafana, grafana_dir):
    fake, url = grafana
    publish(url, grafana_dir, TOKEN, ENV)
    fake.folders[FOLDER_UID]["title"] = "renamed by hand"
    model = _dashboard("twin-fleet", "Fleet, new title")
    (grafana_dir / "dashboards" / "twin-fleet.json").write_text(json.dumps(model))

    report = publish(url, grafana_dir, TOKEN, ENV)

    assert report.updated["folder"] == 1 and report.updated["dashboard"] == 1
    assert report.unchanged["dashboard"] == 1
    assert fake.folders[FOLDER_UID]["title"] == FOLDER_TITLE
    stored = fake.dashboards["twin-fleet"]["dashboard"]
    assert (stored["title"], stored["version"]) == ("Fleet, new title", 2)


def test_basic_auth_from_the_environment(grafana, grafana_dir):
    fake, url = grafana
    fake.basic, fake.token = ("editor", "pw"), None
    auth = grafana_auth({"TWIN_GRAFANA_USER": "editor", "TWIN_GRAFANA_PASSWORD": "pw"})
    report = publish(url, grafana_dir, auth, ENV)
    assert report.created["dashboard"] == 2
    assert all(r["authorization"].startswith("Basic ") for r in fake.requests)


def test_credential_choice():
    assert grafana_auth({"TWIN_GRAFANA_TOKEN": "t", "TWIN_GRAFANA_USER": "u"}) == "t"
    assert grafana_auth({"TWIN_GRAFANA_USER": "u", "TWIN_GRAFANA_PASSWORD": "p"}) == ("u", "p")
    with pytest.raises(InputError, match=r"TWIN_GRAFANA_TOKEN.*TWIN_GRAFANA_PASSWORD"):
        grafana_auth({"TWIN_GRAFANA_USER": "u"})


def test_missing_environment_variable_is_named_before_grafana_is_called(grafana, grafana_dir):
    fake, url = grafana
    env = {k: v for k, v in ENV.items() if k != "TWIN_GRAFANA_DB_PASSWORD"}
    with pytest.raises(InputError) as info:
        publish(url, grafana_dir, TOKEN, env)
    message = str(info.value)
    assert "$TWIN_GRAFANA_DB_PASSWORD" in message
    assert "datasources[0].secureJsonData.password" in message
    assert fake.requests == []


def test_unauthorized_names_url_and_grafanas_message_without_secrets(grafana, grafana_dir):
    fake, url = grafana
    with pytest.raises(InputError) as info:
        publish(url, grafana_dir, "wrong-token", ENV)
    message = str(info.value)
    assert url in message and "HTTP 401" in message and "invalid API key" in message
    assert "TWIN_GRAFANA_TOKEN" in message
    assert "wrong-token" not in message and DB_PASSWORD not in message
    assert "\n" not in message
    assert fake.folders == {}


def test_grafana_4xx_message_is_passed_on(grafana, grafana_dir):
    fake, url = grafana
    fake.datasources["other"] = {"uid": "other", "name": "Orbital twin", "id": 99}
    with pytest.raises(InputError, match="HTTP 409: data source with the same name"):
        publish(url, grafana_dir, TOKEN, ENV)


def test_unreachable_grafana_fails_fast(grafana_dir):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(InputError, match=f"127.0.0.1:{port} is unreachable"):
        publish(f"http://127.0.0.1:{port}", grafana_dir, TOKEN, ENV)
    assert time.monotonic() - started < 10


def test_password_is_never_logged(grafana, grafana_dir, caplog, capsys):
    _, url = grafana
    with caplog.at_level("DEBUG"):
        publish(url, grafana_dir, TOKEN, ENV)
    assert "twin-timescaledb" in caplog.text  # the log says what was published ...
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err):  # ... and never the secrets
        assert DB_PASSWORD not in text and TOKEN not in text


def test_url_with_credentials_is_refused_masked(grafana_dir):
    with pytest.raises(InputError) as info:
        publish("http://admin:hunter2@127.0.0.1:3000", grafana_dir, TOKEN, ENV)
    assert "--url" in str(info.value) and "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("provisioning/alerting/twin.yaml",
         ALERTING_YAML.replace("folder: Orbital twin", "folder: Other", 1), "folder"),
        ("provisioning/alerting/twin.yaml", ALERTING_YAML.replace("for: 5m", "for: soon"),
         "rules[0].for"),
        ("provisioning/alerting/twin.yaml",
         ALERTING_YAML.replace("keepFiringFor", "keep_firing"), "unknown keys keep_firing"),
        ("provisioning/datasources/twin.yaml",
         DATASOURCE_YAML.replace("    uid: twin-timescaledb\n", ""), "missing keys uid"),
        ("dashboards/twin-power.json", json.dumps(_dashboard("twin-fleet", "dup")),
         "dashboard twin-fleet defined more than once"),
        ("dashboards/twin-power.json",
         json.dumps({**_dashboard("twin-power", "P"), "__inputs": [{"name": "DS_X"}]}),
         "grafana/dashboards/twin-power.json: exported 'for sharing externally'"),
    ],
)  # fmt: skip
def test_bad_files_are_rejected_naming_the_field(grafana_dir, path, text, expected):
    (grafana_dir / path).write_text(text)
    with pytest.raises(InputError, match=re.escape(expected)):
        load_bundle(grafana_dir, ENV)


def test_a_datasource_logging_in_as_a_superuser_is_refused(grafana_dir, caplog):
    with pytest.raises(InputError, match="'postgres' is a database superuser"):
        load_bundle(grafana_dir, {**ENV, "TWIN_GRAFANA_DB_USER": "postgres"})
    with caplog.at_level("WARNING"):
        load_bundle(grafana_dir, {**ENV, "TWIN_GRAFANA_DB_USER": "twin"})
    assert "Grafana will log in as 'twin', not the read-only twin_reader" in caplog.text


def test_url_that_is_not_grafana_says_so(grafana, grafana_dir):
    fake, url = grafana
    with pytest.raises(InputError, match="is --url the address of Grafana"):
        publish(f"{url}/grafana", grafana_dir, TOKEN, ENV)
    # The sub-path is kept in front of /api (Grafana behind a reverse proxy).
    assert [r["path"] for r in fake.requests] == ["/grafana/api/health"]

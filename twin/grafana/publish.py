"""Publish the repository's ``grafana/`` to a running Grafana through its HTTP API.

Upserts by fixed uid, with grafana-client: the folder "Orbital twin" (uid ``orbital-twin``),
the datasources of ``provisioning/datasources/*.yaml``, every dashboard of
``dashboards/*.json`` (into the folder) and the rule groups of
``provisioning/alerting/*.yaml`` (into the folder). It is for a Grafana that does not read
these files itself: one provisioned from them (docker-compose.yml mounts grafana/provisioning)
refuses API writes to what the files own (read-only datasource, "file" provenance).

Publishing twice changes nothing the second time:

- the folder and each dashboard are compared with what Grafana holds and saved only when they
  differ, since every dashboard save adds a version to its history;
- a datasource is always rewritten (PUT by uid): its password cannot be read back to compare;
- a rule group is replaced whole (PUT .../folder/{uid}/rule-groups/{group}); Grafana leaves
  unchanged rules as they are, and rules deleted from the file leave the group.

Rule groups are sent without ``X-Disable-Provenance``: Grafana marks their rules as
provisioned ("api") and refuses edits in its UI. The repository is their source, and an edit
made in the UI would be lost at the next publish anyway. Dashboards carry no such lock; the
next publish overwrites UI edits to them.

Environment references (``$VAR``, ``${VAR}``, ``$$`` for a dollar) in the provisioning YAML
are expanded from the environment of the ``twin`` process where Grafana's file provisioning
would expand them (everywhere, except alert annotations and query models), and an unset
variable is an error rather than Grafana's empty string. Dashboards are not expanded.

Length: reading and checking the provisioning files (about half) and the upserts share the
field lists of Grafana's API models; they change together when Grafana's API does.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import niquests
import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaException

from twin.core.settings import READER_ROLE, ConfigError, InputError, check_keys, shipped_dir

log = logging.getLogger(__name__)

FOLDER_UID = "orbital-twin"
FOLDER_TITLE = "Orbital twin"
ENV_TOKEN = "TWIN_GRAFANA_TOKEN"
ENV_USER = "TWIN_GRAFANA_USER"
ENV_PASSWORD = "TWIN_GRAFANA_PASSWORD"
# Per request (connect, read): an unreachable or silent Grafana is reported within 10 s.
TIMEOUT_S = (5.0, 10.0)
_SAVE_MESSAGE = "twin grafana publish"
# The superuser every PostgreSQL server starts with. Publishing does not reach the database,
# so a datasource's login is judged by its name (the read-only READER_ROLE is expected).
SUPERUSER_LOGINS = ("postgres",)

# Datasource file keys sent as the same key to POST/PUT /api/datasources. The file-only keys
# have no API field: orgId (the credential's organisation is used), version (Grafana's own
# counter) and editable (the API cannot make a datasource read-only).
_DATASOURCE_KEYS = (
    "name", "type", "uid", "access", "url", "user", "database", "basicAuth", "basicAuthUser",
    "withCredentials", "isDefault", "jsonData", "secureJsonData",
)  # fmt: skip
_DATASOURCE_FILE_ONLY_KEYS = ("orgId", "version", "editable")
_GROUP_KEYS = ("orgId", "name", "folder", "interval", "rules")
_RULE_KEYS = (
    "uid", "title", "condition", "data", "dashboardUid", "panelId", "noDataState",
    "execErrState", "for", "keepFiringFor", "missing_series_evals_to_resolve", "annotations",
    "labels", "isPaused", "notification_settings", "record",
)  # fmt: skip
_QUERY_KEYS = ("refId", "queryType", "relativeTimeRange", "datasourceUid", "model")
# Grafana's file provisioning reads annotations and query models raw (no env expansion):
# they hold alert templates ({{ $labels.x }}) and query macros ($__timeFilter).
_RAW_ALERT_KEYS = frozenset({"annotations", "model"})

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
# Prometheus duration (Grafana parses `for` and `interval` with prometheus/common/model).
_DURATION = re.compile(r"0|(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?(?:\d+ms)?")
_UNIT_S = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 1e-3}


@dataclass
class PublishReport:
    """What one publish did: for each action, how many of each kind ("folder",
    "datasource", "dashboard", "rule group")."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)

    def add(self, action: str, kind: str, uid: str) -> None:
        getattr(self, action)[kind] += 1
        log.info("%s %s %s", action, kind, uid)

    def summary(self) -> str:
        """One line, e.g. ``created 1 folder, 2 dashboards; updated 1 datasource; ...``."""
        parts = []
        for action in ("created", "updated", "unchanged"):
            counts: Counter[str] = getattr(self, action)
            items = [f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in counts.items() if n]
            parts.append(f"{action} {', '.join(items) or 'nothing'}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Bundle:
    """API payloads read from ``grafana/``: datasources (POST /api/datasources bodies),
    dashboard models and rule groups (PUT .../rule-groups/{group} bodies)."""

    datasources: list[dict[str, Any]]
    dashboards: list[dict[str, Any]]
    rule_groups: list[dict[str, Any]]


def default_grafana_dir() -> Path:
    """``grafana/`` as shipped: the installed copy, or the checkout's."""
    return shipped_dir("grafana")


def grafana_auth(env: Mapping[str, str]) -> str | tuple[str, str]:
    """The credential: ``TWIN_GRAFANA_TOKEN`` (a service-account token), else basic auth
    from ``TWIN_GRAFANA_USER`` and ``TWIN_GRAFANA_PASSWORD``."""
    if env.get(ENV_TOKEN):
        return env[ENV_TOKEN]
    if env.get(ENV_USER) and env.get(ENV_PASSWORD):
        return env[ENV_USER], env[ENV_PASSWORD]
    raise InputError(
        f"no Grafana credential: set {ENV_TOKEN} (a service-account token with the Editor "
        f"role or more) or both {ENV_USER} and {ENV_PASSWORD}"
    )


def publish(
    url: str,
    grafana_dir: Path,
    auth: str | tuple[str, str],
    env: Mapping[str, str],
) -> PublishReport:
    """Upsert the folder, datasources, dashboards and rule groups of ``grafana_dir``.

    Parameters: ``url`` of Grafana (``http(s)://host[:port][/sub/path]``, no credentials);
    ``auth`` a token or a (user, password) pair; ``env`` to expand ``$VAR`` references.
    Every file is read and checked before Grafana is contacted. Raises InputError naming the
    file and field, or Grafana's URL and message (unreachable, 401, 4xx), within ~10 s.
    """
    bundle = load_bundle(grafana_dir, env)
    grafana = _Grafana(url, auth)
    report = PublishReport()
    try:
        _check_grafana(grafana)
        _publish_folder(grafana, report)
        for datasource in bundle.datasources:
            _publish_datasource(grafana, datasource, report)
        for dashboard in bundle.dashboards:
            _publish_dashboard(grafana, dashboard, report)
        for group in bundle.rule_groups:
            _publish_rule_group(grafana, group, report)
    finally:
        grafana.close()
    return report


def load_bundle(grafana_dir: Path, env: Mapping[str, str]) -> Bundle:
    """Read, check and convert ``grafana_dir`` into API payloads (no network)."""
    if not grafana_dir.is_dir():
        raise ConfigError("--grafana-dir", str(grafana_dir), "the repository's grafana/ directory")
    provisioning = grafana_dir / "provisioning"
    datasources = []
    for path in _files(provisioning / "datasources", "*.yaml", "*.yml"):
        doc = _read_yaml(path, ("apiVersion", "datasources"))
        where = f"{_shown(path, grafana_dir)}: datasources"
        entries = _expand(_list(doc["datasources"], where), env, where, frozenset())
        datasources += [_datasource(e, f"{where}[{i}]") for i, e in enumerate(entries)]
    groups = []
    for path in _files(provisioning / "alerting", "*.yaml", "*.yml"):
        doc = _read_yaml(path, ("apiVersion", "groups"))
        where = f"{_shown(path, grafana_dir)}: groups"
        entries = _expand(_list(doc["groups"], where), env, where, _RAW_ALERT_KEYS)
        groups += [_rule_group(e, f"{where}[{i}]") for i, e in enumerate(entries)]
    dashboards = [_dashboard(p, grafana_dir) for p in _files(grafana_dir / "dashboards", "*.json")]
    for kind, uids in (
        ("datasource", [d["uid"] for d in datasources]),
        ("dashboard", [d["uid"] for d in dashboards]),
        ("rule group", [g["title"] for g in groups]),
        ("alert rule", [r["uid"] for g in groups for r in g["rules"]]),
    ):
        twice = sorted(u for u, n in Counter(uids).items() if n > 1)
        if twice:
            raise InputError(f"{grafana_dir}: {kind} {', '.join(twice)} defined more than once")
    if not (datasources or dashboards or groups):
        raise InputError(f"{grafana_dir}: no datasource, dashboard or alert rule to publish")
    return Bundle(datasources, dashboards, groups)


# --- reading the files ---------------------------------------------------------------------


def _files(directory: Path, *patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in directory.glob(pattern) if p.is_file())


def _shown(path: Path, grafana_dir: Path) -> str:
    return str(Path(grafana_dir.name) / path.relative_to(grafana_dir))


def _read_yaml(path: Path, accepted: tuple[str, ...]) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a mapping with keys {', '.join(accepted)}")
    check_keys(doc, str(path), accepted, required=accepted[1:])
    if doc.get("apiVersion", 1) != 1:
        raise InputError(f"{path}: apiVersion {doc['apiVersion']!r}; only 1 is accepted")
    return doc


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _expand(value: Any, env: Mapping[str, str], where: str, raw_keys: frozenset[str]) -> Any:
    """``value`` with ``$VAR``/``${VAR}`` in every string replaced from ``env`` (``$$`` is a
    dollar), except under keys in ``raw_keys``; an unset variable raises InputError naming
    the field and the variable, never a value."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name is None:
                return "$"
            if name not in env:
                raise InputError(
                    f"{where} refers to ${name}, which is not set in the environment of twin"
                )
            return env[name]

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, list):
        return [_expand(v, env, f"{where}[{i}]", raw_keys) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            k: v if k in raw_keys else _expand(v, env, f"{where}.{k}", raw_keys)
            for k, v in value.items()
        }
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _uid(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_\-]{1,40}", value):
        raise InputError(f"{where}: uid {value!r}; expected 1-40 letters, digits, '-' or '_'")
    return value


def _datasource(entry: Any, where: str) -> dict[str, Any]:
    entry = _mapping(entry, where)
    check_keys(entry, where, _DATASOURCE_KEYS + _DATASOURCE_FILE_ONLY_KEYS, ("name", "type", "uid"))
    _uid(entry["uid"], f"{where}.uid")
    if "postgres" in str(entry["type"]):
        user = entry.get("user")
        if user in SUPERUSER_LOGINS:
            raise InputError(
                f"{where}.user: {user!r} is a database superuser; the datasource must read as "
                f"{READER_ROLE} (read-only; `twin db migrate` gives it a login)"
            )
        if user != READER_ROLE:
            log.warning(
                "%s.user: Grafana will log in as %r, not the read-only %s", where, user, READER_ROLE
            )
    return {k: v for k, v in entry.items() if k in _DATASOURCE_KEYS}


def _dashboard(path: Path, grafana_dir: Path) -> dict[str, Any]:
    where = _shown(path, grafana_dir)
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON: {exc}") from None
    model = _mapping(model, where)
    _uid(model.get("uid"), f"{where}: uid")
    if not isinstance(model.get("title"), str) or not model["title"].strip():
        raise InputError(f"{where}: a dashboard needs a non-empty 'title'")
    if "__inputs" in model:
        raise InputError(
            f"{where}: exported 'for sharing externally' (__inputs, ${{DS_...}}); export it "
            f"without that option so panels name the datasource by its uid"
        )
    # id is Grafana's row number in one server: null makes the uid the key, as on import.
    return {**model, "id": None}


def _duration(value: Any, where: str) -> str:
    text = str(value).strip()
    if isinstance(value, bool) or not text or not _DURATION.fullmatch(text):
        raise InputError(f"{where}: {value!r} is not a duration; expected e.g. 30s, 5m, 1h30m")
    return text


def _seconds(value: Any, where: str) -> int:
    text = _duration(value, where)
    return int(sum(int(n) * _UNIT_S[u] for n, u in re.findall(r"(\d+)(ms|[ywdhms])", text)))


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise InputError(f"{where}: {value!r}; expected a whole number")
    return int(value)


def _string_map(value: Any, where: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value, where).items()}


def _rule_group(group: Any, where: str) -> dict[str, Any]:
    """A file-provisioning rule group as the body of PUT .../rule-groups/{group}."""
    group = _mapping(group, where)
    check_keys(group, where, _GROUP_KEYS, ("name", "folder", "interval", "rules"))
    name = str(group["name"])
    if not name.strip():
        raise InputError(f"{where}.name: a rule group needs a name")
    if group["folder"] != FOLDER_TITLE:
        raise InputError(
            f"{where}.folder: {group['folder']!r}; publish puts rule groups in the folder "
            f"{FOLDER_TITLE!r} (uid {FOLDER_UID}), so the file must name that folder too"
        )
    interval_s = _seconds(group["interval"], f"{where}.interval")
    if interval_s <= 0:
        raise InputError(f"{where}.interval: {group['interval']!r}; expected a positive duration")
    org_id = _int(group.get("orgId", 1), f"{where}.orgId")
    rules = _list(group["rules"], f"{where}.rules")
    return {
        "title": name,
        "folderUid": FOLDER_UID,
        "interval": interval_s,
        "rules": [_rule(r, f"{where}.rules[{i}]", name, org_id) for i, r in enumerate(rules)],
    }


def _rule(rule: Any, where: str, group: str, org_id: int) -> dict[str, Any]:
    """A file-provisioning rule as a ProvisionedAlertRule of the provisioning API."""
    rule = _mapping(rule, where)
    check_keys(rule, where, _RULE_KEYS, ("uid", "title", "condition", "data"))
    annotations = _string_map(rule.get("annotations") or {}, f"{where}.annotations")
    # The file's dashboardUid/panelId are these two annotations in the API.
    if "dashboardUid" in rule:
        annotations["__dashboardUid__"] = _uid(rule["dashboardUid"], f"{where}.dashboardUid")
    if "panelId" in rule:
        annotations["__panelId__"] = str(_int(rule["panelId"], f"{where}.panelId"))
    data = _list(rule["data"], f"{where}.data")
    for i, query in enumerate(data):
        check_keys(_mapping(query, f"{where}.data[{i}]"), f"{where}.data[{i}]", _QUERY_KEYS,
                   ("refId", "datasourceUid", "model"))  # fmt: skip
    payload = {
        "uid": _uid(rule["uid"], f"{where}.uid"),
        "orgID": org_id,
        "folderUID": FOLDER_UID,
        "ruleGroup": group,
        "title": str(rule["title"]),
        "condition": str(rule["condition"]),
        "data": data,
        # Grafana's file-provisioning defaults when the file leaves these out.
        "noDataState": rule.get("noDataState") or "NoData",
        "execErrState": rule.get("execErrState") or "Alerting",
        "for": _duration(rule.get("for", "0s"), f"{where}.for"),
        "annotations": annotations,
        "labels": _string_map(rule.get("labels") or {}, f"{where}.labels"),
        "isPaused": bool(rule.get("isPaused", False)),
    }
    if "keepFiringFor" in rule:
        payload["keep_firing_for"] = _duration(rule["keepFiringFor"], f"{where}.keepFiringFor")
    for key in ("missing_series_evals_to_resolve", "notification_settings", "record"):
        if key in rule:
            payload[key] = rule[key]
    return payload


# --- talking to Grafana --------------------------------------------------------------------


class _Grafana:
    """grafana-client with one error path: every failure becomes an InputError naming the
    URL (no credentials), the step and Grafana's message."""

    def __init__(self, url: str, auth: str | tuple[str, str]) -> None:
        parts = urlsplit(url)
        accepted = "http(s)://host[:port][/path] of Grafana, credentials in the environment"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("--url", _without_credentials(url), accepted)
        if parts.username or parts.password:
            raise ConfigError("--url", _without_credentials(url), accepted)
        self.url = url
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        prefix = parts.path.strip("/")
        self.api = GrafanaApi(
            auth=auth,
            host=host,
            port=parts.port,
            url_path_prefix=f"{prefix}/" if prefix else "",
            protocol=parts.scheme,
            timeout=TIMEOUT_S,
        )

    def close(self) -> None:
        self.api.client.s.close()

    def call(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        missing_ok: bool = False,
        hint: str = "",
        **kwargs: Any,
    ) -> Any:
        """``method(*args, **kwargs)``'s JSON object; None for 404 when ``missing_ok``;
        ``hint`` ends the message of an HTTP error."""
        try:
            answer = method(*args, **kwargs)
        except GrafanaException as exc:
            if missing_ok and exc.status_code == 404:
                return None
            if exc.status_code == 0:  # grafana-client's wrapper of timeouts and HTTP errors
                raise self._unreachable(what, exc.message) from None
            raise InputError(
                f"Grafana at {self.url}: {what} failed with HTTP {exc.status_code}: "
                f"{_grafana_message(exc)}{hint or _hint(exc.status_code)}"
            ) from None
        except niquests.exceptions.RequestException as exc:
            raise self._unreachable(what, str(exc)) from None
        if not isinstance(answer, dict):
            raise InputError(f"Grafana at {self.url}: {what}: the answer is not Grafana's JSON")
        return answer

    def _unreachable(self, what: str, detail: str) -> InputError:
        errno = re.search(r"\[Errno -?\d+\] [^'\")\]]+", detail)
        reason = errno.group(0) if errno else detail.splitlines()[0][:200] if detail else "?"
        return InputError(
            f"Grafana at {self.url} is unreachable ({what}: {reason}); check --url and that "
            f"Grafana is running"
        )


def _without_credentials(url: str) -> str:
    return re.sub(r"://[^/@]*@", "://***@", url)


def _grafana_message(exc: GrafanaException) -> str:
    response = exc.response
    if isinstance(response, dict) and response.get("message"):
        text = str(response["message"])
    elif isinstance(response, str) and response.strip():
        text = response
    elif isinstance(response, dict) and response:
        text = json.dumps(response)
    else:
        text = "(an empty answer)"
    return " ".join(text.split())[:300]


def _hint(status: int) -> str:
    if status == 401:
        return f" (check {ENV_TOKEN}, or {ENV_USER} and {ENV_PASSWORD})"
    if status == 403:
        return " (the credential needs the Editor role or more in this organisation)"
    return ""


def _q(segment: str) -> str:
    """One URL path segment (group names may hold spaces or slashes)."""
    return quote(segment, safe="")


def _check_grafana(grafana: _Grafana) -> None:
    """Fail early, and clearly, when ``--url`` does not lead to Grafana (GET /api/health
    needs no credential)."""
    health = grafana.call(
        "GET /api/health",
        grafana.api.client.GET,
        "/health",
        hint=" (is --url the address of Grafana, with its sub-path if it has one?)",
    )
    if "database" not in health:
        raise InputError(f"Grafana at {grafana.url}: GET /api/health: not Grafana's answer")
    log.info("Grafana %s at %s", health.get("version", "(version hidden)"), grafana.url)


def _publish_folder(grafana: _Grafana, report: PublishReport) -> None:
    folders = grafana.api.folder
    folder = grafana.call(
        f"reading folder {FOLDER_UID}", folders.get_folder, FOLDER_UID, missing_ok=True
    )
    if folder is None:
        grafana.call(
            f"creating folder {FOLDER_UID}", folders.create_folder, FOLDER_TITLE, uid=FOLDER_UID
        )
        report.add("created", "folder", FOLDER_UID)
    elif folder.get("title") != FOLDER_TITLE:
        grafana.call(
            f"renaming folder {FOLDER_UID}",
            folders.update_folder,
            FOLDER_UID,
            title=FOLDER_TITLE,
            overwrite=True,
        )
        report.add("updated", "folder", FOLDER_UID)
    else:
        report.add("unchanged", "folder", FOLDER_UID)


def _publish_datasource(grafana: _Grafana, body: dict[str, Any], report: PublishReport) -> None:
    sources, uid = grafana.api.datasource, body["uid"]
    found = grafana.call(
        f"reading datasource {uid}", sources.get_datasource_by_uid, _q(uid), missing_ok=True
    )
    if found is None:
        grafana.call(f"creating datasource {uid}", sources.create_datasource, body)
        report.add("created", "datasource", uid)
    else:
        grafana.call(f"updating datasource {uid}", sources.update_datasource_by_uid, _q(uid), body)
        report.add("updated", "datasource", uid)


def _publish_dashboard(grafana: _Grafana, model: dict[str, Any], report: PublishReport) -> None:
    dashboards, uid = grafana.api.dashboard, model["uid"]
    stored = grafana.call(
        f"reading dashboard {uid}", dashboards.get_dashboard, _q(uid), missing_ok=True
    )
    if stored is not None and _same_dashboard(stored, model):
        report.add("unchanged", "dashboard", uid)
        return
    body = {"dashboard": model, "folderUid": FOLDER_UID, "overwrite": True}
    grafana.call(
        f"saving dashboard {uid}", dashboards.update_dashboard, {**body, "message": _SAVE_MESSAGE}
    )
    report.add("created" if stored is None else "updated", "dashboard", uid)


def _same_dashboard(stored: dict[str, Any], model: dict[str, Any]) -> bool:
    """True when Grafana holds ``model`` in the folder (its id and version aside)."""

    def strip(d: Any) -> Any:
        return {k: v for k, v in d.items() if k not in ("id", "version")}

    meta, saved = stored.get("meta") or {}, stored.get("dashboard") or {}
    return meta.get("folderUid") == FOLDER_UID and strip(saved) == strip(model)


def _publish_rule_group(grafana: _Grafana, body: dict[str, Any], report: PublishReport) -> None:
    alerting, name = grafana.api.alertingprovisioning, body["title"]
    path = (_q(FOLDER_UID), _q(name))
    stored = grafana.call(
        f"reading rule group {name!r}", alerting.get_rule_group, *path, missing_ok=True
    )
    grafana.call(
        f"saving rule group {name!r}",
        alerting.update_rule_group,
        *path,
        body,
        disable_provenance=False,  # keep them provisioned: see the module docstring
    )
    report.add("created" if stored is None else "updated", "rule group", name)

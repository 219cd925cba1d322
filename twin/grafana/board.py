"""A small builder of Grafana dashboard JSON: dashboards, SQL panels and template variables.

Every panel reads the twin's database through one provisioned datasource (fixed uid) with
raw SQL in Grafana's PostgreSQL dialect (macros such as ``$__timeFilter``). Each panel also
records the columns its visualisation needs, so that tests can run every query and check
them (``twin.grafana.sql``). The JSON follows Grafana's dashboard model (schema version 41);
tests round-trip it through ``grafana-foundation-sdk``'s models to catch unknown fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "twin-timescaledb"}
SCHEMA_VERSION = 41
GRID_WIDTH = 24

# The satellites picked by the fleet, shell and plane variables.
SELECTED = (
    "sat_id IN (SELECT sat_id FROM satellites WHERE fleet IN ($fleet) "
    "AND shell IN ($shell) AND plane IN ($plane))"
)


@dataclass(frozen=True)
class Panel:
    """One panel: a visualisation of one SQL query.

    ``kind`` is Grafana's panel type; ``table`` says whether the query returns a table
    (``format: table``) or time series; ``columns`` are the columns the panel reads.
    ``unit`` is Grafana's unit of every field, ``field_units`` (column, unit) those of fields
    that differ (Grafana gives each unit an axis of its own; ``right_axis`` columns go on
    the right); ``links`` are data links from every row or point (to the satellite
    dashboard); ``channel`` names the dictionary channel whose limits the panel draws.
    """

    title: str
    kind: str
    sql: str
    columns: tuple[str, ...]
    width: int = 12
    height: int = 8
    unit: str = ""
    table: bool = False
    description: str = ""
    options: dict = field(default_factory=dict)
    overrides: tuple[dict, ...] = ()  # Grafana field overrides (matcher and properties)
    field_units: tuple[tuple[str, str], ...] = ()
    right_axis: tuple[str, ...] = ()
    links: tuple[dict, ...] = ()
    channel: str = ""


@dataclass(frozen=True)
class Variable:
    """A query variable: ``sql`` returns its values (one column)."""

    name: str
    label: str
    sql: str
    multi: bool = True


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...]
    time_from: str = "now-6h"
    annotations: tuple[dict, ...] = ()


def target(sql: str, table: bool) -> dict:
    return {
        "refId": "A",
        "datasource": dict(DATASOURCE),
        "editorMode": "code",
        "format": "table" if table else "time_series",
        "rawQuery": True,
        "rawSql": sql,
    }


def by_name(name: str, *properties: tuple[str, object]) -> dict:
    """A field override: the field called ``name`` gets ``properties`` (id, value)."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key, "value": value} for key, value in properties],
    }


# Rows and points about one satellite open its dashboard, over the same time range.
SATELLITE_LINK = {
    "title": "Satellite ${__data.fields.sat_id}",
    "url": "/d/twin-satellite?var-satellite=${__data.fields.sat_id}&${__url_time_range}",
}


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict:
    defaults: dict = {}
    if panel.unit:
        defaults["unit"] = panel.unit
    if panel.links:
        defaults["links"] = list(panel.links)
    overrides = [
        *panel.overrides,
        *(by_name(name, ("unit", unit)) for name, unit in panel.field_units),
        *(by_name(name, ("custom.axisPlacement", "right")) for name in panel.right_axis),
    ]
    body = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": dict(DATASOURCE),
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": [target(panel.sql, panel.table)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": panel.options,
    }
    if panel.description:
        body["description"] = panel.description
    return body


def variable_json(variable: Variable) -> dict:
    return {
        "type": "query",
        "name": variable.name,
        "label": variable.label,
        "datasource": dict(DATASOURCE),
        "query": variable.sql,
        "refresh": 1,
        "multi": variable.multi,
        "includeAll": variable.multi,
        "sort": 3 if variable.name in ("plane", "satellite") else 1,
        "current": {},
        "options": [],
        "hide": 0,
        "skipUrlSync": False,
    }


def board_json(board: Board) -> dict:
    """The dashboard JSON model, panels laid out left to right, top to bottom."""
    panels, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(board.panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        panels.append(panel_json(panel, panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": board.uid,
        "title": board.title,
        "description": board.description,
        "tags": ["orbital-twin"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "schemaVersion": SCHEMA_VERSION,
        "refresh": "1m",
        "time": {"from": board.time_from, "to": "now"},
        "templating": {"list": [variable_json(v) for v in board.variables]},
        "annotations": {"list": list(board.annotations)},
        "panels": panels,
    }

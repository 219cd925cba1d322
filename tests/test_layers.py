"""The import contract: every module of ``twin`` and ``ingest`` belongs to one layer and imports
only from its own layer or those below (docs/architecture.md draws them). The lower layers
(everything below streaming and storage) reach no Kafka, no database and no SQL library."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module not listed fails the test: a new module must take a place here.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("twin.errors", "twin.clock", "twin.dice", "twin.shutdown", "twin.hardware",
              "twin.messages", "twin.settings")),
    ("physics", ("twin.orbit", "twin.sun", "twin.power", "twin.thermal", "twin.fleet",
                 "twin.state", "twin.links", "twin.cluster")),
    ("wire", ("twin.telemetry", "twin.events", "twin.jobs")),
    ("payload and fleets", ("twin.compute", "twin.ground", "twin.workload", "twin.payload",
                            "twin.elements", "twin.presets", "twin.faults")),
    ("simulation", ("twin.engine", "twin.checkpoint", "twin.contract")),
    ("streaming and storage", ("twin.bus", "twin.intake", "twin.runner", "ingest.audit",
                               "ingest.db", "ingest.pgcopy", "ingest.schema", "ingest.roles",
                               "ingest.migrate", "ingest.policies", "ingest.local_pg",
                               "ingest.dimensions")),
    ("rules and ingest", ("ingest.rules", "ingest.detect", "ingest.writer", "ingest.consumer",
                          "ingest.fleet_rules", "ingest.score")),
    ("operations views", ("twin.report", "twin.report_plots", "twin.progress", "twin.config",
                          "twin.grafana", "twin.grafana.board", "twin.grafana.sql",
                          "twin.grafana.dashboards", "twin.grafana.alerts", "twin.grafana.files",
                          "twin.grafana.publish", "twin.grafana.__main__")),
    ("application", ("twin", "twin.cli", "twin.__main__", "ingest", "ingest.pipeline")),
)  # fmt: skip
SERVICE_LIBRARIES = ("kafka", "psycopg", "sqlalchemy")
SERVICE_FREE_BELOW = "streaming and storage"


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """Absolute imports of a source file (``from twin import x`` names ``twin.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in ("twin", "ingest", "twin.grafana"):  # names of the package
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def upward_imports(
    graph: dict[str, set[str]], layers: tuple[tuple[str, tuple[str, ...]], ...]
) -> list[str]:
    """``importer -> imported`` for every import of a module from a layer above its own."""
    rank = {module: i for i, (_, modules) in enumerate(layers) for module in modules}
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target in rank and rank[target] > rank[module]:
                found.append(f"{module} ({layers[rank[module]][0]}) -> {target} "
                             f"({layers[rank[target]][0]})")  # fmt: skip
    return found


def _graph() -> dict[str, set[str]]:
    paths = [*ROOT.joinpath("twin").rglob("*.py"), *ROOT.joinpath("ingest").rglob("*.py")]
    return {_module(p): imports_of(p) for p in paths}


def test_every_module_has_a_layer():
    placed = {m for _, modules in LAYERS for m in modules}
    assert sorted(set(_graph()) - placed) == []
    assert sorted(placed - set(_graph())) == []


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports(_graph(), LAYERS) == []


def test_the_contract_fails_on_an_upward_import():
    graph = {"twin.orbit": {"numpy", "twin.clock", "ingest.writer"}, "twin.clock": set()}
    assert upward_imports(graph, LAYERS) == [
        "twin.orbit (physics) -> ingest.writer (rules and ingest)"
    ]


def test_layers_below_streaming_reach_no_service_library():
    below = [name for name, _ in LAYERS].index(SERVICE_FREE_BELOW)
    graph = _graph()
    for _, modules in LAYERS[:below]:
        for module in modules:
            reached = {i for i in graph[module] if i.split(".")[0] in SERVICE_LIBRARIES}
            assert reached == set(), f"{module} imports {reached}"

"""The import contract: every module of ``twin`` and ``ingest`` belongs to one layer and imports
only from its own layer or those below (docs/architecture.md draws them). The lower layers
(everything below streaming and storage) reach no Kafka, no database and no SQL library."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first: each layer is one or more packages, and every module of a package belongs to its
# layer. A package not listed fails the test: a new package must take a place here (and in
# docs/architecture.md).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("twin.core",)),
    ("wire", ("twin.wire",)),
    ("fleet", ("twin.fleet",)),
    ("physics", ("twin.physics",)),
    ("payload", ("twin.payload",)),
    ("simulation", ("twin.sim",)),
    ("mirror", ("twin.mirror",)),
    ("forecast", ("twin.forecast",)),
    ("streams", ("twin.stream",)),
    ("store", ("ingest.store",)),
    ("rules", ("ingest.rules",)),
    ("ingest service", ("ingest.service",)),
    ("operations views", ("twin.grafana",)),
    ("application", ("twin", "twin.app", "ingest")),
)
SERVICE_LIBRARIES = ("kafka", "psycopg", "sqlalchemy")
SERVICE_FREE_BELOW = "streams"


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """Absolute imports of a source file (``from twin.physics import sun`` names both
    ``twin.physics`` and ``twin.physics.sun``: a layer is found from either)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...]) -> int | None:
    """Index of the layer whose package holds ``module`` (the longest package that is a prefix
    of its name), or None for a module outside the project."""
    best, rank = "", None
    for i, (_, packages) in enumerate(layers):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and len(package) > len(best):
                best, rank = package, i
    return rank


def upward_imports(
    graph: dict[str, set[str]], layers: tuple[tuple[str, tuple[str, ...]], ...]
) -> list[str]:
    """``importer -> imported`` for every import of a module from a layer above its own."""
    found = []
    for module, targets in sorted(graph.items()):
        own = layer_of(module, layers)
        for target in sorted(targets):
            rank = layer_of(target, layers)
            if rank is not None and own is not None and rank > own:
                found.append(f"{module} ({layers[own][0]}) -> {target} ({layers[rank][0]})")
    return found


def _graph() -> dict[str, set[str]]:
    paths = [*ROOT.joinpath("twin").rglob("*.py"), *ROOT.joinpath("ingest").rglob("*.py")]
    return {_module(p): imports_of(p) for p in paths}


def test_every_package_has_a_layer():
    packages = {  # twin, ingest and the packages directly in them (subpackages go with these)
        m
        for m in _graph()
        if m.count(".") <= 1 and ROOT.joinpath(*m.split("."), "__init__.py").exists()
    }
    placed = {p for _, listed in LAYERS for p in listed}
    assert sorted(packages - placed) == []
    assert sorted(placed - packages) == []


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports(_graph(), LAYERS) == []


def test_the_contract_fails_on_an_upward_import():
    graph = {
        "twin.physics.orbit": {"numpy", "twin.core.clock", "ingest.service.writer"},
        "twin.core.clock": set(),
    }
    assert upward_imports(graph, LAYERS) == [
        "twin.physics.orbit (physics) -> ingest.service.writer (ingest service)"
    ]


def test_layers_below_streaming_reach_no_service_library():
    below = [name for name, _ in LAYERS].index(SERVICE_FREE_BELOW)
    for module, imported in _graph().items():
        rank = layer_of(module, LAYERS)
        if rank is not None and rank < below:
            reached = {i for i in imported if i.split(".")[0] in SERVICE_LIBRARIES}
            assert reached == set(), f"{module} imports {reached}"

"""The layers of ``service/``: which package may import which, and no import cycle.

Imports are read with ``ast`` by :mod:`importgraph` (module level and inside functions alike;
only imports under ``if TYPE_CHECKING:`` are left out, as they never run)::

    common  ←  ml  ←  data  ←  pipeline  ←  api, worker

``api`` and ``worker`` never import each other; nothing in ``service`` imports ``sre_cli``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importgraph import ImportGraph, cycles, read_graph

ROOT = Path(__file__).resolve().parents[2]

# package → the service packages it may import (itself always allowed)
ALLOWED: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "ml": frozenset({"common"}),
    "data": frozenset({"common", "ml"}),
    "pipeline": frozenset({"common", "data", "ml"}),
    "api": frozenset({"common", "data", "pipeline", "ml"}),
    "worker": frozenset({"common", "data", "pipeline", "ml"}),
}
# Servers that really use a CLI library would be listed here, module → sre_cli modules.
SRE_CLI_IMPORTS: dict[str, frozenset[str]] = {}


def _layer(module: str) -> str | None:
    return module.split(".")[1] if module.count(".") else None


def cli_imports(graph: ImportGraph, package: str) -> dict[str, frozenset[str]]:
    """Module of ``package`` → the ``sre_cli`` modules it imports."""
    found: dict[str, set[str]] = {}
    for edge in graph.edges:
        if edge.source.startswith(f"{package}.") and edge.target.split(".")[0] == "sre_cli":
            found.setdefault(edge.source, set()).add(edge.target)
    return {module: frozenset(targets) for module, targets in found.items()}


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return read_graph([ROOT / "service", ROOT / "sre_cli"])


def test_service_has_no_import_cycle() -> None:
    assert cycles(read_graph([ROOT / "service"])) == []


def test_service_packages_import_only_the_layers_below(graph: ImportGraph) -> None:
    wrong = []
    for edge in graph.edges:
        if not edge.source.startswith("service.") or not edge.target.startswith("service"):
            continue
        layer, dep_layer = _layer(edge.source), _layer(edge.target)
        if layer is None:
            continue
        assert layer in ALLOWED, f"{layer}: a new service package needs a place in ALLOWED"
        if dep_layer not in (None, layer) and dep_layer not in ALLOWED[layer]:
            wrong.append(f"{edge.source} -> {edge.target} (line {edge.line})")
    assert wrong == []


def test_service_imports_no_cli_module_but_the_listed_ones(graph: ImportGraph) -> None:
    assert cli_imports(graph, "service") == SRE_CLI_IMPORTS


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sre_cli.errors import AquaError\n", {"sre_cli.errors"}),
        ("def f():\n    import sre_cli.infra\n", {"sre_cli.infra"}),
    ],
)
def test_cli_imports_are_found_wherever_they_are(
    tmp_path: Path, source: str, expected: set[str]
) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "m.py").write_text(source)
    cli = tmp_path / "sre_cli"
    (cli / "infra").mkdir(parents=True)
    for path in ("__init__.py", "errors.py", "infra/__init__.py"):
        (cli / path).write_text("")
    graph = read_graph([tmp_path / "svc", cli])
    assert cli_imports(graph, "svc") == {"svc.m": frozenset(expected)}

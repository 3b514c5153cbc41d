"""The import rules of ARCHITECTURE.md, checked on the source with :mod:`ast`.

What counts as an import edge (see :mod:`importgraph`): every ``import`` that can run,
including the lazy ones inside functions (they run too, later: a loop through them is a
run-time loop). Imports under ``if TYPE_CHECKING:`` never run and do not count.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importgraph import ImportGraph, cycles, private_uses, read_graph

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_graph() -> ImportGraph:
    return read_graph([ROOT / "sre_cli"])


def _edges(graph: ImportGraph, source: str, target: str) -> list[str]:
    return [
        f"{e.source}:{e.line} -> {e.target}"
        for e in graph.edges
        if e.source.startswith(source) and e.target.startswith(target)
    ]


def test_no_import_cycle_in_sre_cli(cli_graph: ImportGraph) -> None:
    assert cycles(cli_graph) == []


def test_no_loop_in_sre_cli_even_through_type_only_imports() -> None:
    """Stricter than the rule: not even annotations go both ways (engine <-> render was one)."""
    assert cycles(read_graph([ROOT / "sre_cli"], type_only=True)) == []


def test_no_import_cycle_in_service() -> None:
    assert cycles(read_graph([ROOT / "service"])) == []


def _package(root: Path, modules: dict[str, str]) -> Path:
    """A package ``pkg`` under ``root`` with these modules (name -> source)."""
    pkg = root / "pkg"
    pkg.mkdir()
    for name, source in {"__init__": "", **modules}.items():
        (pkg / f"{name}.py").write_text(source)
    return pkg


def test_the_cycle_check_finds_a_planted_cycle(tmp_path: Path) -> None:
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.e\n"
    pkg = _package(
        tmp_path,
        {
            "a": "from pkg import b\n",
            "b": "def f():\n    from pkg.c import x\n",  # a lazy import is an edge
            "c": "import pkg.a\n",
            "d": type_only,  # not an edge: d -> e -> d is no cycle
            "e": "from . import d\n",
        },
    )
    assert cycles(read_graph([pkg])) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_runbook_and_chaos_are_siblings(cli_graph: ImportGraph) -> None:
    assert _edges(cli_graph, "sre_cli.chaos", "sre_cli.runbook") == []
    assert _edges(cli_graph, "sre_cli.runbook", "sre_cli.chaos") == []


def test_the_operations_layer_stands_below_its_users(cli_graph: ImportGraph) -> None:
    for above in ("sre_cli.runbook", "sre_cli.chaos", "sre_cli.commands", "sre_cli.cli"):
        assert _edges(cli_graph, "sre_cli.ops", above) == []


#: Top-level modules every layer may use; they import only each other.
FLOOR = (
    "errors",
    "console",
    "output",
    "table",
    "progress",
    "prometheus",
    "timespec",
    "spec_yaml",
    "defaults",
    "lifecycle",
    "charts",
)
FEATURES = (
    "slo",
    "capacity",
    "loadtest",
    "runbook",
    "chaos",
    "ops",
    "stack",
    "doctor",
    "trace",
    "dashboards",
)


def _top(module: str) -> str:
    """``sre_cli.slo.engine`` -> ``slo``; ``sre_cli.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _crossings(graph: ImportGraph, sources: tuple[str, ...], banned: tuple[str, ...]) -> list[str]:
    return [
        f"{e.source}:{e.line} -> {e.target}"
        for e in graph.edges
        if _top(e.source) in sources and _top(e.target) in banned
    ]


def test_the_floor_imports_only_the_floor(cli_graph: ImportGraph) -> None:
    above = tuple({_top(m) for m in cli_graph.modules} - {*FLOOR, ""})
    assert _crossings(cli_graph, FLOOR, above) == []


def test_servers_and_clusters_know_no_feature(cli_graph: ImportGraph) -> None:
    assert _crossings(cli_graph, ("infra", "k8s"), (*FEATURES, "commands", "cli")) == []


def test_only_commands_and_the_root_import_commands(cli_graph: ImportGraph) -> None:
    wrong = [
        e
        for e in _edges(cli_graph, "sre_cli", "sre_cli.commands")
        if not e.startswith(("sre_cli.commands", "sre_cli.cli:"))
    ]
    assert wrong == []


def test_only_renderers_and_commands_import_renderers(cli_graph: ImportGraph) -> None:
    """Data flows engine -> result -> render -> output: a render module reads results, and
    nothing below the commands draws (no engine, result or verdict imports a renderer)."""
    wrong = [
        f"{e.source}:{e.line} -> {e.target}"
        for e in cli_graph.edges
        if e.target.endswith(".render")
        and not e.source.endswith(".render")
        and not e.source.startswith("sre_cli.commands")
    ]
    assert wrong == []


def test_nothing_uses_another_modules_private_names(cli_graph: ImportGraph) -> None:
    assert private_uses(cli_graph) == []


def test_the_private_name_check_finds_one(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "a": "def _h():\n    pass\nclass K:\n    def _m(self):\n        self._n()\n",
            "b": "from pkg.a import _h\nfrom pkg import a\nk = a.K()\nk._m()\n",
        },
    )
    found = private_uses(read_graph([pkg]))
    assert found == ["pkg.b:1 imports pkg.a._h", "pkg.b:4 uses k._m"]

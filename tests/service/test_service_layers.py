"""The layers of ``service/``: which package may import which, and no import cycle.

Imports are read with ``ast`` (module level and inside functions alike; only imports under
``if TYPE_CHECKING:`` are left out, as they never run)::

    common  ←  ml  ←  data  ←  pipeline  ←  api, worker

``api`` and ``worker`` never import each other; nothing in ``service`` imports ``sre_cli``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

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
# Servers that really use a CLI library would be listed here, module → sre_cli module.
SRE_CLI_IMPORTS: dict[str, frozenset[str]] = {}


def _modules(root: Path, package: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    skip.update(id(n) for n in ast.walk(stmt))
    return skip


def _imported(module: str, is_package: bool, tree: ast.AST) -> Iterator[str]:
    """Every module name ``module`` imports when it runs (absolute, possibly external)."""
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                if not is_package:
                    parts.pop()
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports (a ``from m import name`` counts as m
    unless ``m.name`` is itself a module)."""
    modules = _modules(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        deps: set[str] = set()
        for target in _imported(name, path.name == "__init__.py", tree):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def external_imports(root: Path, package: str, prefix: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, path in _modules(root, package).items():
        tree = ast.parse(path.read_text(), str(path))
        hits = {
            t
            for t in _imported(name, path.name == "__init__.py", tree)
            if t == prefix or t.startswith(prefix + ".")
        }
        if hits:
            out[name] = hits
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_service_has_no_import_cycle() -> None:
    assert cycles(import_graph(ROOT, "service")) == []


def test_service_packages_import_only_the_layers_below() -> None:
    wrong = []
    for module, deps in import_graph(ROOT, "service").items():
        layer = module.split(".")[1] if module.count(".") else None
        if layer is None:
            continue
        assert layer in ALLOWED, f"{layer}: a new service package needs a place in ALLOWED"
        for dep in deps:
            dep_layer = dep.split(".")[1] if dep.count(".") else None
            if dep_layer not in (None, layer) and dep_layer not in ALLOWED[layer]:
                wrong.append(f"{module} -> {dep}")
    assert wrong == []


def test_service_imports_no_cli_module_but_the_listed_ones() -> None:
    found = external_imports(ROOT, "service", "sre_cli")
    assert {m: frozenset(v) for m, v in found.items()} == SRE_CLI_IMPORTS


def test_the_walk_sees_cycles_through_function_imports_but_not_type_checking(
    tmp_path: Path,
) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.e import X\n"
    )
    (pkg / "e.py").write_text("from pkg.d import Y\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.b"] == {"pkg", "pkg.c"}  # `from . import c` runs pkg/__init__ too
    assert graph["pkg.d"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sre_cli.errors import AquaError\n", {"sre_cli.errors", "sre_cli.errors.AquaError"}),
        ("def f():\n    import sre_cli.infra\n", {"sre_cli.infra"}),
    ],
)
def test_cli_imports_are_found_wherever_they_are(
    tmp_path: Path, source: str, expected: set[str]
) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "m.py").write_text(source)
    found = external_imports(tmp_path, "svc", "sre_cli")
    assert found == {"svc.m": expected}

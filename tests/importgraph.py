"""The import graph of a package tree, read with :mod:`ast` (nothing is imported).

Edges are every ``import`` and ``from ... import`` at any depth of a module, including the
lazy ones inside functions: a function-level import still runs, so a loop through it is a
run-time loop (and a loop a later refactor turns into an import-time crash). Imports under
``if TYPE_CHECKING:`` are left out: they never run.

``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
A package's ``__init__`` counts as the package itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

__all__ = ["Edge", "ImportGraph", "cycles", "private_uses", "read_graph"]


class Edge(NamedTuple):
    """``source`` imports ``target`` at ``line``; ``names`` are those of ``from target import
    a, b`` that are not modules themselves (empty for ``import target``)."""

    source: str
    target: str
    line: int
    names: tuple[str, ...] = ()


@dataclass
class ImportGraph:
    modules: dict[str, Path]
    edges: list[Edge]

    def targets(self, module: str) -> set[str]:
        return {e.target for e in self.edges if e.source == module}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _runtime_nodes(tree: ast.AST, type_only: bool = False) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (its ``else`` still runs), or with
    ``type_only`` every node."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not type_only and isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def read_graph(roots: Iterable[Path], *, type_only: bool = False) -> ImportGraph:
    """The graph of every module under ``roots`` (package directories), internal edges only;
    ``type_only=True`` adds the imports under ``if TYPE_CHECKING:``."""
    modules: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            modules[_module_name(root, path)] = path
    edges: list[Edge] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node in _runtime_nodes(tree, type_only):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _known(alias.name, modules)
                    if target and target != name:
                        edges.append(Edge(name, target, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in modules else _known(base, modules)
                    if target and target != name:
                        names = () if target == full else (alias.name,)
                        edges.append(Edge(name, target, node.lineno, names))
    return ImportGraph(modules, edges)


def _known(dotted: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``dotted`` that is one of ``modules``."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def cycles(graph: ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    adjacency = {m: sorted(graph.targets(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work: list[tuple[str, int]] = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = adjacency[node]
            if i < len(targets):
                work.append((node, i + 1))
                nxt = targets[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found)


def private_uses(graph: ImportGraph) -> list[str]:
    """Uses of another module's or object's private name.

    ``from other import _name`` (a module may of course use its own), and any ``x._name``
    attribute where ``x`` is not ``self`` or ``cls``: a module's ``_helper`` or another
    object's ``_method`` is an implementation detail of its owner. Dunders are public.
    """
    found: list[str] = []
    for edge in graph.edges:
        for name in edge.names:
            if _private(name):
                found.append(f"{edge.source}:{edge.line} imports {edge.target}.{name}")
    for name, path in graph.modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                found.append(f"{name}:{node.lineno} uses {ast.unparse(node)}")
    return sorted(found)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")

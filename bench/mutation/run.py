"""Mutation check: how many small wrong versions of the code do the tests catch?

A small AST mutator (no third-party tool): for each target module it makes one mutant per
site, one change at a time (a comparison flipped or loosened, ``+``/``-`` and ``*``/``/``
swapped, ``and``/``or`` swapped, a ``not`` dropped, a number moved by one, ``True``/``False``
swapped), writes it into a private copy of the tree and runs the target's tests there
(``pytest -x``). A mutant is killed when they fail, survives when they pass, and times out
when they run more than ``--timeout`` seconds (counted as killed: the tests noticed). The
score is killed ÷ all mutants. Surviving mutants are printed with their line so a test can be
written for the ones that matter. Not part of CI: it runs the tests once per mutant::

    python bench/mutation/run.py                         # every target
    python bench/mutation/run.py --target slo-windows --limit 40
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

ROOT = Path(__file__).resolve().parents[2]

#: name: (module path, pytest arguments: the test files that own it)
TARGETS: dict[str, tuple[str, list[str]]] = {
    "slo-windows": ("sre_cli/slo/windows.py", ["tests/slo/test_slo_spec.py"]),
    "slo-engine": (
        "sre_cli/slo/engine.py",
        ["tests/slo/test_slo_engine.py", "tests/slo/test_slo_spec.py"],
    ),
    "slo-rules": (
        "sre_cli/slo/rules.py",
        ["tests/slo/test_slo_rules.py", "tests/slo/test_slo_spec.py"],
    ),
    # The same, without the promtool tier scenarios (a minute and a half per run): golden
    # files and promtool check only.
    "slo-rules-fast": (
        "sre_cli/slo/rules.py",
        ["tests/slo/test_slo_rules.py", "-k", "not tier"],
    ),
    "api-auth": (
        "service/api/security.py",
        ["tests/service/api/test_api_auth.py", "tests/service/api/test_api_units.py"],
    ),
}

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
}


@dataclass(frozen=True)
class Mutant:
    index: int  # the n-th mutable site in walk order
    line: int
    what: str


def _number(value: object) -> TypeGuard[int | float]:
    """An int or a float constant; not a bool, whose type is a subclass of int."""
    return type(value) in (int, float)


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _CMP_SWAP:
            yield node, f"{type(node.ops[0]).__name__} -> {_CMP_SWAP[type(node.ops[0])].__name__}"
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN_SWAP:
            yield node, f"{type(node.op).__name__} -> {_BIN_SWAP[type(node.op)].__name__}"
        elif isinstance(node, ast.BoolOp):
            yield node, "and <-> or"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "drop not"
        elif isinstance(node, ast.Constant) and _number(node.value):
            yield node, f"{node.value!r} -> {node.value + 1!r}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield node, f"{node.value} -> {not node.value}"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of docstring constants (not mutated)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            out.add(id(first.value))
    return out


def mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [
        Mutant(i, getattr(node, "lineno", 0), what)
        for i, (node, what) in enumerate(s for s in _sites(tree) if id(s[0]) not in skip)
    ]


def apply(source: str, mutant: Mutant) -> str:
    tree = ast.parse(source)
    skip = _docstrings(tree)
    sites = [s for s in _sites(tree) if id(s[0]) not in skip]
    node, _ = sites[mutant.index]
    if isinstance(node, ast.Compare):
        node.ops = [_CMP_SWAP[type(node.ops[0])](), *node.ops[1:]]
    elif isinstance(node, ast.BinOp):
        node.op = _BIN_SWAP[type(node.op)]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        # `not x` becomes `(x)`: replace the node's operator with unary plus on a bool() call.
        replacement = ast.Call(ast.Name("bool", ast.Load()), [copy.deepcopy(node.operand)], [])
        node.op = ast.UAdd()
        node.operand = replacement
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        node.value = not node.value
    elif isinstance(node, ast.Constant) and _number(node.value):
        node.value = node.value + 1
    return ast.unparse(ast.fix_missing_locations(tree))


def _copy_tree(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def run_tests(tree: Path, tests: list[str], timeout: float) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=tree,
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if done.returncode == 0 else "killed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", choices=sorted(TARGETS))
    parser.add_argument("--limit", type=int, default=0, help="at most this many mutants each")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aqua-mutation-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        totals: dict[str, tuple[int, int]] = {}
        for name in args.target or [t for t in TARGETS if not t.endswith("-fast")]:
            module, tests = TARGETS[name]
            path = tree / module
            original = path.read_text()
            baseline = run_tests(tree, tests, args.timeout)
            if baseline != "survived":
                raise SystemExit(f"{name}: the tests fail before any mutation ({baseline})")
            found = mutants(original)
            if args.limit:
                found = found[: args.limit]
            killed = 0
            try:
                for m in found:
                    path.write_text(apply(original, m))
                    outcome = run_tests(tree, tests, args.timeout)
                    killed += outcome != "survived"
                    if outcome == "survived":
                        print(f"SURVIVED {module}:{m.line}: {m.what}", flush=True)
            finally:
                path.write_text(original)
            totals[name] = (killed, len(found))
            print(f"{name}: {killed}/{len(found)} killed", flush=True)
    print()
    print("| target | module | mutants | killed | score |\n|---|---|---:|---:|---:|")
    for name, (killed, total) in totals.items():
        score = killed / total if total else 1.0
        print(f"| {name} | `{TARGETS[name][0]}` | {total} | {killed} | {score:.0%} |")
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

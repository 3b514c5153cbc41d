"""Mutation check: how many small wrong versions of the code do the tests catch?

A small AST mutator (no third-party tool) makes one mutant per site of each target module,
one change at a time: a comparison flipped or loosened, ``+``/``-`` and ``*``/``/`` swapped,
``and``/``or`` swapped, a ``not`` dropped, a number moved by one, ``True``/``False`` swapped.
Only the mutated expression's text changes (the rest of the file, its line numbers included,
stays as it is). A mutant is *killed* when a test fails, *survives* when the tests pass, and
*times out* when a test runs past its time limit. A mutant on a line no test reaches is
*uncovered*. The score is killed ÷ all mutants: time-outs, survivors and uncovered mutants are
not killed (the table also gives the score with time-outs counted as killed).

Made to be cheap on a shared machine:

* each module names the test files that own it (``MODULE_TESTS``);
* one traced run of the group's tests records which test reaches which line of which module,
  and how long each test takes (``--trace-cache`` keeps it while code and tests are unchanged);
  a mutant then runs only the tests that reach its lines (all of the module's tests if the
  line runs at import time), fastest first, and stops at the first failure that is not a
  time-out (a test that runs out of time does not hide a later one that fails);
* each test gets a time limit of ``--timeout-factor`` × its traced duration (at least
  ``--min-timeout`` seconds) plus the longest traced test of its file (pytest-timeout), and
  each mutant the sum of its tests' limits, so a mutant that loops is stopped;
* ``--engine fork`` (the default): one pytest session imports pytest, the project and the test
  modules and collects the tests once, then forks a child per mutant that swaps the mutated
  function's code in place and runs the chosen tests in-process (``forkserver.py``); it first
  runs every test unmutated in the same harness, with every function's code swapped for a
  fresh compile of its own file, and stops if one fails. Mutants it cannot reproduce exactly
  (lines that run at import or collection time) go to the fresh engine;
* ``--engine fresh``: a fresh pytest run per mutant on the mutated file, in a child forked
  from a process that has imported pytest and the tests' third-party libraries only.

Not part of CI: run it by hand, it takes from minutes to hours::

    python bench/mutation/run.py                          # every group
    python bench/mutation/run.py --group slo --module sre_cli/slo/windows.py
    python bench/mutation/run.py --group api-auth --json /tmp/auth.json
    python bench/mutation/run.py --group slo --sample 30 --compare   # both engines, same mutants

Survivors are printed with their line and change so that a test can be written for those
that matter; ``--json`` keeps every mutant's outcome and the test that killed it, and
``--report`` prints one table from several runs' files.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import hashlib
import importlib.metadata
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeGuard

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.mutation.forkserver import (  # noqa: E402
    ForkServer,
    Job,
    Outcome,
    Site,
    descendants,
    function_site,
)


def _slo_tests(*names: str) -> list[str]:
    return [f"tests/slo/test_slo_{n}.py" for n in names]


#: module → the test files that own it (what imports it, directly or through the CLI).
MODULE_TESTS: dict[str, dict[str, list[str]]] = {
    "slo": {
        "sre_cli/slo/backtest.py": _slo_tests("backtest", "prometheus"),
        "sre_cli/slo/batch.py": _slo_tests(
            "budget", "engine", "timeslices", "serve", "prometheus", "syntax", "recorded"
        ),
        "sre_cli/slo/engine.py": _slo_tests(
            "budget", "engine", "render", "timeslices", "serve", "prometheus", "recorded"
        ),
        "sre_cli/slo/gate.py": _slo_tests("engine", "prometheus"),
        "sre_cli/slo/html_report.py": _slo_tests("render", "engine", "html", "prometheus"),
        "sre_cli/slo/lint.py": _slo_tests("loader", "spec", "syntax", "field", "prometheus"),
        "sre_cli/slo/loader.py": _slo_tests("loader", "spec", "cli", "field", "engine"),
        "sre_cli/slo/openslo.py": _slo_tests("spec", "field"),
        "sre_cli/slo/openslo_alpha.py": _slo_tests("spec", "field"),
        "sre_cli/slo/recorded.py": _slo_tests("recorded", "rules"),
        "sre_cli/slo/render.py": _slo_tests("render", "engine", "prometheus", "recorded"),
        "sre_cli/slo/rules.py": [
            *_slo_tests("rules", "cli", "field"),
            "tests/runbook/test_runbook_alerts.py",
        ],
        "sre_cli/slo/serve.py": _slo_tests("serve"),
        "sre_cli/slo/spec.py": _slo_tests(
            "spec", "loader", "budget", "engine", "rules", "field", "timeslices"
        ),
        "sre_cli/slo/syntax.py": _slo_tests("syntax", "spec"),
        "sre_cli/slo/timeslices.py": _slo_tests("timeslices", "engine"),
        "sre_cli/slo/windows.py": _slo_tests("windows", "spec", "engine", "rules", "field"),
    },
    # The API's auth path: tokens and passwords, the login guard, the user-state cache, the
    # bearer dependency and the token routes.
    "api-auth": {
        "service/api/security.py": [
            "tests/service/api/test_api_token_edges.py",
            "tests/service/api/test_api_auth.py",
            "tests/service/api/test_api_auth_matrix.py",
            "tests/service/api/test_api_revocation.py",
        ],
        "service/api/loginguard.py": [
            "tests/service/api/test_api_loginguard.py",
            "tests/service/api/test_api_revocation.py",
            "tests/service/api/test_api_auth.py",
            "tests/service/api/test_api_auth_matrix.py",
        ],
        "service/api/userstate.py": [
            "tests/service/api/test_api_revocation.py",
            "tests/service/api/test_api_auth.py",
        ],
        "service/api/deps.py": [
            "tests/service/api/test_api_auth.py",
            "tests/service/api/test_api_auth_matrix.py",
            "tests/service/api/test_api_revocation.py",
        ],
        "service/api/routes/auth.py": [
            "tests/service/api/test_api_auth.py",
            "tests/service/api/test_api_loginguard.py",
            "tests/service/api/test_api_auth_matrix.py",
            "tests/service/api/test_api_revocation.py",
        ],
    },
}

#: Modules whose tests run them in another process (``aqua slo serve`` and ``aqua slo
#: validate`` started as commands): the trace cannot see those lines, so a mutant no traced
#: test reaches runs all the module's own tests (the other process imports the mutated file).
OUT_OF_PROCESS = {"sre_cli/slo/serve.py", "sre_cli/slo/syntax.py"}

#: pytest options of every run of a group (``-m`` keeps the PostgreSQL twins of the SQLite
#: tests out: the auth logic under test is the same on both).
GROUP_OPTIONS: dict[str, list[str]] = {"slo": [], "api-auth": ["-k", "not postgresql"]}
#: Groups whose tests fail when their libraries are imported before the fork (the API's
#: tests do): their children import everything themselves.
NO_PREIMPORT = {"api-auth"}

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
    module: str
    index: int  # the n-th mutable site in walk order
    line: int
    end_line: int
    what: str


# ---- making mutants ------------------------------------------------------------------------


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


def _mutable_sites(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    """Every site but docstrings."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            skip.add(id(first.value))
    return [s for s in _sites(tree) if id(s[0]) not in skip]


def mutants(module: str, source: str) -> list[Mutant]:
    return [
        Mutant(module, i, getattr(node, "lineno", 0), getattr(node, "end_lineno", 0), what)
        for i, (node, what) in enumerate(_mutable_sites(ast.parse(source)))
    ]


def _mutate(node: ast.AST) -> ast.expr:
    """The mutated copy of ``node``."""
    new = copy.deepcopy(node)
    if isinstance(new, ast.Compare):
        new.ops = [_CMP_SWAP[type(new.ops[0])](), *new.ops[1:]]
    elif isinstance(new, ast.BinOp):
        new.op = _BIN_SWAP[type(new.op)]()
    elif isinstance(new, ast.BoolOp):
        new.op = ast.Or() if isinstance(new.op, ast.And) else ast.And()
    elif isinstance(new, ast.UnaryOp):  # `not x` becomes `bool(x)`
        return ast.Call(ast.Name("bool", ast.Load()), [new.operand], [])
    elif isinstance(new, ast.Constant) and isinstance(new.value, bool):
        new.value = not new.value
    elif isinstance(new, ast.Constant) and _number(new.value):
        new.value = new.value + 1
    assert isinstance(new, ast.expr)
    return new


def _replace(tree: ast.AST, old: ast.AST, new: ast.expr) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return


def _shape(tree: ast.AST) -> str:
    return ast.dump(tree, include_attributes=False)


def apply(source: str, mutant: Mutant) -> str:
    """``source`` with ``mutant`` applied: the expression's text is replaced in place, padded
    with line breaks inside its parentheses so every other line keeps its number. Where that
    text cannot be found (positions inside f-strings), the whole module is unparsed."""
    tree = ast.parse(source)
    node, _ = _mutable_sites(tree)[mutant.index]
    assert isinstance(node, ast.expr)
    new = _mutate(node)
    expected = ast.parse(source)
    _replace(expected, _mutable_sites(expected)[mutant.index][0], copy.deepcopy(new))
    lines = source.splitlines(keepends=True)
    start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    col, end_col = node.col_offset, node.end_col_offset or 0
    # Offsets are in UTF-8 bytes.
    head = lines[start].encode()[:col].decode(errors="replace")
    tail = lines[end].encode()[end_col:].decode(errors="replace")
    text = "(" + ast.unparse(new) + "\n" * (end - start) + ")"
    candidate = "".join([*lines[:start], head, text, tail, *lines[end + 1 :]])
    try:
        if _shape(ast.parse(candidate)) == _shape(expected):
            return candidate
    except SyntaxError:
        pass
    return ast.unparse(ast.fix_missing_locations(expected))


# ---- forked test runs ----------------------------------------------------------------------


@dataclass
class Trace:
    """Which test reaches which line, from one run of the group's tests."""

    at_import: dict[str, set[int]] = field(default_factory=dict)
    lines: dict[str, dict[str, set[int]]] = field(default_factory=dict)  # test → module → lines
    seconds: dict[str, float] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class _Tracer:
    """A pytest plugin that records the lines of ``modules`` each test runs (every thread)."""

    def __init__(self, tree: Path, modules: list[str]) -> None:
        self.files = {str(tree / m): m for m in modules}
        self.trace = Trace()
        self.bucket: dict[str, set[int]] = {}
        self.trace.at_import = self.bucket

    def _global(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        module = self.files.get(frame.f_code.co_filename)
        if module is None:
            return None
        self.bucket.setdefault(module, set()).add(frame.f_lineno)

        def local(frame: FrameType, event: str, arg: object) -> Callable[..., Any]:
            if event == "line":
                self.bucket.setdefault(module, set()).add(frame.f_lineno)
            return local

        return local

    def start(self) -> None:
        threading.settrace(self._global)
        sys.settrace(self._global)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self.bucket = self.trace.lines.setdefault(item.nodeid, {})
        self.trace.order.append(item.nodeid)
        yield
        self.bucket = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.trace.seconds[report.nodeid] = self.trace.seconds.get(report.nodeid, 0.0) + float(
            report.duration
        )
        if report.failed:
            self.trace.failed.append(report.nodeid)


class _Outcome(Outcome):
    """``Outcome``, with per-test time limits set as the tests are collected; the session
    stops at the first failure other than a time-out (as the fork server's children do)."""

    def __init__(self, limits: dict[str, float]) -> None:
        super().__init__()
        self.limits = limits
        self.session: pytest.Session | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        super().pytest_runtest_logreport(report)
        if self.killer and self.session is not None:
            self.session.shouldstop = f"{self.killer} failed"

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.nodeid in self.limits:
                item.add_marker(pytest.mark.timeout(self.limits[item.nodeid]))


def _forked(tree: Path, args: list[str], plugin: object, deadline: float) -> dict[str, Any]:
    """Run pytest in a forked child (in ``tree``) and return what the child reports.

    The child reports through a pipe: ``{"code": pytest's exit code, **plugin's result}``.
    Past ``deadline`` seconds the child and every process it started are killed.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        code, result = 3, {}
        try:
            log = os.open(tree.parent / "pytest.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(tree)
            sys.path.insert(0, str(tree))
            os.environ["PYTHONPATH"] = str(tree)
            sys.dont_write_bytecode = True
            if isinstance(plugin, _Tracer):
                plugin.start()
            # Libraries imported before the fork include some that are also pytest plugins
            # (anyio, hypothesis): their own asserts are not rewritten, which is harmless.
            quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
            code = int(
                pytest.main(["-p", "no:cacheprovider", "-q", *quiet, *args], plugins=[plugin])
            )
            if isinstance(plugin, _Tracer):
                sys.settrace(None)
                threading.settrace(None)
                trace = plugin.trace
                result = {
                    "at_import": {m: sorted(v) for m, v in trace.at_import.items()},
                    "lines": {
                        t: {m: sorted(v) for m, v in mods.items()}
                        for t, mods in trace.lines.items()
                    },
                    "seconds": trace.seconds,
                    "order": trace.order,
                    "failed": trace.failed,
                    "third_party": _third_party(tree),
                }
            elif isinstance(plugin, Outcome):
                killer = plugin.killer or plugin.timed_out
                result = {"killer": killer, "timed_out": not plugin.killer and bool(killer)}
            elif isinstance(plugin, ForkServer):
                result = {"results": plugin.results}
        except BaseException:  # reported through the log and the exit code
            traceback.print_exc()
        finally:
            with os.fdopen(write_end, "w") as pipe:
                pipe.write(json.dumps({"code": code, **result}))
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    done = threading.Event()

    def reader() -> None:
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    if not done.wait(deadline):
        for victim in [pid, *descendants(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        done.wait(10)
        os.waitpid(pid, 0)
        os.close(read_end)
        return {"code": -1, "killer": "", "timed_out": True}
    os.waitpid(pid, 0)
    os.close(read_end)
    raw = b"".join(chunks)
    return dict(json.loads(raw)) if raw else {"code": -1, "killer": "", "timed_out": False}


def _third_party(tree: Path) -> list[str]:
    """Top-level modules loaded that are not the project's own (to import before forking)."""
    own = (str(tree), str(ROOT), "/work/")
    names = set()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        top = name.split(".")[0]
        if not path or path.startswith(own) or top in ("sre_cli", "service", "bench", "tests"):
            continue
        if "site-packages" in path or path.startswith(sys.base_prefix):
            names.add(name)
    return sorted(names)


def _pytest_plugin_packages() -> set[str]:
    """Top-level packages of the installed pytest plugins: pytest rewrites their asserts when
    it starts, so they must not be imported before."""
    tops = {"_pytest", "pytest", "pluggy"}
    for dist in importlib.metadata.distributions():
        if any(e.group == "pytest11" for e in dist.entry_points):
            for file in dist.files or []:
                if file.suffix == ".py" or len(file.parts) > 1:
                    tops.add(file.parts[0].removesuffix(".py"))
    return tops


def _preimport(names: list[str]) -> None:
    plugins = _pytest_plugin_packages()
    for name in names:
        if name.split(".")[0] in plugins or name.startswith("__") or ".tests" in name:
            continue
        with contextlib.suppress(Exception):  # one failing only costs time in each child
            __import__(name)


# ---- the run -------------------------------------------------------------------------------


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed | survived | timeout | uncovered
    tests: int
    killer: str
    seconds: float
    engine: str = ""  # fork | fresh (which harness ran it); empty when uncovered


def _copy_tree(dest: Path, commit: str | None = None) -> None:
    if commit:  # the tree of that commit, as it was committed
        dest.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _touched(trace: Trace, module: str, first: int, last: int) -> list[str]:
    span = set(range(first, last + 1))
    return [t for t in trace.order if span & trace.lines.get(t, {}).get(module, set())]


def _select(trace: Trace, mutant: Mutant, owners: list[str]) -> list[str]:
    """The tests to run on ``mutant``, fastest first; empty if no test reaches its lines."""
    span = set(range(mutant.line, mutant.end_line + 1))
    if span & trace.at_import.get(mutant.module, set()):
        chosen = [t for t in trace.order if t.split("::")[0] in owners]
    else:  # the module's own tests that reach the lines (others only if none of them does)
        reach = _touched(trace, mutant.module, mutant.line, mutant.end_line)
        chosen = [t for t in reach if t.split("::")[0] in owners] or reach
        if not chosen and mutant.module in OUT_OF_PROCESS:
            chosen = [t for t in trace.order if t.split("::")[0] in owners]
    return sorted(chosen, key=lambda t: trace.seconds.get(t, 0.0))


def _tree_key(tree: Path, parts: list[str]) -> str:
    """A digest of the tree's code and tests and of ``parts``: a stored trace is reused only
    when none of them changed."""
    digest = hashlib.sha256("\0".join(parts).encode())
    for top in ("sre_cli", "service", "tests"):
        for path in sorted((tree / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _trace(
    group: str,
    modules: list[str],
    files: list[str],
    args: argparse.Namespace,
    tree: Path,
) -> tuple[Trace, list[str]]:
    """The trace of the group's tests, and the third-party modules they loaded: from
    ``--trace-cache`` when the tree is the one traced there."""
    options = GROUP_OPTIONS[group]
    cache: Path | None = None
    if args.trace_cache:
        key = _tree_key(tree, [group, *modules, *files, *options])
        cache = args.trace_cache / f"{group}-{key}.json"
    if cache is not None and cache.is_file():
        raw = json.loads(cache.read_text())
        print(f"{group}: trace from {cache}", flush=True)
    else:
        raw = _forked(tree, [*options, *files], _Tracer(tree, modules), args.trace_timeout)
        if raw["code"] != 0 or raw.get("failed"):
            log = (tree.parent / "pytest.log").read_text()[-3000:]
            failed = raw.get("failed")
            raise SystemExit(
                f"{group}: tests fail before any mutation: {failed} ({raw['code']})\n{log}"
            )
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(raw))
    trace = Trace(
        {m: set(v) for m, v in raw["at_import"].items()},
        {t: {m: set(v) for m, v in mods.items()} for t, mods in raw["lines"].items()},
        raw["seconds"],
        raw["order"],
    )
    return trace, list(raw["third_party"])


def _limits(trace: Trace, tests: list[str], args: argparse.Namespace) -> dict[str, float]:
    """Each test's time limit: ``--timeout-factor`` × its traced time (at least
    ``--min-timeout``), plus the longest traced time of a test of its file: a module-scoped
    fixture's set-up is timed as part of whichever test of the file ran first, and that need
    not be the first one a mutant runs."""
    longest: dict[str, float] = {}
    for t, seconds in trace.seconds.items():
        name = t.split("::")[0]
        longest[name] = max(longest.get(name, 0.0), seconds)
    return {
        t: max(args.min_timeout, args.timeout_factor * trace.seconds.get(t, 0.0))
        + longest.get(t.split("::")[0], 0.0)
        for t in tests
    }


def _outcome(m: Mutant, raw: dict[str, Any], log: Path) -> str:
    if raw.get("timed_out"):
        return "timeout"
    if raw.get("code") == 0:
        return "survived"
    if raw.get("code") in (1, 2):  # a test failed, or a test file no longer imports
        return "killed"
    tail = log.read_text()[-3000:] if log.is_file() else ""
    if raw.get("code") == 4 and "found no collectors" in tail:  # a test module broke
        return "killed"
    raise SystemExit(f"{m}: the test run ended with {raw}\n{tail}")


def _say(text: str) -> None:
    """Print on the run's own output, also from a forked child whose stdout is the log."""
    os.write(PROGRESS_FD, (text + "\n").encode())


def _log(args: argparse.Namespace, r: Result) -> None:
    if args.json:  # as it goes, so that a run cut short still tells what it did
        with args.json.with_suffix(".jsonl").open("a") as partial:
            partial.write(json.dumps(asdict(r)) + "\n")
    if r.outcome in ("survived", "uncovered", "timeout"):
        m = r.mutant
        _say(f"  {r.outcome.upper()} {m.module}:{m.line}: {m.what}")


@dataclass
class _Planned:
    mutant: Mutant
    source: str  # the mutated module
    site: Site | None
    at_import: bool
    tests: list[str]


def _plan(
    trace: Trace,
    modules: list[str],
    table: dict[str, list[str]],
    tree: Path,
    args: Any,
    imported_in_tests: bool = False,
) -> tuple[list[_Planned], list[Result]]:
    """The mutants to run (``--limit``, ``--sample``), and those no test reaches;
    ``imported_in_tests``: the modules are first imported inside a test (``NO_PREIMPORT``)."""
    planned: list[_Planned] = []
    uncovered: list[Result] = []
    for module in modules:
        original = (tree / module).read_text()
        parsed = ast.parse(original)
        sites = _mutable_sites(parsed)
        found = mutants(module, original)
        if args.limit:
            found = found[: args.limit]
        for m in found:
            tests = _select(trace, m, table[module])
            span = set(range(m.line, m.end_line + 1))
            at_import = bool(span & trace.at_import.get(module, set()))
            site = function_site(parsed, sites[m.index][0])
            if site is None and (not tests or imported_in_tests):
                # Outside any function body: evaluated at import. Never traced (a string
                # annotation that FastAPI or pydantic evaluates), or traced only inside the
                # test that first imported the module (a group whose tests import it
                # themselves): that test is no owner of the line. Every test of the module,
                # in a fresh run.
                tests = sorted(
                    (t for t in trace.order if t.split("::")[0] in table[module]),
                    key=lambda t: trace.seconds.get(t, 0.0),
                )
                at_import = True
            if not tests:
                uncovered.append(Result(m, "uncovered", 0, "", 0.0))
                continue
            planned.append(_Planned(m, apply(original, m), site, at_import, tests))
    if args.only:
        wanted = {tuple(x.rsplit(":", 1)) for x in args.only}
        planned = [p for p in planned if (p.mutant.module, str(p.mutant.index)) in wanted]
        uncovered = []
    if args.sample:
        chosen = random.Random(args.seed).sample(planned, min(args.sample, len(planned)))
        keep = {id(p) for p in chosen}
        planned = [p for p in planned if id(p) in keep]
        uncovered = []
    return planned, uncovered


def _fresh(
    p: _Planned, tree: Path, trace: Trace, options: list[str], args: argparse.Namespace
) -> Result:
    """A fresh pytest run (in a child forked before the project was imported) on the mutated
    file."""
    m = p.mutant
    path = tree / m.module
    original = path.read_text()
    limits = _limits(trace, p.tests, args)
    path.write_text(p.source)
    started = time.monotonic()
    try:
        raw = _forked(tree, [*options, *p.tests], _Outcome(limits), sum(limits.values()) + 60)
    finally:
        path.write_text(original)
    seconds = time.monotonic() - started
    outcome = _outcome(m, raw, tree.parent / "pytest.log")
    return Result(m, outcome, len(p.tests), str(raw.get("killer", "")), round(seconds, 2), "fresh")


@dataclass
class _Run:
    """What every engine needs of one group's run."""

    group: str
    files: list[str]  # the test files the fork server collects
    modules: list[str]
    tree: Path
    trace: Trace
    args: argparse.Namespace


def _fork_engine(run: _Run, planned: list[_Planned]) -> tuple[list[Result], list[_Planned]]:
    """Run ``planned`` in the fork server: the results, and the mutants it deferred."""
    group, files, modules, tree, trace, args = (
        run.group,
        run.files,
        run.modules,
        run.tree,
        run.trace,
        run.args,
    )
    options = GROUP_OPTIONS[group]
    sanity = Job(-1, tree / modules[0], None, None, False, list(trace.order), {})
    sanity.limits = _limits(trace, sanity.tests, args)
    jobs = [] if args.skip_check else [sanity]
    jobs += [
        Job(i, tree / p.mutant.module, p.source, p.site, p.at_import, p.tests, {})
        for i, p in enumerate(planned)
    ]
    for job in jobs:
        if job.ident >= 0:
            job.limits = _limits(trace, job.tests, args)
    log = tree.parent / "pytest.log"

    def report(job: Job, raw: dict[str, Any]) -> None:  # runs in the server
        if job.ident == -1:
            if raw.get("code") != 0:
                _say(f"{group}: SANITY RUN FAILED: {raw}")
                raise SystemExit(f"{group}: the unmutated tests fail in the fork server: {raw}")
            _say(
                f"{group}: sanity run: {raw.get('ran')} tests pass in the fork server with "
                f"{raw.get('swapped')} functions' code swapped for a fresh compile, "
                f"{raw.get('seconds')} s"
            )
            return
        if "deferred" in raw or "error" in raw:
            return
        p = planned[job.ident]
        r = Result(
            p.mutant,
            _outcome(p.mutant, raw, log),
            len(job.tests),
            str(raw.get("killer", "")),
            float(raw.get("seconds", 0.0)),
            "fork",
        )
        _log(args, r)

    server = ForkServer(jobs, report, [tree / m for m in modules])
    raw = _forked(tree, [*options, *files], server, 30 * 24 * 3600.0)
    got: dict[str, dict[str, Any]] = raw.get("results") or {}
    if "-1" not in got and not args.skip_check:
        tail = log.read_text()[-3000:] if log.is_file() else ""
        raise SystemExit(f"{group}: the fork server ended early: {raw.get('code')}\n{tail}")
    results: list[Result] = []
    deferred: list[_Planned] = []
    for i, p in enumerate(planned):
        one = got.get(str(i))
        if one is None or "error" in one:
            raise SystemExit(f"{p.mutant}: no result from the fork server: {one}")
        if one.get("deferred"):
            deferred.append(p)
            continue
        outcome = _outcome(p.mutant, one, log)
        killer, seconds = str(one.get("killer", "")), float(one.get("seconds", 0.0))
        results.append(Result(p.mutant, outcome, len(p.tests), killer, seconds, "fork"))
    return results, deferred


def _run_fresh(run: _Run, planned: list[_Planned]) -> list[Result]:
    results = []
    for p in planned:
        results.append(_fresh(p, run.tree, run.trace, GROUP_OPTIONS[run.group], run.args))
        _log(run.args, results[-1])
    return results


def _engines(run: _Run, engine: str, planned: list[_Planned]) -> list[Result]:
    group, tree, args = run.group, run.tree, run.args
    if engine == "fresh":
        if not args.skip_check:
            options = [*GROUP_OPTIONS[group], *run.files]
            check = _forked(tree, options, _Outcome({}), args.trace_timeout)
            if check["code"] != 0:
                log = (tree.parent / "pytest.log").read_text()[-3000:]
                raise SystemExit(f"{group}: the tests fail in a forked run: {check}\n{log}")
        return _run_fresh(run, planned)
    done, deferred = _fork_engine(run, planned)
    _say(f"{group}: {len(done)} mutants run in the fork server, {len(deferred)} deferred")
    return done + _run_fresh(run, deferred)


def run_group(
    group: str,
    only: list[str],
    args: argparse.Namespace,
    tree: Path,
    previous: dict[Mutant, Result],
) -> list[Result]:
    """Every mutant of the group's modules (``only`` those if given); a mutant found in
    ``previous`` keeps its outcome there (``--recheck``: only the survivors run again)."""
    table = MODULE_TESTS[group]
    modules = [m for m in table if not only or m in only]
    if previous:  # only modules with a mutant to run again need the trace
        redo = {m for m in modules for x in mutants(m, (tree / m).read_text()) if x not in previous}
        modules = [m for m in modules if m in redo]
        if not modules:
            return []
    files = sorted({f for m in modules for f in table[m]})
    started = time.monotonic()
    if args.tests:  # no trace: every mutant runs these test files
        raw = _forked(tree, [*GROUP_OPTIONS[group], *args.tests], _Tracer(tree, []), 1800.0)
        trace = Trace(
            {m: set(range(1, 100_000)) for m in modules}, {}, raw["seconds"], raw["order"]
        )
        third_party: list[str] = raw["third_party"]
        files = args.tests
        table = dict.fromkeys(modules, args.tests)
    else:
        # The whole group's trace, whatever --module asks: one stored trace serves every
        # subset (runs of parts of a group side by side).
        every = sorted({f for fs in MODULE_TESTS[group].values() for f in fs})
        trace, third_party = _trace(group, list(MODULE_TESTS[group]), every, args, tree)
        files = every  # a mutant may run a test of another module's files
    if args.trace_only:
        return []
    if group not in NO_PREIMPORT:
        _preimport(third_party)
    print(
        f"{group}: traced {len(trace.order)} tests of {len(files)} files in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )
    planned, results = _plan(trace, modules, table, tree, args, group in NO_PREIMPORT)
    planned = [p for p in planned if p.mutant not in previous]
    results = [r for r in results if r.mutant not in previous]
    for r in results:
        _log(args, r)
    run = _Run(group, files, modules, tree, trace, args)
    if args.compare:
        return results + _compare(run, planned)
    results += _engines(run, args.engine, planned)
    order = {m: i for i, m in enumerate(modules)}
    results.sort(key=lambda r: (order[r.mutant.module], r.mutant.index))
    for module in modules:
        mine = [r for r in results if r.mutant.module == module]
        killed = sum(r.outcome == "killed" for r in mine)
        print(f"{module}: {killed}/{len(mine)} killed", flush=True)
    return results


def _compare(run: _Run, planned: list[_Planned]) -> list[Result]:
    """The same mutants through both engines, one after the other: outcomes and times."""
    args = run.args
    runs: dict[str, tuple[list[Result], float, str, str]] = {}
    for engine in ("fresh", "fork"):
        before = _load()
        started = time.monotonic()
        # The fresh engine's check run is left out; the fork server's sanity run is part of
        # its time.
        args.skip_check = engine == "fresh"
        done = _engines(run, engine, planned)
        runs[engine] = (done, time.monotonic() - started, before, _load())
    fresh = {r.mutant: r for r in runs["fresh"][0]}
    fork = {r.mutant: r for r in runs["fork"][0]}
    print("\n| mutant | tests | fresh: outcome | s | fork: outcome | path | s |")
    print("|---|---:|---|---:|---|---|---:|")
    for p in planned:
        a, b = fresh[p.mutant], fork[p.mutant]
        mark = "" if a.outcome == b.outcome else " **differs**"
        print(
            f"| `{p.mutant.module}:{p.mutant.line}` {p.mutant.what} | {len(p.tests)} | "
            f"{a.outcome} | {a.seconds:.1f} | {b.outcome}{mark} | {b.engine} | {b.seconds:.1f} |"
        )
    for engine, (done, wall, before, after) in runs.items():
        print(
            f"{engine}: {len(done)} mutants in {wall:.0f} s wall "
            f"(load average {before} before, {after} after)"
        )
    same = sum(fresh[p.mutant].outcome == fork[p.mutant].outcome for p in planned)
    print(f"same outcome: {same}/{len(planned)}", flush=True)
    return runs["fork"][0]


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def summary(results: list[Result], totals: dict[str, int] | None = None) -> str:
    """The table: per module and for all, the outcomes and the score (killed ÷ mutants run;
    with ``totals``, each module's number of mutants, so those not run show)."""
    head = "| module | mutants | run | killed | timeouts | survived | uncovered | score "
    rows = [head + "| score, timeouts as killed |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def row(name: str, mine: list[Result], total: int) -> str:
        count = {o: sum(r.outcome == o for r in mine) for o in OUTCOMES}
        n = len(mine) or 1
        return (
            f"| {name} | {total} | {len(mine)} | {count['killed']} | {count['timeout']} | "
            f"{count['survived']} | {count['uncovered']} | {count['killed'] / n:.1%} | "
            f"{(count['killed'] + count['timeout']) / n:.1%} |"
        )

    modules = sorted({r.mutant.module for r in results} | set(totals or {}))
    for m in modules:
        mine = [r for r in results if r.mutant.module == m]
        rows.append(row(f"`{m}`", mine, (totals or {}).get(m, len(mine))))
    rows.append(row("**all**", results, sum((totals or {}).values()) or len(results)))
    return "\n".join(rows)


OUTCOMES = ("killed", "timeout", "survived", "uncovered")
#: The run's own standard output (a forked child's is its pytest log).
PROGRESS_FD = os.dup(1)


def _load_results(path: Path) -> list[Result]:
    text = path.read_text()
    items = (
        json.loads(text)
        if path.suffix == ".json"
        else [json.loads(x) for x in text.split("\n") if x]
    )
    return [Result(**{**item, "mutant": Mutant(**item["mutant"])}) for item in items]


def _report(paths: list[Path]) -> int:
    """One table from the results of several runs (a later file's outcome wins)."""
    merged: dict[Mutant, Result] = {}
    for path in paths:
        merged |= {r.mutant: r for r in _load_results(path)}
    results = sorted(merged.values(), key=lambda r: (r.mutant.module, r.mutant.index))
    for group, table in MODULE_TESTS.items():
        # Only the mutants of the modules as they are now (a run of older code may differ).
        now = {m: set(mutants(m, (ROOT / m).read_text())) for m in table}
        mine = [r for r in results if r.mutant in now.get(r.mutant.module, set())]
        if mine:
            totals = {m: len(v) for m, v in now.items()}
            print(f"\n{group}\n\n{summary(mine, totals)}\n")
            for r in mine:
                if r.outcome != "killed":
                    print(
                        f"  {r.outcome.upper()} {r.mutant.module}:{r.mutant.line}: {r.mutant.what}"
                    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", action="append", choices=sorted(MODULE_TESTS))
    parser.add_argument("--module", action="append", default=[], help="only this module")
    parser.add_argument("--limit", type=int, default=0, help="at most this many mutants each")
    parser.add_argument(
        "--sample", type=int, default=0, help="only this many covered mutants, drawn at random"
    )
    parser.add_argument("--seed", type=int, default=1, help="of --sample's draw")
    parser.add_argument(
        "--only", action="append", default=[], help="only this mutant (MODULE:INDEX), repeatable"
    )
    parser.add_argument(
        "--engine",
        choices=("fork", "fresh"),
        default="fork",
        help="fork: the fork server (default); fresh: a fresh pytest run per mutant",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run the mutants through both engines and print outcomes and times side by side",
    )
    parser.add_argument("--commit", help="mutate the code and run the tests of this commit")
    parser.add_argument("--min-timeout", type=float, default=20.0)
    parser.add_argument("--timeout-factor", type=float, default=10.0)
    parser.add_argument("--trace-timeout", type=float, default=1800.0)
    parser.add_argument(
        "--trace-cache",
        type=Path,
        help="keep each group's trace in this directory and reuse it while the code and "
        "tests are unchanged",
    )
    parser.add_argument(
        "--trace-only", action="store_true", help="only trace (into --trace-cache), no mutant"
    )
    parser.add_argument("--json", type=Path, help="write every mutant's outcome here")
    parser.add_argument(
        "--recheck",
        type=Path,
        nargs="+",
        help="--json (or .jsonl) files of an earlier run: run again only the mutants not killed "
        "there (and those they do not hold); the others keep their outcome",
    )
    parser.add_argument(
        "--recheck-only",
        action="append",
        choices=("timeout", "survived", "uncovered"),
        help="with --recheck: run again only the mutants of this outcome (repeatable)",
    )
    parser.add_argument(
        "--tests",
        nargs="+",
        help="run these test files on every mutant instead of those that reach its lines "
        "(with --recheck: do newly written tests kill the earlier survivors?)",
    )
    parser.add_argument(
        "--skip-check",
        action="store_true",
        help="skip the run of the unmutated tests (in the fork server, or a fresh child)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        help="print the table of these --json (or .jsonl) files, one run's parts, and stop",
    )
    args = parser.parse_args()
    if args.report:
        return _report(args.report)
    previous: dict[Mutant, Result] = {}
    again = set(args.recheck_only or ("timeout", "survived", "uncovered"))
    for path in args.recheck or []:
        for r in _load_results(path):
            if r.outcome not in again:
                previous[r.mutant] = r
    started = time.monotonic()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="aqua-mutation-") as tmp:
        tree = Path(tmp) / "tree"
        _copy_tree(tree, args.commit)
        for group in args.group or list(MODULE_TESTS):
            print(f"{group}: load average {_load()}", flush=True)
            done = run_group(group, args.module, args, tree, previous)
            kept = [r for r in previous.values() if r.mutant.module in MODULE_TESTS[group]]
            kept = [r for r in kept if r.mutant not in {d.mutant for d in done}]
            kept = [r for r in kept if not args.module or r.mutant.module in args.module]
            done = kept + done
            results += done
            print(f"\n{group} (load average {_load()})\n\n{summary(done)}\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    print(f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

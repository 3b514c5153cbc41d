"""The fork server of the mutation check: one pytest session, many mutants.

The server is a pytest session over a group's test files that has imported pytest, the project
and the test modules and collected the tests once. It then forks a child per mutant. Before the
fork the mutated source is written over the module's file (so that a module imported later, and
any process a test starts, reads the mutant, as in a fresh run); in the child the mutated
function's code object replaces the loaded one (``function.__code__``, every function object
made from that definition), and the child runs the chosen tests in-process through pytest's own
test protocol (fixtures, markers and per-test time limits as in a normal run), stopping at the
first failure. What a child tells: which test failed first, and whether it timed out.

A mutant this cannot reproduce exactly is *deferred* to a fresh pytest run (the caller's
concern): one whose lines ran while the modules were imported or the tests collected (a
module-level constant, a decorator, a default argument, a function called at import), one
outside any function's body, or one whose function object or code cannot be found.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FunctionType
from typing import Any

import pytest

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class Site:
    """The module-level function or method whose body holds a mutated expression."""

    qualname: str
    first_line: int  # the line of its first decorator, or of ``def``: ``co_firstlineno``


def function_site(tree: ast.Module, node: ast.AST) -> Site | None:
    """Where ``node`` runs, if only when a function defined at module or class level is called;
    ``None`` if it runs at import time (module or class body, a decorator, a default value, an
    annotation) or inside a lambda defined there."""
    parents: dict[int, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[id(child)] = parent
    chain: list[ast.AST] = [node]
    while id(chain[-1]) in parents:
        chain.append(parents[id(chain[-1])])
    # chain: node, its parent, ..., the module. The outermost function whose *body* holds node:
    outer: int | None = None
    for i in range(1, len(chain)):
        fn = chain[i]
        if isinstance(fn, _FUNCTIONS):
            body = fn.body if isinstance(fn.body, list) else [fn.body]
            if any(chain[i - 1] is stmt for stmt in body):
                outer = i
    if outer is None:
        return None
    fn = chain[outer]
    if isinstance(fn, ast.Lambda):
        return None
    assert isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
    classes = [c.name for c in reversed(chain[outer + 1 :]) if isinstance(c, ast.ClassDef)]
    first = min([d.lineno for d in fn.decorator_list] + [fn.lineno])
    return Site(".".join([*classes, fn.name]), first)


@dataclass
class Job:
    """One run in the server: a mutant (``source`` written over ``path``), or the sanity run
    (``source`` is ``None``)."""

    ident: int
    path: Path
    source: str | None
    site: Site | None
    at_import: bool  # its lines ran while importing or collecting
    tests: list[str]
    limits: dict[str, float]


@dataclass(eq=False)  # a plugin must be hashable
class Outcome:
    """A pytest plugin in the child: which test failed first other than by running out of
    time (the killer), and which test ran out of time first."""

    killer: str = ""
    timed_out: str = ""
    ran: list[str] = field(default_factory=list)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if (report.when == "call" or report.failed) and report.nodeid not in self.ran:
            self.ran.append(report.nodeid)
        if not report.failed or self.killer:
            return
        # pytest-timeout's own failure, not an exception a test met (httpx.ReadTimeout)
        if "from pytest-timeout" in str(report.longrepr)[-2000:]:
            self.timed_out = self.timed_out or report.nodeid
        else:
            self.killer = report.nodeid


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def wait_child(pid: int, read_end: int, deadline: float) -> dict[str, Any] | None:
    """What the child ``pid`` writes to ``read_end`` before it ends; ``None`` if it runs past
    ``deadline`` seconds (it and every process below it are then killed)."""
    chunks: list[bytes] = []
    until = time.monotonic() + deadline
    try:
        while True:
            left = until - time.monotonic()
            if left <= 0:
                for victim in [pid, *descendants(pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(victim, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
            ready, _, _ = select.select([read_end], [], [], left)
            if ready:
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
    os.waitpid(pid, 0)
    raw = b"".join(chunks)
    return dict(json.loads(raw)) if raw else {"code": -1, "killer": "", "timed_out": False}


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


def _find_code(code: CodeType, site: Site) -> CodeType | None:
    for c in _code_objects(code):
        if c.co_qualname == site.qualname and c.co_firstlineno == site.first_line:
            return c
    return None


class ForkServer:
    """A pytest plugin that takes over the test loop: it runs ``jobs`` one after the other,
    each in a forked child, and hands each result to ``report`` (in the server's process)."""

    def __init__(
        self,
        jobs: Iterable[Job],
        report: Callable[[Job, dict[str, Any]], None],
        targets: list[Path],
        slack: float = 60.0,
    ) -> None:
        self.jobs = jobs
        self.report = report
        self.targets = {str(p) for p in targets}
        self.slack = slack
        self.functions: dict[tuple[str, str], list[FunctionType]] = {}
        self.results: dict[int, dict[str, Any]] = {}

    def _tell(self, job: Job, result: dict[str, Any]) -> None:
        self.results[job.ident] = result
        self.report(job, result)

    # -- in the server ---------------------------------------------------------------------

    def _index(self) -> None:
        """Every function object made from a target module's definitions (by file and
        qualified name): those a test module imported by name are the same objects."""
        self.functions = {}
        for obj in gc.get_objects():
            if isinstance(obj, FunctionType) and obj.__code__.co_filename in self.targets:
                key = (obj.__code__.co_filename, obj.__code__.co_qualname)
                self.functions.setdefault(key, []).append(obj)

    def _loaded(self, path: Path) -> bool:
        name = str(path)
        return any(getattr(m, "__file__", None) == name for m in list(sys.modules.values()) if m)

    def _patches(self, job: Job, source: str) -> list[tuple[FunctionType, CodeType]] | None:
        """The code swaps that make the loaded modules run ``source``'s mutant: none if the
        module is not loaded (it will be imported from the mutated file); ``None`` if this
        cannot be done exactly."""
        if not self._loaded(job.path):
            return []
        if job.site is None or job.at_import:
            return None
        new = _find_code(compile(source, str(job.path), "exec", dont_inherit=True), job.site)
        if new is None:
            return None
        found = [
            f
            for f in self.functions.get((str(job.path), job.site.qualname), [])
            if f.__code__.co_firstlineno == job.site.first_line
        ]
        if not found or any(len(f.__code__.co_freevars) != len(new.co_freevars) for f in found):
            return None
        return [(f, new) for f in found]

    def null_patches(self) -> list[tuple[FunctionType, CodeType]]:
        """Every indexed function's code, compiled afresh from its unmutated file: the sanity
        run swaps them all, so that the swap itself is tested."""
        swaps = []
        for path in sorted(self.targets):
            module = compile(Path(path).read_text(), path, "exec", dont_inherit=True)
            for c in _code_objects(module):
                for f in self.functions.get((path, c.co_qualname), []):
                    if f.__code__.co_firstlineno == c.co_firstlineno:
                        swaps.append((f, c))
        return swaps

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        capman = session.config.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            capman.suspend_global_capture(in_=True)
        self._index()
        items = {item.nodeid: item for item in session.items}
        for job in self.jobs:
            started = time.monotonic()
            missing = [t for t in job.tests if t not in items]
            if missing:
                self._tell(job, {"error": f"tests not collected: {missing[:3]}"})
                continue
            original = job.path.read_text() if job.source is not None else None
            try:
                if job.source is None:
                    patches: list[tuple[FunctionType, CodeType]] | None = self.null_patches()
                else:
                    job.path.write_text(job.source)
                    patches = self._patches(job, job.source)
                if patches is None:
                    self._tell(job, {"deferred": True})
                    continue
                chosen = [items[t] for t in job.tests]
                budget = sum(job.limits.values()) + self.slack
                result = self._fork(session, chosen, job.limits, patches, budget)
            finally:
                if original is not None:
                    job.path.write_text(original)
            result["seconds"] = round(time.monotonic() - started, 2)
            result["swapped"] = len(patches)
            self._tell(job, result)
        return True

    def _fork(
        self,
        session: pytest.Session,
        items: list[pytest.Item],
        limits: dict[str, float],
        patches: list[tuple[FunctionType, CodeType]],
        budget: float,
    ) -> dict[str, Any]:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            result: dict[str, Any] = {"code": 3}
            try:
                result = _run_in_child(session, items, limits, patches)
            except BaseException as exc:  # told through the result
                result = {"code": 3, "error": repr(exc)}
            finally:
                with os.fdopen(write_end, "w") as pipe:
                    pipe.write(json.dumps(result))
                os._exit(0)
        os.close(write_end)
        got = wait_child(pid, read_end, budget)
        if got is None:
            return {"code": -1, "killer": "", "timed_out": True, "budget_exceeded": True}
        return got


def _run_in_child(
    session: pytest.Session,
    items: list[pytest.Item],
    limits: dict[str, float],
    patches: list[tuple[FunctionType, CodeType]],
) -> dict[str, Any]:
    """Swap the code, run ``items`` in order through pytest's test protocol, stop at the
    first failure (``-x``) other than a time-out, tear every fixture down. A test that runs
    out of time (a slow fixture on a loaded machine, or a mutant that loops) does not stop
    the run: a later test may still fail on the mutant, which is then killed; only a mutant
    that no test fails but one runs out of time on is a time-out."""
    for function, code in patches:
        function.__code__ = code
    outcome = Outcome()
    session.config.pluginmanager.register(outcome, "aqua-mutation-outcome")
    for i, item in enumerate(items):
        if item.nodeid in limits:
            item.add_marker(pytest.mark.timeout(limits[item.nodeid]))
        following = items[i + 1] if i + 1 < len(items) else None
        item.ihook.pytest_runtest_protocol(item=item, nextitem=following)
        if outcome.killer:
            break
    session._setupstate.teardown_exact(None)
    return {
        "code": 1 if outcome.killer or outcome.timed_out else 0,
        "killer": outcome.killer or outcome.timed_out,
        "timed_out": not outcome.killer and bool(outcome.timed_out),
        "ran": len(outcome.ran),
    }

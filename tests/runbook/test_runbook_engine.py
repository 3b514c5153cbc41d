"""The engine's rules on an in-memory target: risk levels and confirmations, dry run, verdicts,
transcript.

The target here is a dictionary of component readiness, so each rule is checked exactly; the
same rules against a real stack and a real cluster are in ``test_runbook_stack.py`` and
``test_runbook_k8s.py``.
"""

from __future__ import annotations

import functools
import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from sre_cli.errors import Aborted, CheckFailed, ConfigError, Unavailable, UsageError
from sre_cli.ops.context import RunContext
from sre_cli.ops.operations import Operation, StackOp, WaitOp
from sre_cli.ops.outcome import ActionPlan, Change, Observation, StepRecord
from sre_cli.runbook.engine import RunOptions, RunReport, run
from sre_cli.runbook.loader import parse_runbook
from sre_cli.runbook.spec import Heading, Prose, Runbook, Step

BOOK = """\
---
title: Replica down
targets: [stack]
parameters:
  replicas: {default: "api-*"}
---
# Replica down

## Triage

```aqua check
stack: {ready: "{replicas}"}
on_fail: continue
```

```aqua diagnose
stack: {logs: "{replicas}", only: not_ready}
```

## Fix

```aqua action
stack: {restart: "{replicas}", only: not_ready}
```

```aqua check
wait: {until: {stack: {ready: "{replicas}"}}, timeout: 300ms, interval: 50ms}
```
"""


class MemoryStack(RunContext):
    """Components and their readiness; ``restart`` makes one ready unless it is ``broken``."""

    def __init__(self, ready: dict[str, bool], broken: frozenset[str] = frozenset()) -> None:
        super().__init__("stack")
        self.ready = dict(ready)
        self.broken = broken
        self.applied: list[str] = []
        self.log_error: Exception | None = None

    def builtins(self) -> dict[str, str]:
        return {"target": "stack", "entry_url": "http://127.0.0.1:9"}

    def _chosen(self, op: StackOp) -> list[str]:
        names = [n for n in self.ready if any(fnmatchcase(n, p) for p in op.names)]
        return [n for n in names if not self.ready[n]] if op.only == "not_ready" else names

    def observe(self, op: Operation) -> Observation:
        if isinstance(op, WaitOp):
            return self.observe(op.until.op)
        assert isinstance(op, StackOp)
        if op.verb == "ready":
            bad = [n for n in self._chosen(op) if not self.ready[n]]
            return Observation(not bad, f"not ready: {', '.join(bad)}" if bad else "all ready")
        if self.log_error is not None:
            raise self.log_error
        return Observation(None, "logs", tuple(f"{n}: boom" for n in self._chosen(op)))

    def plan(self, op: Operation) -> ActionPlan:
        assert isinstance(op, StackOp)
        chosen = self._chosen(op)
        changes = tuple(Change(f"restart {n}", functools.partial(self._restart, n)) for n in chosen)
        return ActionPlan(f"restart {len(chosen)} component(s)" if chosen else "nothing", changes)

    def _restart(self, name: str) -> str:
        self.applied.append(name)
        self.ready[name] = name not in self.broken
        return f"{name} restarting"


class Recorder:
    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.asked: list[int] = []
        self.shown: list[str] = []
        self.finished: list[StepRecord] = []

    def block(self, block: Heading | Prose) -> None:
        self.shown.append(block.text)

    def step_started(self, step: Step, title: str) -> None:
        self.shown.append(f"step {step.number}: {title}")

    def step_finished(self, step: Step, record: StepRecord) -> None:
        self.finished.append(record)

    def confirm(self, step: Step, title: str, plan: ActionPlan) -> bool:
        self.asked.append(step.number)
        return self.answer


@pytest.fixture
def book() -> Runbook:
    return parse_runbook(BOOK, Path("replica-down.md"))


def _run(
    book: Runbook,
    target: MemoryStack,
    tmp_path: Path,
    reporter: Recorder | None = None,
    **options: Any,
) -> tuple[RunReport, list[dict[str, Any]]]:
    path = tmp_path / "transcript.jsonl"
    report = run(book, RunOptions("stack", **options), lambda: target, reporter or Recorder(), path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return report, lines


def _statuses(report: RunReport) -> list[str]:
    return [r.status for r in report.records]


def test_confirmed_run_fixes_and_verifies(book: Runbook, tmp_path: Path) -> None:
    target = MemoryStack({"api-1": False, "api-2": True})
    reporter = Recorder(answer=True)
    report, lines = _run(book, target, tmp_path, reporter, interactive=True)
    assert report.exit_code == 0, report.error
    assert report.outcome == "resolved"
    assert target.applied == ["api-1"]
    assert reporter.asked == [3]
    assert _statuses(report) == ["fail", "info", "done", "pass"]
    assert report.records[1].details == ("api-1: boom",)
    assert report.records[2].changes == ("restart api-1",)
    # Prose and headings are shown in order, steps with their parameters filled in.
    assert reporter.shown[:3] == [
        "Replica down",
        "Triage",
        "step 1: stack components api-* are ready",
    ]
    assert [e["event"] for e in lines] == ["start", "params", "step", "step", "step", "step", "end"]
    assert lines[0]["runbook"] == "replica-down"
    assert lines[1]["params"]["replicas"] == "api-*"
    assert lines[-1] == {**lines[-1], "outcome": "resolved", "exit_code": 0, "error": None}
    assert all(e["ts"].endswith("Z") for e in lines)


def test_declined_action_exits_3_and_changes_nothing(book: Runbook, tmp_path: Path) -> None:
    target = MemoryStack({"api-1": False, "api-2": True})
    report, lines = _run(book, target, tmp_path, Recorder(answer=False), interactive=True)
    assert isinstance(report.error, Aborted)
    assert report.exit_code == 3
    assert "step 3 declined" in report.error.message
    assert target.applied == []
    assert target.ready["api-1"] is False
    assert _statuses(report) == ["fail", "info", "declined"]  # the wait never ran
    assert lines[-1]["outcome"] == "aborted"
    assert lines[-1]["exit_code"] == 3


def test_yes_does_not_ask(book: Runbook, tmp_path: Path) -> None:
    target = MemoryStack({"api-1": False, "api-2": False})
    reporter = Recorder(answer=False)
    report, _ = _run(book, target, tmp_path, reporter, yes=True)
    assert report.exit_code == 0
    assert reporter.asked == []
    assert target.applied == ["api-1", "api-2"]


def test_a_mutate_step_without_yes_or_a_terminal_is_refused(book: Runbook, tmp_path: Path) -> None:
    target = MemoryStack({"api-1": False, "api-2": True})
    reporter = Recorder(answer=True)
    report, lines = _run(book, target, tmp_path, reporter)
    assert isinstance(report.error, Aborted)
    assert report.exit_code == 3
    assert report.error.message == (
        "step 3 (restart api-* (only those not ready)) changes state and needs --yes "
        "(or a confirmation on a terminal); nothing of it was done"
    )
    assert report.error.hint == "resume with --from-step 3 --yes"
    assert reporter.asked == []
    assert target.applied == []
    assert _statuses(report) == ["fail", "info", "declined"]
    assert lines[-2]["risk"] == "mutate"
    assert lines[-1]["exit_code"] == 3


@pytest.mark.parametrize("interactive", [False, True])
def test_a_destructive_step_runs_only_with_yes(
    book: Runbook, tmp_path: Path, interactive: bool
) -> None:
    killing = parse_runbook(BOOK.replace("{restart:", "{kill:"), Path("replica-down.md"))
    target = MemoryStack({"api-1": False, "api-2": True})
    reporter = Recorder(answer=True)
    report, _ = _run(killing, target, tmp_path, reporter, interactive=interactive)
    assert isinstance(report.error, Aborted)
    assert report.exit_code == 3
    assert "is destructive and runs only with --yes" in report.error.message
    assert reporter.asked == []  # a terminal confirmation is not enough
    assert target.applied == []
    assert report.records[2].risk == "destructive"
    report, _ = _run(killing, target, tmp_path, reporter, interactive=interactive, yes=True)
    assert report.exit_code == 0, report.error
    assert target.applied == ["api-1"]
    assert reporter.asked == []


def test_read_steps_run_without_yes(tmp_path: Path) -> None:
    reads = parse_runbook(BOOK.split("## Fix")[0], Path("reads.md"))
    target = MemoryStack({"api-1": False, "api-2": True})
    report, _ = _run(reads, target, tmp_path)
    assert report.exit_code == 0, report.error
    assert [r.risk for r in report.records] == ["read", "read"]
    assert _statuses(report) == ["fail", "info"]


def test_dry_run_changes_nothing_and_asks_nothing(book: Runbook, tmp_path: Path) -> None:
    target = MemoryStack({"api-1": False, "api-2": True})
    reporter = Recorder(answer=True)
    report, lines = _run(book, target, tmp_path, reporter, dry_run=True)
    assert report.exit_code == 0
    assert report.outcome == "dry-run"
    assert target.applied == []
    assert reporter.asked == []
    assert _statuses(report) == ["fail", "info", "would", "would"]
    assert report.records[2].changes == ("restart api-1",)
    assert report.records[3].summary.startswith("would wait up to 0.3s")
    assert [r.risk for r in report.records] == ["read", "read", "mutate", "read"]
    assert lines[0]["dry_run"] is True


def test_failed_check_stops_the_run_with_exit_1(book: Runbook, tmp_path: Path) -> None:
    target = MemoryStack({"api-1": False}, broken=frozenset({"api-1"}))
    report, lines = _run(book, target, tmp_path, yes=True)
    assert isinstance(report.error, CheckFailed)
    assert report.exit_code == 1
    assert report.error.message.startswith("step 4 failed: wait up to 0.3s until")
    assert "not ready: api-1" in report.error.message
    assert report.error.hint == "fix it and resume with --from-step 4"
    assert _statuses(report) == ["fail", "info", "done", "fail"]
    assert lines[-1]["outcome"] == "check-failed"


def test_nothing_to_change_asks_nothing(book: Runbook, tmp_path: Path) -> None:
    target = MemoryStack({"api-1": True, "api-2": True})
    reporter = Recorder(answer=False)
    report, _ = _run(book, target, tmp_path, reporter)
    assert report.exit_code == 0
    assert reporter.asked == []
    assert _statuses(report) == ["pass", "info", "nothing", "pass"]


def test_from_step_skips_earlier_steps(book: Runbook, tmp_path: Path) -> None:
    target = MemoryStack({"api-1": False})
    reporter = Recorder()
    report, _ = _run(book, target, tmp_path, reporter, yes=True, from_step=3)
    assert _statuses(report) == ["skipped", "skipped", "done", "pass"]
    assert "Triage" not in reporter.shown
    assert "Fix" in reporter.shown
    with pytest.raises(UsageError, match="--from-step 5"):
        _run(book, target, tmp_path, from_step=5)


def test_a_diagnostic_that_cannot_gather_does_not_stop_the_run(
    book: Runbook, tmp_path: Path
) -> None:
    target = MemoryStack({"api-1": False})
    target.log_error = Unavailable("the log is gone")
    report, _ = _run(book, target, tmp_path, yes=True)
    assert report.exit_code == 0
    assert report.records[1].status == "error"
    assert report.records[1].summary == "could not gather: the log is gone"


def test_a_target_that_cannot_be_reached_exits_2(book: Runbook, tmp_path: Path) -> None:
    def unreachable() -> RunContext:
        raise ConfigError("no stack in /nowhere")

    path = tmp_path / "t.jsonl"
    report = run(book, RunOptions("stack"), unreachable, Recorder(), path)
    assert report.exit_code == 2
    assert report.outcome == "error"
    assert report.records == []
    end = json.loads(path.read_text().splitlines()[-1])
    assert end["error"] == "no stack in /nowhere"


def test_target_must_be_supported(book: Runbook, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not support target kubernetes"):
        run(book, RunOptions("kubernetes"), lambda: MemoryStack({}), Recorder(), tmp_path / "t")

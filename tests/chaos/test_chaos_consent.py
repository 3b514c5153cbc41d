"""Risk levels decide what an experiment may do without asking, on an in-memory stack.

The same table holds for runbook steps (``tests/runbook/test_runbook_engine.py``); the real
stack and cluster runs are in ``test_chaos_stack.py`` and ``test_chaos_k8s.py``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sre_cli.chaos.engine import ExperimentReport, RunOptions, run
from sre_cli.chaos.experiment import Experiment
from sre_cli.chaos.render import plan_text
from sre_cli.errors import Aborted
from sre_cli.ops.consent import Consent, Decision, highest
from sre_cli.ops.context import RunContext
from sre_cli.ops.operations import Operation, Risk, StackOp
from sre_cli.ops.outcome import ActionPlan, Change, Observation


def experiment(verb: str) -> Experiment:
    return Experiment.model_validate(
        yaml.safe_load(
            f"""
            title: one replica {verb}
            target: stack
            duration: 1m
            steady_state_hypothesis:
              title: api-1 is ready
              probes: [{{name: ready, stack: {{ready: api-1}}}}]
            method: [{{stack: {{{verb}: api-1}}}}]
            rollbacks: [{{stack: {{start: api-1}}}}]
            """
        )
    )


class MemoryStack(RunContext):
    """One component that stays ready; every stack verb is planned and recorded."""

    def __init__(self) -> None:
        super().__init__("stack")
        self.applied: list[str] = []

    def builtins(self) -> dict[str, str]:
        return {"target": "stack", "entry_url": "http://127.0.0.1:9"}

    def observe(self, op: Operation) -> Observation:
        return Observation(True, "ready")

    def plan(self, op: Operation) -> ActionPlan:
        assert isinstance(op, StackOp)
        what = f"{op.verb} {', '.join(op.names)}"
        return ActionPlan(what, (Change(what, functools.partial(self._apply, what)),))

    def _apply(self, what: str) -> str:
        self.applied.append(what)
        return what


def _run(
    verb: str, tmp_path: Path, answer: bool = True, **options: Any
) -> tuple[ExperimentReport, MemoryStack, list[str], list[dict[str, Any]]]:
    ctx = MemoryStack()
    asked: list[str] = []

    def confirm(exp: Experiment, plans: list[ActionPlan]) -> bool:
        asked.append(plan_text(exp, plans))
        return answer

    journal = tmp_path / f"{verb}-{len(list(tmp_path.iterdir()))}.jsonl"
    report = run(experiment(verb), verb, ctx, RunOptions(**options), confirm, journal)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    return report, ctx, asked, lines


@pytest.mark.parametrize(
    ("risk", "yes", "interactive", "decision"),
    [
        ("read", False, False, "run"),
        ("mutate", True, False, "run"),
        ("mutate", False, True, "ask"),
        ("mutate", False, False, "refuse"),
        ("destructive", True, False, "run"),
        ("destructive", False, True, "refuse"),
        ("destructive", False, False, "refuse"),
    ],
)
def test_the_consent_table(risk: Risk, yes: bool, interactive: bool, decision: Decision) -> None:
    assert Consent(yes, interactive).decide(risk) == decision


def test_the_riskiest_action_decides() -> None:
    assert highest(["read", "destructive", "mutate"]) == "destructive"
    assert highest(["read", "mutate"]) == "mutate"
    assert highest([]) == "read"
    assert experiment("kill").method[0].risk == "destructive"
    assert experiment("restart").method[0].risk == "mutate"


def test_a_destructive_method_is_refused_without_yes_even_on_a_terminal(tmp_path: Path) -> None:
    report, ctx, asked, lines = _run("kill", tmp_path, interactive=True)
    assert isinstance(report.error, Aborted)
    assert report.exit_code == 3
    assert report.error.message == (
        "experiment kill is destructive and runs only with --yes; nothing of it was done"
    )
    assert report.outcome == "aborted"
    assert asked == []
    assert ctx.applied == []  # neither injected nor rolled back
    assert lines[-1]["exit_code"] == 3


def test_a_destructive_method_runs_with_yes(tmp_path: Path) -> None:
    report, ctx, asked, lines = _run("kill", tmp_path, yes=True)
    assert report.exit_code == 0, report.error
    assert ctx.applied == ["kill api-1", "start api-1"]
    assert asked == []
    risks = {(e["phase"], e["risk"]) for e in lines if e["event"] in ("method", "rollback")}
    assert risks == {("method", "destructive"), ("rollback", "mutate")}


def test_a_mutate_method_asks_on_a_terminal_and_is_refused_without_one(tmp_path: Path) -> None:
    report, ctx, asked, _ = _run("restart", tmp_path, interactive=True)
    assert report.exit_code == 0, report.error
    assert asked == [
        "one replica restart: the method will\n"
        "  - restart api-1 [mutate: asks first unless --yes]\n"
        "then, whatever happens, roll back:\n"
        "  - start api-1 [mutate: asks first unless --yes]"
    ]
    assert ctx.applied == ["restart api-1", "start api-1"]
    report, ctx, asked, _ = _run("restart", tmp_path, answer=False, interactive=True)
    assert report.exit_code == 3
    assert ctx.applied == []
    report, ctx, asked, _ = _run("restart", tmp_path)
    assert isinstance(report.error, Aborted)
    assert "needs --yes (or a confirmation on a terminal)" in report.error.message
    assert asked == []
    assert ctx.applied == []


def test_a_dry_run_names_each_risk_level_and_changes_nothing(tmp_path: Path) -> None:
    report, ctx, asked, _ = _run("kill", tmp_path, dry_run=True)
    assert report.outcome == "dry-run"
    assert [(r.phase, r.status, r.risk) for r in report.records] == [
        ("before", "pass", "read"),
        ("method", "would", "destructive"),
        ("rollback", "would", "mutate"),
    ]
    assert ctx.applied == []
    assert asked == []

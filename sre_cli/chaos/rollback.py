"""Rollbacks: run every one, whatever happened before, and record each outcome.

A rollback that fails is recorded and the next one still runs; the engine turns any failure
into the run's error once the hypothesis verdict is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from sre_cli.chaos.blast import BlastRadius
from sre_cli.chaos.method import Action, plan_action
from sre_cli.errors import AquaError
from sre_cli.ops.operations import Risk

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext

__all__ = ["RecordFn", "run_rollbacks"]


class RecordFn(Protocol):
    """Records one phase of a run: phase, title, status, summary and the risk level."""

    def __call__(
        self, phase: str, title: str, status: str, summary: str, risk: Risk = "read"
    ) -> object: ...


def run_rollbacks(
    ctx: RunContext,
    actions: Sequence[Action],
    radius: BlastRadius,
    record: RecordFn,
) -> list[str]:
    """Apply every rollback in order, telling ``record`` (phase, title, status, summary) how
    each went; the messages of those that failed."""
    failed: list[str] = []
    for action in actions:
        title = action.describe()
        try:
            plan = plan_action(ctx, action, radius)
            done = [change.apply() for change in plan.changes]
        except AquaError as exc:
            failed.append(f"{title}: {exc.message}")
            record("rollback", title, "error", exc.message, action.risk)
            continue
        record("rollback", title, "done", "; ".join(done) or plan.summary, action.risk)
    return failed

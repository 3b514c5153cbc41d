"""What a step found or would change (observations, action plans, step records), and how a
finished run reports its end.

Providers return an :class:`Observation` for anything that only reads (``ok`` is the verdict
of a check, ``None`` for a diagnostic) and an :class:`ActionPlan` for an action: the concrete
changes, each with the function that makes it. The engine shows the plan, asks, and applies
exactly the changes that were confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sre_cli.ops.operations import Risk

if TYPE_CHECKING:
    from sre_cli.errors import AquaError

__all__ = ["ActionPlan", "Change", "Observation", "RunEnd", "Status", "StepRecord"]

#: pass/fail: a check's verdict; info: a diagnostic ran; done: an action's changes were made;
#: nothing: an action found nothing to change; would: dry run; declined: the operator said no,
#: or its risk level needs --yes and there was none; skipped: before --from-step; error: the
#: step could not run.
Status = Literal["pass", "fail", "info", "done", "nothing", "would", "declined", "skipped", "error"]


@dataclass(frozen=True)
class Observation:
    ok: bool | None
    summary: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    summary: str
    apply: Callable[[], str]


@dataclass(frozen=True)
class ActionPlan:
    summary: str
    changes: tuple[Change, ...] = ()
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepRecord:
    """One step of a run, as the transcript and ``--format json`` report it."""

    number: int
    kind: str
    title: str
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    seconds: float = 0.0
    #: the risk level of the step's operation (:mod:`sre_cli.ops.consent`)
    risk: Risk = "read"

    def to_json(self) -> dict[str, object]:
        return {
            "step": self.number,
            "kind": self.kind,
            "title": self.title,
            "risk": self.risk,
            "status": self.status,
            "summary": self.summary,
            "details": list(self.details),
            "changes": list(self.changes),
            "seconds": round(self.seconds, 3),
        }


class RunEnd:
    """How a finished run (a runbook, a chaos experiment) reports its end, the same way in the
    transcript's ``end`` record and in ``--format json``: the outcome, the error that ended it
    (``None``: it succeeded), the exit code that follows, and how long it took."""

    outcome: str
    error: AquaError | None
    seconds: float

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code

    def verdict_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "error": self.error.message if self.error else None,
        }

    def end_json(self) -> dict[str, object]:
        """The transcript's ``end`` record."""
        return {**self.verdict_json(), "seconds": round(self.seconds, 3)}

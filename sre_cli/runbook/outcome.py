"""What a step found or would change: observations, action plans and step records.

Providers return an :class:`Observation` for anything that only reads (``ok`` is the verdict
of a check, ``None`` for a diagnostic) and an :class:`ActionPlan` for an action: the concrete
changes, each with the function that makes it. The engine shows the plan, asks, and applies
exactly the changes that were confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["ActionPlan", "Change", "Observation", "Status", "StepRecord"]

#: pass/fail: a check's verdict; info: a diagnostic ran; done: an action's changes were made;
#: nothing: an action found nothing to change; would: dry run; declined: the operator said no;
#: skipped: before --from-step; error: the step could not run.
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

    def to_json(self) -> dict[str, object]:
        return {
            "step": self.number,
            "kind": self.kind,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "details": list(self.details),
            "changes": list(self.changes),
            "seconds": round(self.seconds, 3),
        }

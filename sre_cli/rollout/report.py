"""The result of ``aqua rollout canary|blue-green``: the plan, each step, the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sre_cli.rollout.analysis import Analysis
    from sre_cli.rollout.plan import RolloutPlan, Step
    from sre_cli.rollout.preview import LoadFigures

__all__ = ["Outcome", "RolloutReport", "StepRecord"]

Outcome = Literal["planned", "promoted", "aborted"]
#: what a step's window judged: a share of the live traffic (canary), green on its own
#: synthetic load before any Service moves (``preview``), green on the live traffic after
Phase = Literal["traffic", "preview", "live"]


@dataclass
class StepRecord:
    step: Step
    ready_s: float = 0.0
    analyses: int = 0
    last: Analysis | None = None
    verdict: str = "running"
    phase: Phase = "traffic"
    load: LoadFigures | None = None  # the synthetic load of a preview

    def to_json(self) -> dict[str, Any]:
        return {
            **self.step.to_json(),
            "phase": self.phase,
            "load": None if self.load is None else self.load.to_json(),
            "ready_s": round(self.ready_s, 2),
            "analyses": self.analyses,
            "verdict": self.verdict,
            "analysis": None if self.last is None else self.last.to_json(),
        }


@dataclass
class RolloutReport:
    plan: RolloutPlan
    dry_run: bool
    outcome: Outcome = "planned"
    reason: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    seconds: float = 0.0
    #: from the failing analysis to the canary serving nothing (aborted runs)
    rollback_s: float | None = None
    #: from the last passed step to the stable Deployment rolled and the canary gone
    promotion_s: float | None = None
    journal: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.outcome == "aborted" else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(),
            "dry_run": self.dry_run,
            "outcome": self.outcome,
            "reason": self.reason,
            "steps": [s.to_json() for s in self.steps],
            "seconds": round(self.seconds, 2),
            "rollback_s": None if self.rollback_s is None else round(self.rollback_s, 2),
            "promotion_s": None if self.promotion_s is None else round(self.promotion_s, 2),
            "journal": self.journal,
        }

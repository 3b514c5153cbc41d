"""What both strategies share: the journal, the analysis loop of a step, rollback.

A step's window opens when its pods are Ready. Every ``check_every_s`` the analysis runs over
``[window start, now]``; a failing analysis ends the step at once (the rollback starts within
one check of the budget burning), and at ``interval_s`` the last analysis must pass::

    driver = Driver(plan, work, analyst, journal)
    record = driver.watch(step, track="canary")      # StepRecord with its verdict
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sre_cli.rollout.preview import Preview, synthetic_load
from sre_cli.rollout.report import Phase, RolloutReport, StepRecord
from sre_cli.rollout.workloads import Workloads, wait_ready

if TYPE_CHECKING:
    from sre_cli.rollout.analysis import Analysis
    from sre_cli.rollout.plan import RolloutPlan, Step

__all__ = ["Analyst", "Clock", "Driver", "Journal"]


class Analyst(Protocol):
    """Judges ``track`` (against the stable pods) over ``[start, at]``."""

    def __call__(self, track: str, start: float, at: float) -> Analysis: ...


class Journal(Protocol):
    def write(self, event: str, fields: dict[str, object]) -> None: ...


@dataclass
class Clock:
    """Wall time for the analysis windows, and the waits between analyses."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Driver:
    plan: RolloutPlan
    work: Workloads
    analyst: Analyst
    journal: Journal
    clock: Clock = field(default_factory=Clock)
    ready_timeout: float = 300.0
    #: the load a blue-green preview judges green on (tests pass their own)
    preview: Preview = synthetic_load

    def __post_init__(self) -> None:
        self.report = RolloutReport(self.plan, dry_run=False)
        self._t0 = time.monotonic()

    def log(self, event: str, **fields: Any) -> None:
        self.journal.write(event, fields)

    def wait(self, name: str, replicas: int | None) -> float:
        return wait_ready(self.work, name, replicas, timeout=self.ready_timeout)

    def watch(self, step: Step, track: str, phase: Phase = "traffic") -> StepRecord:
        """Analyse ``track`` through the step's interval; the record's verdict says how it ended."""
        record = StepRecord(step, phase=phase)
        self.report.steps.append(record)
        start = self.clock.now()
        deadline = start + self.plan.interval_s
        while True:
            now = self.clock.now()
            self.clock.sleep(max(0.0, min(self.plan.check_every_s, deadline - now)))
            at = self.clock.now()
            analysis = self.analyst(track, start, at)
            record.analyses += 1
            record.last = analysis
            self.log("analysis", step=step.index, track=track, phase=phase, **analysis.to_json())
            if analysis.verdict == "fail":
                record.verdict = "fail"
                return record
            if at >= deadline:
                record.verdict = analysis.verdict
                return record

    def remove(self, name: str) -> None:
        """Scale ``name`` to 0, wait until its pods are gone, delete it."""
        self.work.scale(name, 0)
        self.wait(name, 0)
        self.work.delete(name)

    def abort(self, record: StepRecord, rollback: Callable[[], None]) -> RolloutReport:
        """Roll back at once; the journal gets the decision with the analysis' figures."""
        reasons = record.last.reasons if record.last is not None else []
        why = "; ".join(reasons) or f"step {record.step.index} was {record.verdict}"
        self.decide(record, "abort", reasons=reasons)
        t0 = time.monotonic()
        rollback()
        self.report.rollback_s = time.monotonic() - t0
        self.report.outcome = "aborted"
        self.report.reason = why
        self.log("aborted", reason=why, rollback_s=round(self.report.rollback_s, 2))
        return self.finish()

    def passed(self, record: StepRecord) -> None:
        self.decide(record, "continue")

    def decide(self, record: StepRecord, decision: str, **extra: Any) -> None:
        """The journal's ``decision`` event: the step, its phase and verdict, the figures."""
        analysis = record.last
        self.log(
            "decision",
            decision=decision,
            step=record.step.index,
            phase=record.phase,
            verdict=record.verdict,
            **extra,
            figures=None if analysis is None else [j.to_json() for j in analysis.judgements],
        )

    def roll_stable(self, stable: dict[str, Any]) -> None:
        """The stable Deployment takes the new template (``track=stable``) and rolls, to as
        many replicas as it asks for while it rolls (its autoscaler may change them)."""
        from sre_cli.rollout.templates import track_template

        plan = self.plan
        self.log("promote", deployment=plan.deployment, image=plan.image)
        self.work.set_template(plan.deployment, track_template(stable, plan, "stable"))
        wait_ready(self.work, plan.deployment, None, timeout=self.ready_timeout)

    def promoted(self, started: float, why: str) -> RolloutReport:
        """Record the promotion that began at ``started`` (monotonic) and finish."""
        self.report.promotion_s = time.monotonic() - started
        self.report.outcome = "promoted"
        self.report.reason = f"{why}; deployment/{self.plan.deployment} runs {self.plan.image}"
        self.log("promoted", promotion_s=round(self.report.promotion_s, 2))
        return self.finish()

    def finish(self) -> RolloutReport:
        self.report.seconds = time.monotonic() - self._t0
        return self.report

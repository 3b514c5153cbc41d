"""Run a runbook: steps in order, actions confirmed, everything written to a transcript.

- ``diagnose`` steps show what they find; one that cannot gather its data says so and the
  run goes on (a missing log must not block the fix).
- ``check`` steps give a verdict. A failure stops the run with :class:`CheckFailed` (exit 1)
  naming the step and the reason, unless the step says ``on_fail: continue`` (triage).
  ``wait`` polls its check until it passes or times out.
- ``action`` steps plan their changes from the live state first: nothing to change, nothing
  asked. Otherwise the risk level of the operation decides (:mod:`sre_cli.ops.consent`): a
  ``mutate`` step runs with ``--yes`` or when the operator confirms on a terminal, a
  ``destructive`` one only with ``--yes``. A "no", or a step its risk level refuses, ends the
  run with :class:`Aborted` (exit 3) before anything of that step is done.
- Escalation: when the run is still going ``escalation.after`` (front matter; 15 min by
  default) after its start, it pages ``escalation.team`` once (``RunbookEscalation`` posted to
  Alertmanager) and goes on; an ``escalate`` action step pages a team when its ``when`` check
  finds a cause. A dry run pages nobody.
- ``--dry-run`` runs the read-only steps, prints what each action would change (each step
  with its risk level) and changes nothing; a wait is evaluated once, and failed checks do
  not stop it.
- An investigation (``investigate``, what ``aqua runbook serve`` starts on an alert) runs as a
  dry run, except that a step whose risk is not ``read`` is not even planned: it is recorded
  as skipped. Nothing is changed and nobody is paged.
- Verification against the SLO (``verify:`` in the front matter, :mod:`.verify`): once every
  step is done, the SLO's error ratio must be back under its objective within
  ``verify.within``; otherwise the run pages ``verify.team`` and fails (exit 1). A dry run
  measures it once and pages nobody.

The I/O is injected: a :class:`Reporter` shows progress and asks for confirmation::

    report = run(book, RunOptions("stack", yes=True), lambda: open_context(opts), reporter,
                 Path("/tmp/api-down.jsonl"))
    report.exit_code     # 0 resolved, 1 check failed, 2 could not run, 3 declined
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from sre_cli.errors import (
    Aborted,
    AquaError,
    CheckFailed,
    ConfigError,
    Unavailable,
    UsageError,
)
from sre_cli.ops.consent import Consent
from sre_cli.ops.operations import Polled, RolloutOp, TargetName, WaitOp, span_text
from sre_cli.ops.outcome import ActionPlan, Observation, RunEnd, Status, StepRecord
from sre_cli.ops.transcript import Transcript
from sre_cli.runbook.params import check_names, fill, resolve
from sre_cli.runbook.spec import Heading, Prose, Runbook, Step
from sre_cli.runbook.steps import StepBody
from sre_cli.runbook.verify import find_slo

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext
    from sre_cli.slo.spec import SLO

__all__ = ["Outcome", "Reporter", "RunOptions", "RunReport", "SilentReporter", "run"]

Outcome = Literal["resolved", "dry-run", "investigated", "check-failed", "aborted", "error"]


@dataclass(frozen=True)
class RunOptions:
    target: TargetName
    params: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    yes: bool = False
    from_step: int = 1
    #: a terminal to confirm ``mutate`` steps on; without one they need ``yes``
    interactive: bool = False
    #: run the ``read`` steps only, as a dry run, and skip every other (an alert's investigation)
    investigate: bool = False

    @property
    def consent(self) -> Consent:
        return Consent(self.yes and not self.investigate, self.interactive)

    @property
    def changes_nothing(self) -> bool:
        """A dry run or an investigation: nothing changed, nobody paged, waits looked at once."""
        return self.dry_run or self.investigate


class Reporter(Protocol):
    """Where a run shows itself, and who answers its questions."""

    def block(self, block: Heading | Prose) -> None: ...

    def step_started(self, step: Step, title: str) -> None: ...

    def step_finished(self, step: Step, record: StepRecord) -> None: ...

    def confirm(self, step: Step, title: str, plan: ActionPlan) -> bool: ...


class SilentReporter:
    """Shows nothing and confirms nothing: a run nobody watches (an investigation)."""

    def block(self, block: Heading | Prose) -> None:
        pass

    def step_started(self, step: Step, title: str) -> None:
        pass

    def step_finished(self, step: Step, record: StepRecord) -> None:
        pass

    def confirm(self, step: Step, title: str, plan: ActionPlan) -> bool:
        return False


@dataclass
class RunReport(RunEnd):
    runbook: str
    title: str
    target: TargetName
    dry_run: bool
    transcript: Path
    params: dict[str, str] = field(default_factory=dict)
    records: list[StepRecord] = field(default_factory=list)
    outcome: Outcome = "resolved"
    error: AquaError | None = None
    seconds: float = 0.0
    #: the timer's escalations: team, reason, and what was done or the error
    escalations: list[dict[str, object]] = field(default_factory=list)
    #: the verification against the SLO (``verify:``), when the runbook has one and it ran
    verification: dict[str, object] | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "runbook": self.runbook,
            "title": self.title,
            "target": self.target,
            "dry_run": self.dry_run,
            "params": self.params,
            **self.verdict_json(),
            "transcript": str(self.transcript),
            "seconds": round(self.seconds, 3),
            "steps": [r.to_json() for r in self.records],
            "escalations": self.escalations,
            "verification": self.verification,
        }


def _outcome(exc: AquaError) -> Outcome:
    if isinstance(exc, CheckFailed):
        return "check-failed"
    if isinstance(exc, Aborted):
        return "aborted"
    return "error"


def run(
    book: Runbook,
    options: RunOptions,
    connect: Callable[[], RunContext],
    reporter: Reporter,
    transcript: Path,
) -> RunReport:
    """Run ``book`` and report. What makes the run impossible from the start (a target the
    runbook lacks, an unknown ``--param``, ``--from-step`` out of range) raises
    :class:`UsageError`; everything that fails once it runs ends up in ``report.error``."""
    if options.target not in book.meta.targets:
        raise UsageError(
            f"runbook {book.name} does not support target {options.target}",
            hint=f"its targets: {', '.join(book.meta.targets)}",
        )
    check_names(book, options.params)
    numbers = [s.number for s in book.steps if s.runs_on(options.target)]
    if options.from_step < 1 or (numbers and options.from_step > max(numbers)):
        raise UsageError(
            f"--from-step {options.from_step}: {book.name} has steps 1..{max(numbers or [0])}"
        )
    slo = find_slo(book) if book.meta.verify is not None and not options.investigate else None
    report = RunReport(
        book.name, book.meta.title, options.target, options.changes_nothing, transcript
    )
    started = time.monotonic()
    with Transcript(transcript) as log:
        log.write(
            "start",
            {
                "runbook": book.name,
                "file": str(book.path),
                "target": options.target,
                "dry_run": options.dry_run,
                "investigate": options.investigate,
                "yes": options.yes,
                "from_step": options.from_step,
            },
        )
        ctx: RunContext | None = None
        try:
            ctx = connect()
            ctx.run_labels.setdefault("runbook", book.name)
            ctx.run_labels.setdefault("target", options.target)
            report.params = resolve(book, options.params, ctx.builtins())
            log.write("params", {"params": report.params})
            running = _Run(book, options, ctx, reporter, report, log)
            running.steps()
            if slo is not None:
                running.verify(slo)
            report.outcome = (
                "investigated"
                if options.investigate
                else "dry-run"
                if options.dry_run
                else "resolved"
            )
        except AquaError as exc:
            report.error = exc
            report.outcome = _outcome(exc)
        except KeyboardInterrupt:
            report.error = Aborted("interrupted by the operator")
            report.outcome = "aborted"
            raise
        finally:
            if ctx is not None:
                ctx.close()
            report.seconds = time.monotonic() - started
            log.write("end", report.end_json())
    return report


_NOT_INVESTIGATED = "not run: an investigation runs read steps only (this one is {risk})"


@dataclass(frozen=True)
class _Result:
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    #: ends the run once the step is recorded
    stop: AquaError | None = None


@dataclass
class _Run:
    book: Runbook
    options: RunOptions
    ctx: RunContext
    reporter: Reporter
    report: RunReport
    log: Transcript
    started: float = field(default_factory=time.monotonic)
    escalated: bool = False

    def _escalation_due(self) -> None:
        """Page the runbook's team once when the run outlasts ``escalation.after``."""
        policy = self.book.meta.escalation
        took = time.monotonic() - self.started
        if self.escalated or self.options.changes_nothing or took < policy.after:
            return
        self.escalated = True
        self._page(policy.team, f"{self.book.name} not resolved after {policy.after:g}s")

    def _page(self, team: str, reason: str) -> dict[str, object]:
        """Post a ``RunbookEscalation`` for ``team``; recorded whether it got through or not."""
        try:
            done = self.ctx.escalate(team, reason)
            entry: dict[str, object] = {"team": team, "reason": reason, "done": done}
        except AquaError as exc:
            entry = {"team": team, "reason": reason, "error": exc.message}
        self.report.escalations.append(entry)
        self.log.write("escalation", entry)
        return entry

    def verify(self, slo: SLO) -> None:
        """Poll the SLO's error ratio until it is back under the objective or ``within``
        passed; then page ``verify.team`` and fail."""
        from sre_cli.prometheus import connect
        from sre_cli.runbook.verify import error_ratio, judge

        spec = self.book.meta.verify
        assert spec is not None
        if not self.ctx.prometheus_url:
            raise Unavailable(
                f"verify.slo {slo.id} asks Prometheus, and there is none to ask",
                hint="pass --prometheus URL (a stack that runs Prometheus is used by default)",
            )
        started = time.monotonic()
        with connect(self.ctx.prometheus_url, config=self.ctx.prometheus_config) as prom:
            while True:
                ok, line = judge(error_ratio(slo, spec.window, prom), slo, spec)
                took = time.monotonic() - started
                if ok or self.options.changes_nothing:
                    break
                self._escalation_due()
                if time.monotonic() + spec.interval > started + spec.within:
                    break
                time.sleep(spec.interval)
        record: dict[str, object] = {
            "slo": slo.id,
            "objective": slo.objective,
            "window": spec.window,
            "within": spec.within,
            "recovered": ok,
            "seconds": round(took, 3),
            "summary": line,
        }
        self.report.verification = record
        self.log.write("verify", record)
        if ok or self.options.changes_nothing:
            return
        team = spec.team or self.book.meta.escalation.team
        why = f"SLO {slo.id} not recovered {span_text(spec.within)} after the resolution: {line}"
        entry = self._page(team, f"{self.book.name}: {why}")
        paged = (
            f"escalated to {team}" if "done" in entry else f"escalation failed: {entry['error']}"
        )
        raise CheckFailed(f"{why}; {paged}", hint="the fix did not bring the SLI back")

    def steps(self) -> None:
        blocks = self.book.blocks_for(self.options.target)
        start = 0
        if self.options.from_step > 1:
            start = next(
                i
                for i, b in enumerate(blocks)
                if isinstance(b, Step) and b.number >= self.options.from_step
            )
            while start > 0 and not isinstance(blocks[start - 1], Step):
                start -= 1  # the headings and prose that lead to the first step run
        for block in blocks[:start]:
            if isinstance(block, Step):
                skipped = _Result("skipped", f"before --from-step {self.options.from_step}")
                title = fill(block, self.report.params, str(self.book.path)).describe()
                self._record(block, title, skipped, 0.0)
        for block in blocks[start:]:
            self._escalation_due()
            if isinstance(block, Step):
                self._step(block)
            else:
                self.reporter.block(block)

    def _record(self, step: Step, title: str, result: _Result, seconds: float) -> None:
        record = StepRecord(
            step.number,
            step.kind,
            title,
            result.status,
            result.summary,
            result.details,
            result.changes,
            seconds,
            step.body.op.risk,
        )
        self.report.records.append(record)
        self.log.write("step", record.to_json())
        self.reporter.step_finished(step, record)

    def _step(self, step: Step) -> None:
        body = fill(step, self.report.params, str(self.book.path))
        title = body.describe()
        self.reporter.step_started(step, title)
        started = time.monotonic()
        try:
            if self.options.investigate and step.body.op.risk != "read":
                result = _Result("skipped", _NOT_INVESTIGATED.format(risk=step.body.op.risk))
            elif step.kind == "diagnose":
                result = self._diagnose(body)
            elif step.kind == "check":
                result = self._check(step, body, title)
            else:
                result = self._act(step, body, title)
        except AquaError as exc:
            result = _Result("error", exc.message, stop=exc)
        self._record(step, title, result, time.monotonic() - started)
        if result.stop is not None:
            raise result.stop

    def _diagnose(self, body: StepBody) -> _Result:
        try:
            seen = self.ctx.observe(body.op)
        except (ConfigError, Unavailable) as exc:
            # Diagnostics inform; the checks and actions that follow decide.
            return _Result("error", f"could not gather: {exc.message}")
        return _Result("info", seen.summary, seen.details)

    def _check(self, step: Step, body: StepBody, title: str) -> _Result:
        op = body.op
        if isinstance(op, WaitOp | RolloutOp) and not self.options.changes_nothing:
            seen = self._wait(op)
        else:
            seen = self.ctx.observe(op)
        if seen.ok:
            return _Result("pass", seen.summary, seen.details)
        if self.options.changes_nothing:
            if isinstance(op, WaitOp | RolloutOp):
                summary = f"would {op.describe()}; now: {seen.summary}"
                return _Result("would", summary, seen.details)
            return _Result("fail", f"{seen.summary} (dry run: going on)", seen.details)
        if body.on_fail == "continue":
            return _Result("fail", seen.summary, seen.details)
        failed = CheckFailed(
            f"step {step.number} failed: {title}: {seen.summary}",
            hint=f"fix it and resume with --from-step {step.number}",
        )
        return _Result("fail", seen.summary, seen.details, stop=failed)

    def _wait(self, op: Polled) -> Observation:
        deadline = time.monotonic() + op.timeout
        started = time.monotonic()
        while True:
            seen = self.ctx.observe(op.probe)
            took = time.monotonic() - started
            if seen.ok:
                return Observation(True, f"{seen.summary} (after {took:.1f}s)", seen.details)
            self._escalation_due()
            if time.monotonic() + op.interval > deadline:
                return Observation(
                    False, f"still failing after {took:.0f}s: {seen.summary}", seen.details
                )
            time.sleep(op.interval)

    def _act(self, step: Step, body: StepBody, title: str) -> _Result:
        plan = self.ctx.plan(body.op)
        planned = tuple(c.summary for c in plan.changes)
        if not plan.changes:
            return _Result("nothing", plan.summary, plan.details)
        if self.options.changes_nothing:
            return _Result("would", f"would {plan.summary}", plan.details, planned)
        risk = step.body.op.risk
        decision = self.options.consent.decide(risk)
        if decision == "refuse":
            refused = self.options.consent.refusal(
                risk,
                f"step {step.number} ({title})",
                hint=f"resume with --from-step {step.number} --yes",
            )
            return _Result("declined", refused.message, plan.details, planned, refused)
        if decision == "ask" and not self.reporter.confirm(step, title, plan):
            declined = Aborted(
                f"step {step.number} declined: {title}; nothing of it was done",
                hint=f"resume with --from-step {step.number}",
            )
            return _Result("declined", "declined by the operator", plan.details, planned, declined)
        done: list[str] = []
        for change in plan.changes:
            try:
                done.append(change.apply())
            except AquaError as exc:
                summary = f"{change.summary}: {exc.message}"
                return _Result("error", summary, tuple(done), planned, stop=exc)
        return _Result("done", "; ".join(done), plan.details, planned)

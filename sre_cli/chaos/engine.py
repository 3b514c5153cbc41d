"""Run an experiment: steady state before, the method, steady state after, rollbacks always.

::

    before  every probe once; any deviation aborts (exit 2): never inject into an unhealthy system
    method  each action planned against the blast radius, consented once, applied in order
    during  the probes with ``during`` on their period while the method runs, and the share
            of failed load requests (``load.max_failed``), both judged once the method is done
    after   every probe within its tolerance: exit 0 "hypothesis held", or CheckFailed (exit 1)
    rollbacks  always, after a failure, an error or Ctrl-C too (not when nothing was injected):
               first the automatic undo of each applied action, latest first (a fault cleared,
               a stopped component or a dependency brought back, burners stopped) unless the
               experiment's own rollbacks do the same, then the experiment's rollbacks

The riskiest action of the method and the rollbacks decides the consent
(:mod:`sre_cli.ops.consent`): a ``destructive`` one (kill, stop, delete pods) runs only with
``--yes``; a ``mutate`` one (a fault, a restart) with ``--yes`` or a confirmation on a
terminal. Every phase is a record in the JSON-lines journal, flushed as it happens.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sre_cli.chaos.abort import Guard
from sre_cli.chaos.experiment import Experiment, Load
from sre_cli.chaos.hypothesis import DuringWatch, check
from sre_cli.chaos.method import Action, plan_action
from sre_cli.chaos.rollback import RecordFn, run_rollbacks
from sre_cli.errors import Aborted, AquaError, CheckFailed
from sre_cli.ops.consent import Consent, highest
from sre_cli.ops.operations import Risk
from sre_cli.ops.outcome import ActionPlan, RunEnd
from sre_cli.ops.transcript import Transcript

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext

__all__ = ["ExperimentReport", "LoadGen", "Record", "Recorder", "RunOptions", "recorder", "run"]

Outcome = Literal["held", "deviated", "not-steady", "dry-run", "aborted", "error", "interrupted"]


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    yes: bool = False
    #: a terminal to confirm a ``mutate`` method on; without one it needs ``yes``
    interactive: bool = False
    #: the kill switch: while this file exists no experiment starts, and a running one stops
    stop_file: Path | None = None
    #: start even when the preflight gate refuses (recorded in the journal)
    force: bool = False


@dataclass(frozen=True)
class Record:
    phase: str
    title: str
    status: str
    summary: str
    risk: Risk = "read"

    def to_json(self) -> dict[str, str]:
        return {
            "phase": self.phase,
            "title": self.title,
            "risk": self.risk,
            "status": self.status,
            "summary": self.summary,
        }


@dataclass
class ExperimentReport(RunEnd):
    name: str
    title: str
    target: str
    dry_run: bool
    journal: Path
    records: list[Record] = field(default_factory=list)
    outcome: Outcome = "error"
    error: AquaError | None = None
    seconds: float = 0.0
    load: dict[str, int] = field(default_factory=dict)

    def end_json(self) -> dict[str, object]:
        return {**super().end_json(), "load": self.load}

    def to_json(self) -> dict[str, object]:
        return {
            "experiment": self.name,
            "title": self.title,
            "target": self.target,
            "dry_run": self.dry_run,
            **self.end_json(),
            "journal": str(self.journal),
            "records": [r.to_json() for r in self.records],
        }


class LoadGen:
    """GETs at a steady rate in a thread while the method runs."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.counts = {"requests": 0, "failed": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-load")

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=5.0) as client:
            while not self._stop.wait(1.0 / self.load.rate):
                self.counts["requests"] += 1
                try:
                    ok = client.get(self.load.url).status_code < 500
                except httpx.HTTPError:
                    ok = False
                self.counts["failed"] += 0 if ok else 1

    def __enter__(self) -> LoadGen:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


Confirm = Callable[[Experiment, list[ActionPlan]], bool]


class Recorder(Protocol):
    def __call__(
        self, phase: str, title: str, status: str, summary: str, risk: Risk = "read"
    ) -> Record: ...


def recorder(records: list[Record], log: Transcript, show: Callable[[Record], None]) -> Recorder:
    """A function that makes a record, keeps it in ``records``, journals it and shows it."""

    def record(phase: str, title: str, status: str, summary: str, risk: Risk = "read") -> Record:
        rec = Record(phase, title, status, summary, risk)
        records.append(rec)
        log.write(phase, rec.to_json())
        show(rec)
        return rec

    return record


def run(
    exp: Experiment,
    name: str,
    ctx: RunContext,
    options: RunOptions,
    confirm: Confirm,
    journal: Path,
    show: Callable[[Record], None] = lambda r: None,
) -> ExperimentReport:
    """Run ``exp`` (its placeholders already filled in) and report; the error is on the report."""
    report = ExperimentReport(name, exp.title, exp.target, options.dry_run, journal)
    started = time.monotonic()
    deadline = started + exp.duration
    with Transcript(journal) as log:
        log.write(
            "start",
            {
                "experiment": name,
                "title": exp.title,
                "target": exp.target,
                "dry_run": options.dry_run,
            },
        )

        record = recorder(report.records, log, show)
        injected = False
        applied: list[Action] = []
        phase: Outcome = "not-steady"
        try:
            if exp.preflight is not None:
                phase = "aborted"
                _preflight(exp, ctx, options, record)
                phase = "not-steady"
            for probe in exp.steady_state_hypothesis.probes:
                res = check(ctx, probe, tolerate=False)
                record("before", probe.name, "pass" if res.ok else "fail", res.summary)
                if not res.ok:
                    raise AquaError(
                        f"not steady before the experiment: probe {probe.name}: {res.summary}",
                        hint="nothing was injected; bring the system back to steady state first",
                    )
            phase = "error"
            if options.stop_file is not None and options.stop_file.exists():
                phase = "aborted"
                raise Aborted(
                    f"the kill switch {options.stop_file} exists: no experiment starts",
                    hint="remove the file once the game day may go on",
                )
            plans = [plan_action(ctx, a, exp.blast_radius) for a in exp.method]
            if options.dry_run:
                for action, plan in zip(exp.method, plans, strict=True):
                    would = "; ".join(c.summary for c in plan.changes) or plan.summary
                    record("method", action.describe(), "would", f"would {would}", action.risk)
                for action in (*automatic_rollbacks(exp, list(exp.method)), *exp.rollbacks):
                    summary = "would run after the method"
                    record("rollback", action.describe(), "would", summary, action.risk)
                report.outcome = "dry-run"
            else:
                consent = Consent(options.yes, options.interactive)
                risk = highest(a.risk for a in (*exp.method, *exp.rollbacks))
                decision = consent.decide(risk)
                if decision == "refuse":
                    phase = "aborted"
                    raise consent.refusal(risk, f"experiment {name}", hint="nothing was injected")
                if decision == "ask" and not confirm(exp, plans):
                    phase = "aborted"
                    raise Aborted(f"experiment {name} declined; nothing was injected")
                injected = True
                report.load = _inject_and_observe(
                    exp, ctx, plans, record, deadline, applied, options.stop_file
                )
                report.outcome = "held"
        except _Stopped as exc:
            record("abort", "method stopped", "fail", exc.error.message)
            report.load = exc.load
            report.outcome, report.error = "aborted", exc.error
        except _Deviated as exc:
            injected = True
            report.load = exc.load
            report.outcome, report.error = "deviated", exc.error
        except AquaError as exc:
            report.outcome, report.error = phase, exc
        except KeyboardInterrupt:
            report.outcome = "interrupted"
            report.error = Aborted("interrupted")
            if injected:
                _rollback(exp, ctx, report, record, log, started, applied)
            else:
                _end(report, log, started)
            raise
        if injected:
            _rollback(exp, ctx, report, record, log, started, applied)
        else:
            _end(report, log, started)
    return report


def _preflight(exp: Experiment, ctx: RunContext, options: RunOptions, record: RecordFn) -> None:
    """The preflight gate: refuse (nothing injected) unless every check passed or ``force``."""
    from sre_cli.chaos.preflight import check_preflight

    assert exp.preflight is not None
    refused = []
    for title, ok, summary in check_preflight(ctx, exp.preflight):
        note = "" if ok or not options.force else " (overridden by --force)"
        record("preflight", title, "pass" if ok else "fail", summary + note)
        if not ok:
            refused.append(f"{title}: {summary}")
    if refused and not options.force:
        raise AquaError(
            f"preflight refused the experiment: {refused[0]}",
            hint="nothing was injected; --force runs it anyway (recorded in the journal)",
        )


class _Stopped(Exception):
    """The kill switch or an abort condition stopped the method."""

    def __init__(self, error: AquaError, load: dict[str, int]) -> None:
        super().__init__(error.message)
        self.error = error
        self.load = load


class _Deviated(Exception):
    def __init__(self, error: CheckFailed, load: dict[str, int]) -> None:
        super().__init__(error.message)
        self.error = error
        self.load = load


def _inject_and_observe(
    exp: Experiment,
    ctx: RunContext,
    plans: list[ActionPlan],
    record: RecordFn,
    deadline: float,
    applied: list[Action],
    stop_file: Path | None = None,
) -> dict[str, int]:
    """Apply the confirmed plans under load (each appended to ``applied`` before it is
    applied, so its undo runs even when it half failed), then check every probe within its
    tolerance."""
    failed: list[str] = []
    probes = exp.steady_state_hypothesis.probes
    with LoadGen(exp.load) if exp.load else _NoLoad() as load:
        with DuringWatch(ctx, probes) as during, Guard(ctx, exp.abort, stop_file) as guard:
            previous = _on_sigterm(guard)
            on_main = threading.current_thread() is threading.main_thread()
            try:
                for action, plan in zip(exp.method, plans, strict=True):
                    guard.check()
                    if guard.reason is not None:
                        break
                    if time.monotonic() > deadline:
                        raise AquaError(
                            f"the experiment exceeded its duration of {exp.duration:g}s"
                        )
                    applied.append(action)
                    done = [c.apply() for c in plan.changes]
                    summary = "; ".join(done) or plan.summary
                    record("method", action.describe(), "done", summary, action.risk)
            finally:
                if on_main:
                    signal.signal(signal.SIGTERM, previous)
        if guard.reason is not None:
            why = f"{guard.reason}; the method stopped, rollbacks run"
            error = Aborted(why) if guard.kill_switch else CheckFailed(why)
            raise _Stopped(error, dict(load.counts))
        for res in during.results():
            record("during", res.probe, "pass" if res.ok else "fail", res.summary)
            if not res.ok:
                failed.append(f"probe {res.probe} (during the method): {res.summary}")
        counts = dict(load.counts)
        if exp.load is not None and counts["requests"]:
            share = counts["failed"] / counts["requests"]
            ok = share <= exp.load.max_failed
            summary = (
                f"{counts['failed']} of {counts['requests']} requests failed ({share:.1%}; "
                f"at most {exp.load.max_failed:.1%} allowed)"
            )
            record("during", "load", "pass" if ok else "fail", summary)
            if not ok:
                failed.append(f"load: {summary}")
        for probe in exp.steady_state_hypothesis.probes:
            res = check(ctx, probe, tolerate=True, deadline=deadline)
            record("after", probe.name, "pass" if res.ok else "fail", res.summary)
            if not res.ok:
                failed.append(f"probe {probe.name}: {res.summary}")
    if failed:
        error = CheckFailed(f"hypothesis deviated: {failed[0]}")
        raise _Deviated(error, dict(load.counts))
    return dict(load.counts)


def _rollback(
    exp: Experiment,
    ctx: RunContext,
    report: ExperimentReport,
    record: RecordFn,
    log: Transcript,
    started: float,
    applied: list[Action],
) -> None:
    failed = run_rollbacks(ctx, automatic_rollbacks(exp, applied), exp.blast_radius, record)
    failed += run_rollbacks(ctx, exp.rollbacks, exp.blast_radius, record)
    if failed and report.error is None:
        report.outcome = "error"
        report.error = AquaError(f"rollback failed: {failed[0]}")
    _end(report, log, started)


_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _on_sigterm(guard: Guard) -> _Handler:
    """Let SIGTERM trip ``guard`` (the kill switch); the previous handler, or None off the
    main thread (signals cannot be handled there)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(
        signal.SIGTERM, lambda *_: guard.trip("kill switch: SIGTERM", kill_switch=True)
    )


def automatic_rollbacks(exp: Experiment, applied: list[Action]) -> list[Action]:
    """The undo of every applied action, latest first, once each, leaving out those the
    experiment's own rollbacks already do."""
    own = [r.model_copy(update={"name": None}) for r in exp.rollbacks]
    undos: list[Action] = []
    for action in reversed(applied):
        undo = action.undo_on(exp.target)
        if undo is not None and undo not in own and undo not in undos:
            undos.append(undo)
    return [u.model_copy(update={"name": "auto"}) for u in undos]


def _end(report: ExperimentReport, log: Transcript, started: float) -> None:
    report.seconds = time.monotonic() - started
    log.write("end", report.end_json())


class _NoLoad:
    counts: dict[str, int] = {}  # noqa: RUF012 - never written

    def __enter__(self) -> _NoLoad:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

"""Run a game day: load, fault, alert, runbook, recovery, measured.

::

    ready     Alertmanager (and Prometheus for a Prometheus SLI) of the stack or the cluster,
              the scenario's alert not already active, the experiment's preflight and steady
              state hold
    consent   the experiment's riskiest action decides, as for `aqua chaos run`
    load      the open-model reference mix starts; the SLI must be within its objective
    fault     the experiment's method, applied in order: injected_at
    alert     Alertmanager polled every second until the alert is active: fired_at (its
              startsAt, when Prometheus fired it), MTTD = fired_at - injected_at
    runbook   the scenario's runbook, as `aqua runbook run` runs it (mutating steps only with
              --yes or a confirmation on a terminal)
    recovery  the SLI back within its objective and holding: recovered_at (the first sample
              of the good run that lasts), MTTR = recovered_at - injected_at
    rollbacks always once something was injected: the experiment's automatic rollbacks and
              its own, a safety net that leaves the stack as it was for the next drill

On ``--target kubernetes`` (a scenario with a ``kubernetes:`` variant) the same drill runs
against a cluster: its Prometheus and Alertmanager (``--prometheus``, ``--alertmanager``), the
API at ``--entry-url``, the load and the faults as the admin of the Secret ``aqua-admin``, the
runbook's kubernetes steps. Nothing is started: no cluster reachable is exit 2.

The verdict is ``pass`` when the fault landed (the SLI left its objective), the alert fired
within ``timeouts.alert``, the runbook resolved, and the SLI recovered within
``timeouts.recovery`` of the runbook's end; ``fail`` otherwise (exit 1). What keeps the game
day from starting (no stack, no Alertmanager, the alert already firing, an unsteady system)
is exit 2 and nothing is injected; a declined confirmation is exit 3.

The error budget spent is the scenario SLO's: the load's bad requests (failed ones for an
availability SLO, slower than the threshold for a latency SLO) against the budget the SLO's
whole window allows at the load's request rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sre_cli.chaos.engine import Record, Recorder, recorder
from sre_cli.errors import Aborted, AquaError, CheckFailed, ConfigError
from sre_cli.ops.outcome import RunEnd
from sre_cli.ops.transcript import Transcript

if TYPE_CHECKING:
    from sre_cli.chaos.experiment import Experiment
    from sre_cli.chaos.method import Action
    from sre_cli.gameday.load import GamedayLoad
    from sre_cli.gameday.scenario import Resolved
    from sre_cli.gameday.sli import SliWatch
    from sre_cli.ops.context import RunContext, TargetOptions
    from sre_cli.ops.outcome import ActionPlan
    from sre_cli.runbook.engine import Reporter

__all__ = ["GamedayOptions", "GamedayReport", "run"]

Verdict = Literal["pass", "fail"]
POLL_S = 1.0


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class GamedayOptions:
    yes: bool = False
    #: a terminal to confirm a ``mutate`` fault and runbook step on
    interactive: bool = False
    #: where the runbook runs (the same stack, Prometheus and Alertmanager)
    where: TargetOptions | None = None
    #: the runbook's transcript
    runbook_transcript: Path | None = None


@dataclass
class GamedayReport(RunEnd):
    scenario: str
    title: str
    target: str
    journal: Path
    alert_name: str
    runbook_name: str
    #: the shortened game-day alert timings in effect, or None (the rules as shipped)
    timings: str | None = None
    injected_at: float | None = None
    landed: bool = False
    evidence: list[str] = field(default_factory=list)
    fired_at: float | None = None
    runbook_outcome: str = "not-run"
    runbook_steps: list[dict[str, object]] = field(default_factory=list)
    runbook_journal: Path | None = None
    recovered_at: float | None = None
    sli_before: float | None = None
    sli_after: float | None = None
    budget_spent: float = 0.0
    requests_total: int = 0
    requests_failed: int = 0
    verdict: Verdict = "fail"
    phases: list[Record] = field(default_factory=list)
    outcome: str = "error"
    error: AquaError | None = None
    seconds: float = 0.0

    @property
    def mttd_s(self) -> float | None:
        if self.fired_at is None or self.injected_at is None:
            return None
        return round(self.fired_at - self.injected_at, 3)

    @property
    def mttr_s(self) -> float | None:
        if self.recovered_at is None or self.injected_at is None:
            return None
        return round(self.recovered_at - self.injected_at, 3)

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "target": self.target,
            "fault": {
                "injected_at": _iso(self.injected_at),
                "landed": self.landed,
                "evidence": "; ".join(self.evidence),
            },
            "alert": {
                "name": self.alert_name,
                "fired_at": _iso(self.fired_at),
                "mttd_s": self.mttd_s,
            },
            "runbook": {
                "name": self.runbook_name,
                "outcome": self.runbook_outcome,
                "steps": self.runbook_steps,
                "journal": str(self.runbook_journal) if self.runbook_journal else None,
            },
            "recovery": {
                "recovered_at": _iso(self.recovered_at),
                "mttr_s": self.mttr_s,
                "sli_before": self.sli_before,
                "sli_after": self.sli_after,
            },
            "budget_spent": self.budget_spent,
            "requests": {"total": self.requests_total, "failed": self.requests_failed},
            "verdict": self.verdict,
        }


Confirm = Callable[[list["ActionPlan"]], bool]
Show = Callable[[Record], None]


def _fired(url: str, alert: str, since: float) -> float | None:
    """When ``alert`` started firing (its startsAt), if it is active now and started after
    ``since``; None otherwise."""
    from sre_cli.ops.providers.alertmanager import active_alerts

    starts = [
        _parse_iso(str(a["startsAt"]))
        for a in active_alerts(url, f'alertname="{alert}"')
        if a.get("startsAt")
    ]
    starts = [s for s in starts if s >= since]
    return min(starts) if starts else None


def _budget(res: Resolved, load: GamedayLoad) -> float:
    """The share of the SLO window's error budget the load's bad requests spent, at the
    load's request rate."""
    slo = res.slo
    if slo.sli.latency is not None:
        bad = load.slower_than(slo.sli.latency.threshold)
    else:
        bad = load.failed
    if not load.total or load.seconds <= 0:
        return 0.0
    window = slo.window
    if window.rolling is not None:
        window_s = window.rolling.total_seconds()
    else:
        window_s = {"week": 7, "month": 30, "quarter": 91}[window.calendar or "month"] * 86400.0
    rate = load.total / load.seconds
    allowed = rate * window_s * slo.budget
    return round(bad / allowed, 6) if allowed > 0 else 0.0


def run(
    res: Resolved,
    ctx: RunContext,
    options: GamedayOptions,
    confirm: Confirm,
    reporter: Reporter,
    journal: Path,
    show: Show = lambda p: None,
) -> GamedayReport:
    """Run the game day of ``res`` on the stack or cluster of ``ctx``; the error is on the
    report."""
    scenario = res.scenario
    report = GamedayReport(
        res.name, scenario.title, ctx.target, journal, scenario.alert, res.runbook.name
    )
    report.timings = _timings(ctx)
    started = time.monotonic()
    with Transcript(journal) as log:
        log.write(
            "start",
            {
                "scenario": res.name,
                "title": scenario.title,
                "target": ctx.target,
                "alert_timings": report.timings or "as shipped",
            },
        )

        record = recorder(report.phases, log, show)
        day = _Day(res, ctx, options, confirm, reporter, report, record)
        try:
            day.run()
        except AquaError as exc:
            report.error = exc
            report.outcome = "declined" if isinstance(exc, Aborted) else "error"
        except KeyboardInterrupt:
            report.error = Aborted("interrupted")
            report.outcome = "interrupted"
            day.finish()
            _end(report, log, started)
            raise
        day.finish()
        if report.error is None:
            report.outcome = report.verdict
            if report.verdict == "fail":
                report.error = CheckFailed(f"game day {res.name} failed: {day.why_failed()}")
        elif report.outcome == "error" and not isinstance(report.error, Aborted):
            report.verdict = "fail"
        _end(report, log, started)
    return report


def _timings(ctx: RunContext) -> str | None:
    """The shortened game-day alert timings in effect, if they are: the stack's plan says so;
    on Kubernetes, the rules Prometheus evaluates (``aqua cluster up --gameday-alerts``)."""
    from sre_cli.stack.configs import GAMEDAY_TIMINGS

    if ctx.stack is not None:
        return GAMEDAY_TIMINGS.describe() if ctx.stack.plan.gameday_alerts else None
    if ctx.prometheus_url is None:
        return None
    from sre_cli.prometheus import connect

    try:
        with connect(ctx.prometheus_url, config=ctx.prometheus_config, timeout=10.0) as prom:
            holds = prom.alert_rule_durations()
    except AquaError:
        return None
    if holds and max(holds) <= GAMEDAY_TIMINGS.max_for_s:
        return (
            f"shortened game-day alert timings: no alert holds longer than "
            f"{GAMEDAY_TIMINGS.max_for_s:g}s before it fires"
        )
    return None


def _end(report: GamedayReport, log: Transcript, started: float) -> None:
    report.seconds = time.monotonic() - started
    log.write("end", {**report.end_json(), **report.to_json()})


@dataclass
class _Day:
    res: Resolved
    ctx: RunContext
    options: GamedayOptions
    confirm: Confirm
    reporter: Reporter
    report: GamedayReport
    record: Recorder
    exp: Experiment | None = None
    applied: list[Action] = field(default_factory=list)
    load: GamedayLoad | None = None
    watch: SliWatch | None = None
    runbook_ended: float | None = None

    # -- before anything is injected ------------------------------------------------------
    def _ready(self) -> str:
        """Alertmanager to ask, the alert not active, the SLI readable; its URL."""
        from sre_cli.ops.providers.alertmanager import active_alerts

        url = self.ctx.alertmanager_url
        kube = self.ctx.kube
        if kube is not None:
            # a cluster reachable with these credentials, or exit 2 before anything else
            pods = kube.list_pods("")
            self.record("ready", f"namespace {kube.namespace}", "pass", f"{len(pods)} pods")
        if url is None:
            if kube is not None:
                raise ConfigError(
                    "a game day waits for its alert in Alertmanager: pass --alertmanager URL",
                    hint="`aqua cluster status` prints the local cluster's",
                )
            raise ConfigError(
                "a game day waits for its alert in Alertmanager, and this stack runs none",
                hint="start a full stack (`aqua stack up`), not one without monitoring",
            )
        if self.res.scenario.sli.prometheus is not None and self.ctx.prometheus_url is None:
            raise ConfigError(
                "the scenario's SLI asks Prometheus, and there is none to ask",
                hint="pass --prometheus URL" if kube is not None else None,
            )
        self._admin_token()
        alert = self.res.scenario.alert
        if active_alerts(url, f'alertname="{alert}"'):
            raise ConfigError(
                f"{alert} is already firing in Alertmanager: the game day could not tell "
                "its own alert from it",
                hint="wait until it resolves (`aqua stack alerts`), then run again",
            )
        self.record("ready", f"{alert} not firing", "pass", f"Alertmanager {url}")
        self.record(
            "ready",
            "alert timings",
            "info",
            self.report.timings or "the alert rules as shipped (`for:` and intervals unchanged)",
        )
        return url

    def _admin_token(self) -> None:
        """A fault needs the API run with its fault switch and an admin's token: the one in
        ``$AQUA_ADMIN_TOKEN``, else a login as the stack's or the cluster's admin (for this
        process only)."""
        import os

        from sre_cli.gameday.admin import admin_credentials, admin_token
        from sre_cli.ops.providers import faults

        exp = self.res.experiment
        if not any(a.fault is not None or a.clear_faults for a in exp.method):
            return
        stack = self.ctx.stack
        if stack is None:
            token = admin_token(self.ctx, admin_credentials(self.ctx))
            os.environ[faults.ADMIN_TOKEN_ENV] = token
            return
        if not stack.plan.faults:
            raise ConfigError(
                f"experiment {self.res.experiment_path.stem} injects API faults, and this "
                "stack runs without them",
                hint="start the stack with `aqua stack up --faults`",
            )
        if not os.environ.get(faults.ADMIN_TOKEN_ENV):
            token = faults.stack_admin_token(stack.entry_url, stack.control.layout.secrets_file)
            os.environ[faults.ADMIN_TOKEN_ENV] = token

    def _steady(self) -> None:
        from sre_cli.chaos.hypothesis import check

        exp = self.exp
        assert exp is not None
        if exp.preflight is not None:
            from sre_cli.chaos.preflight import check_preflight

            for title, ok, summary in check_preflight(self.ctx, exp.preflight):
                self.record("preflight", title, "pass" if ok else "fail", summary)
                if not ok:
                    raise ConfigError(
                        f"preflight refused the game day: {title}: {summary}",
                        hint="nothing was injected",
                    )
        for probe in exp.steady_state_hypothesis.probes:
            seen = check(self.ctx, probe, tolerate=False)
            self.record("before", probe.name, "pass" if seen.ok else "fail", seen.summary)
            if not seen.ok:
                raise ConfigError(
                    f"not steady before the game day: probe {probe.name}: {seen.summary}",
                    hint="nothing was injected; bring the stack back to steady state first",
                )

    def _consent(self, plans: list[ActionPlan]) -> None:
        from sre_cli.ops.consent import Consent, highest

        exp = self.exp
        assert exp is not None
        risk = highest(a.risk for a in (*exp.method, *exp.rollbacks))
        consent = Consent(self.options.yes, self.options.interactive)
        decision = consent.decide(risk)
        if decision == "refuse":
            raise consent.refusal(
                risk, f"the fault of game day {self.res.name}", hint="nothing was injected"
            )
        if decision == "ask" and not self.confirm(plans):
            raise Aborted(f"game day {self.res.name} declined; nothing was injected")

    def _start_load(self) -> None:
        from sre_cli.gameday.admin import admin_credentials, entry_url
        from sre_cli.gameday.load import GamedayLoad
        from sre_cli.gameday.sli import SliWatch, reader
        from sre_cli.loadtest.plan import Limits, LoadPlan, check_loopback
        from sre_cli.loadtest.schedule import constant

        rate = self.res.scenario.load.rate
        plan = LoadPlan(
            target=check_loopback(entry_url(self.ctx), "--entry-url"),
            target_source="the stack" if self.ctx.stack is not None else "the cluster",
            users=0,
            spawn_rate=0.0,
            duration_s=0.0,
            scenario="reference",
            limits=Limits(p95_ms=1e9, max_error_rate=1.0),
            credentials=admin_credentials(self.ctx),
            schedule=constant(rate, 1.0),
            max_in_flight=200,
            connections=50,
        )
        self.load = GamedayLoad(plan).__enter__()
        self.load.wait_started(60)
        spec = self.res.scenario.sli
        self.watch = SliWatch(reader(spec, self.load, self.ctx), spec.recovered).__enter__()
        # the SLI before: the first good reading within a minute (a load SLI needs a window)
        deadline = time.monotonic() + 60
        while True:
            sample = self.watch.last()
            if sample is not None and sample.ok:
                break
            if time.monotonic() > deadline:
                shown = "no data" if sample is None else f"{sample.value:.4g}"
                raise ConfigError(
                    f"the SLI is not within its objective before the fault: {shown} "
                    f"(wants {spec.describe()})",
                    hint="nothing was injected; bring the stack back to steady state first",
                )
            time.sleep(POLL_S)
        self.report.sli_before = sample.value
        self.record(
            "load",
            f"{rate:g} requests/s, reference mix",
            "pass",
            f"SLI before the fault: {sample.value:.4g} ({spec.describe()})",
        )

    # -- the drill ---------------------------------------------------------------------------
    def run(self) -> None:
        from sre_cli.chaos.method import plan_action

        if self.ctx.kube is not None:
            from sre_cli.gameday.admin import entry_url

            entry_url(self.ctx)  # --entry-url given, before anything else
        filled = self.exp = self.res.experiment.filled(self.ctx.builtins())
        url = self._ready()
        self._steady()
        plans = [plan_action(self.ctx, a, filled.blast_radius) for a in filled.method]
        self._consent(plans)
        self._start_load()
        self._inject(filled, plans)
        fired = self._wait_alert(url)
        if fired:
            self._runbook()
        self._wait_recovery()

    def _inject(self, exp: Experiment, plans: list[ActionPlan]) -> None:
        """The method, under the experiment's own light load when it has one (a leak on
        /live grows with the requests it gets)."""
        import contextlib

        from sre_cli.chaos.engine import LoadGen

        report = self.report
        report.injected_at = time.time()
        with LoadGen(exp.load) if exp.load else contextlib.nullcontext():
            for action, plan in zip(exp.method, plans, strict=True):
                self.applied.append(action)
                done = [c.apply() for c in plan.changes]
                summary = "; ".join(done) or plan.summary
                report.evidence.append(summary)
                self.record("fault", action.describe(), "done", summary, action.risk)
        if self.res.scenario.load.burst:
            self._burst(self.res.scenario.load.burst)

    def _burst(self, count: int) -> None:
        from sre_cli.gameday.burst import publish_burst
        from sre_cli.ops.providers import faults

        stack = self.ctx.stack
        assert stack is not None
        token = faults.stack_admin_token(stack.entry_url, stack.control.layout.secrets_file)
        summary = publish_burst(stack.entry_url, token, count)
        self.report.evidence.append(summary)
        self.record("load", f"burst of {count} readings batches", "done", summary)

    def _note_landed(self) -> None:
        assert self.watch is not None
        assert self.report.injected_at is not None
        if self.report.landed:
            return
        bad = self.watch.went_bad_after(self.report.injected_at)
        if bad is not None and bad.value is not None:
            self.report.landed = True
            after = bad.at - self.report.injected_at
            summary = f"SLI {bad.value:.4g} {after:.1f}s after the injection"
            self.report.evidence.append(summary)
            self.record("fault", "landed", "pass", summary)

    def _wait_alert(self, url: str) -> bool:
        report = self.report
        assert report.injected_at is not None
        alert = self.res.scenario.alert
        deadline = time.monotonic() + self.res.scenario.timeouts.alert
        while time.monotonic() < deadline:
            self._note_landed()
            try:
                fired = _fired(url, alert, report.injected_at - 1.0)
            except AquaError:
                fired = None  # Alertmanager busy for a moment: ask again
            if fired is not None:
                report.fired_at = fired
                summary = f"active in Alertmanager, fired {report.mttd_s:.1f}s after the injection"
                self.record("alert", alert, "pass", summary)
                return True
            time.sleep(POLL_S)
        self._note_landed()
        timeout = self.res.scenario.timeouts.alert
        self.record("alert", alert, "fail", f"not active in Alertmanager within {timeout:g}s")
        return False

    def _runbook(self) -> None:
        from sre_cli.ops.context import open_context
        from sre_cli.ops.transcript import default_transcript_path
        from sre_cli.runbook.engine import RunOptions
        from sre_cli.runbook.engine import run as run_book

        book = self.res.runbook
        where = self.options.where
        assert where is not None
        transcript = self.options.runbook_transcript or default_transcript_path(
            book.name, state_dir=where.state_dir
        )
        runbook_options = RunOptions(
            self.ctx.target,
            dict(self.res.scenario.params),
            yes=self.options.yes,
            interactive=self.options.interactive,
        )
        report = run_book(
            book, runbook_options, lambda: open_context(where), self.reporter, transcript
        )
        self.runbook_ended = time.time()
        self.report.runbook_outcome = report.outcome
        self.report.runbook_steps = [r.to_json() for r in report.records]
        self.report.runbook_journal = transcript
        status = "pass" if report.outcome == "resolved" else "fail"
        summary = report.outcome + (f": {report.error.message}" if report.error else "")
        self.record("runbook", book.name, status, summary)
        if isinstance(report.error, Aborted):
            raise report.error  # declined: the game day stops here (the rollbacks run)

    def _wait_recovery(self) -> None:
        assert self.watch is not None
        assert self.report.injected_at is not None
        timeout = self.res.scenario.timeouts.recovery
        deadline = time.monotonic() + timeout
        if self.report.fired_at is None:
            self.record(
                "recovery", self.res.scenario.sli.describe(), "skipped", "no alert, no runbook"
            )
            last = self.watch.last()
            self.report.sli_after = last.value if last is not None else None
            return
        # the SLI must hold: a few good samples in a row
        hold = 3
        while True:
            self._note_landed()
            good = self.watch.good_since()
            streak = [s for s in self.watch.samples if good is not None and s.at >= good.at]
            if good is not None and self.report.landed and len(streak) >= hold:
                self.report.recovered_at = max(good.at, self.report.injected_at)
                self.record(
                    "recovery",
                    self.res.scenario.sli.describe(),
                    "pass",
                    f"back within its objective {self.report.mttr_s:.1f}s after the injection",
                )
                break
            if time.monotonic() > deadline:
                last = self.watch.last()
                shown = "no data" if last is None or last.value is None else f"{last.value:.4g}"
                self.record(
                    "recovery",
                    self.res.scenario.sli.describe(),
                    "fail",
                    f"not recovered within {timeout:g}s: SLI {shown}",
                )
                break
            time.sleep(POLL_S)
        last = self.watch.last()
        self.report.sli_after = last.value if last is not None else None

    # -- always ------------------------------------------------------------------------------
    def finish(self) -> None:
        """Rollbacks (once something was injected), then stop the SLI and the load."""
        from sre_cli.chaos.engine import automatic_rollbacks
        from sre_cli.chaos.rollback import run_rollbacks

        exp = self.exp
        if exp is not None and self.applied:
            auto = automatic_rollbacks(exp, self.applied)
            failed = run_rollbacks(self.ctx, auto, exp.blast_radius, self.record)
            failed += run_rollbacks(self.ctx, exp.rollbacks, exp.blast_radius, self.record)
            if failed and self.report.error is None:
                self.report.error = AquaError(f"rollback failed: {failed[0]}")
        if self.watch is not None:
            self.watch.__exit__(None, None, None)
        if self.load is not None:
            self.load.stop()
            self.report.requests_total = self.load.total
            self.report.requests_failed = self.load.failed
            self.report.budget_spent = _budget(self.res, self.load)
            if self.load.error is not None and self.report.error is None:
                self.report.error = self.load.error
        r = self.report
        r.verdict = (
            "pass"
            if r.landed
            and r.fired_at is not None
            and r.runbook_outcome == "resolved"
            and r.recovered_at is not None
            else "fail"
        )

    def why_failed(self) -> str:
        r = self.report
        if not r.landed:
            return "the fault did not land: the SLI never left its objective"
        if r.fired_at is None:
            return f"{r.alert_name} did not fire within {self.res.scenario.timeouts.alert:g}s"
        if r.runbook_outcome != "resolved":
            return f"runbook {r.runbook_name} ended {r.runbook_outcome}"
        return f"the SLI did not recover within {self.res.scenario.timeouts.recovery:g}s"

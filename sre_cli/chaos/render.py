"""How an experiment shows itself: a line per record as it happens, a summary at the end."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from sre_cli.chaos.engine import ExperimentReport, Record
from sre_cli.chaos.experiment import Experiment
from sre_cli.chaos.pods import KillPlan, Recovery
from sre_cli.ops.consent import risk_note
from sre_cli.ops.outcome import ActionPlan
from sre_cli.table import FitTable

__all__ = ["KillReport", "plan_text", "record_line", "report_renderable"]

_STYLE = {
    "pass": "green",
    "done": "green",
    "fail": "bold red",
    "error": "bold red",
    "would": "yellow",
}

_VERDICT = {
    "held": ("hypothesis held", "bold green"),
    "deviated": ("hypothesis deviated", "bold red"),
    "not-steady": ("not steady before injection: nothing injected", "bold red"),
    "dry-run": ("dry run: nothing changed", "yellow"),
    "aborted": ("declined: nothing injected", "yellow"),
    "interrupted": ("interrupted", "bold red"),
    "error": ("could not run", "bold red"),
}


def record_line(rec: Record, *, show_risk: bool = False) -> Text:
    """One record as it happens; ``show_risk`` (a dry run) names the risk level of each."""
    text = Text(f"{rec.phase:<9}")
    text.append(f"{rec.status:<6}", style=_STYLE.get(rec.status, ""))
    text.append(f" {rec.title}: ")
    text.append(rec.summary, style="dim")
    if show_risk:
        text.append(f" [{risk_note(rec.risk)}]")
    return text


def plan_text(exp: Experiment, plans: list[ActionPlan]) -> str:
    lines = [f"{exp.title}: the method will"]
    for action, plan in zip(exp.method, plans, strict=True):
        for change in plan.changes:
            lines.append(f"  - {change.summary} [{risk_note(action.risk)}]")
    if exp.rollbacks:
        lines.append("then, whatever happens, roll back:")
        lines.extend(f"  - {a.describe()} [{risk_note(a.risk)}]" for a in exp.rollbacks)
    return "\n".join(lines)


def report_renderable(report: ExperimentReport) -> FitTable:
    """One row per record; titles and summaries wrap between words, never inside one."""
    verdict, style = _VERDICT[report.outcome]
    caption = f"journal: {report.journal}"
    if report.load:
        load = report.load
        caption = (
            f"load: {load.get('requests', 0)} requests, {load.get('failed', 0)} failed; {caption}"
        )
    title = f"{report.name} on {report.target}: {verdict}"
    table = FitTable(title=title, title_style=style, caption=caption)
    for col in ("phase", "probe / action", "status", "summary"):
        table.add_column(col, wrap=col in {"probe / action", "summary"})
    for rec in report.records:
        table.add_row(
            rec.phase, rec.title, Text(rec.status, style=_STYLE.get(rec.status, "")), rec.summary
        )
    return table


class KillReport:
    """What ``aqua chaos kill-pod`` did (or would do) and how long recovery took."""

    def __init__(
        self, plan: KillPlan, dry_run: bool, deleted: list[str], recovery: Recovery | None
    ) -> None:
        self.plan = plan
        self.dry_run = dry_run
        self.deleted = deleted
        self.recovery = recovery

    def to_json(self) -> dict[str, object]:
        rec = self.recovery
        return {
            "namespace": self.plan.namespace,
            "selector": self.plan.selector,
            "deployment": self.plan.deployment,
            "replicas": self.plan.replicas,
            "ready_before": self.plan.ready,
            "pods": list(self.plan.pods),
            "dry_run": self.dry_run,
            "deleted": self.deleted,
            "recovered": None if rec is None else rec.available,
            "recovery_seconds": None if rec is None else round(rec.seconds, 3),
            "recovery": None if rec is None else rec.summary,
        }

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        pods = ", ".join(self.plan.pods)
        if self.dry_run:
            yield Text(f"would delete: {pods} [{risk_note('destructive')}]", style="yellow")
        else:
            yield Text(f"deleted: {pods}")
        yield Text(
            f"deployment/{self.plan.deployment} in {self.plan.namespace}: "
            f"{self.plan.ready}/{self.plan.replicas} ready before"
        )
        if self.recovery is not None:
            style = "bold green" if self.recovery.available else "bold red"
            yield Text(self.recovery.summary, style=style)

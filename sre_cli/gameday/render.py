"""How a game day shows itself: a line per phase as it happens, the measures at the end, and
the scenarios of ``aqua gameday list``."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text

from sre_cli.gameday.engine import GamedayReport
from sre_cli.gameday.scenario import Resolved
from sre_cli.table import FitTable

__all__ = ["report_renderable", "scenario_table"]


def scenario_table(scenarios: Sequence[Resolved]) -> FitTable:
    table = FitTable(title="game-day scenarios", title_justify="left", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("fault (experiment)", wrap=True)
    table.add_column("alert")
    table.add_column("runbook")
    table.add_column("SLO")
    table.add_column("targets")
    for r in scenarios:
        table.add_row(
            r.name,
            f"{r.experiment_path.stem}: {r.experiment.title}",
            r.scenario.alert,
            r.runbook.name,
            f"{r.slo.service}/{r.slo.name}",
            ", ".join(r.scenario.targets),
        )
    return table


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def report_renderable(report: GamedayReport) -> RenderableType:
    table = FitTable(title=f"game day {report.scenario}", title_justify="left")
    table.add_column("measure", style="bold")
    table.add_column("value", wrap=True)
    timings = report.timings or "the alert rules as shipped (no shortened game-day timings)"
    landed = "landed" if report.landed else "did not land"
    table.add_row("alert timings", timings)
    table.add_row("fault", f"{landed}: {'; '.join(report.evidence) or '-'}")
    table.add_row("alert", f"{report.alert_name}: MTTD {_seconds(report.mttd_s)}")
    table.add_row("runbook", f"{report.runbook_name}: {report.runbook_outcome}")
    table.add_row(
        "recovery",
        f"MTTR {_seconds(report.mttr_s)}; SLI before {_number(report.sli_before)}, "
        f"after {_number(report.sli_after)}",
    )
    table.add_row("budget spent", f"{report.budget_spent:.4%} of the SLO window's error budget")
    table.add_row("requests", f"{report.requests_total} sent, {report.requests_failed} failed")
    if report.runbook_journal is not None:
        table.add_row("runbook transcript", str(report.runbook_journal))
    table.add_row("journal", str(report.journal))
    style = "bold green" if report.verdict == "pass" and report.error is None else "bold red"
    verdict = Text(f"verdict: {report.verdict}", style=style)
    if report.outcome == "declined":
        verdict = Text("declined: nothing more was done (the rollbacks ran)", style="yellow")
    return Group(table, verdict)

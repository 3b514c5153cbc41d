"""Terminal rendering of a rollout's plan and report (the JSON form lives on the report)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text

from sre_cli.table import FitTable, Words

if TYPE_CHECKING:
    from sre_cli.rollout.report import RolloutReport, StepRecord

__all__ = ["render_report"]

_STYLE = {"promoted": "green", "aborted": "red", "planned": "cyan"}


def render_report(report: RolloutReport) -> Group:
    plan = report.plan
    parts: list[object] = [
        Words(
            f"{plan.strategy} of deployment/{plan.deployment} in {plan.namespace}: "
            f"{plan.current_image} -> {plan.image}"
            + (f" (env {', '.join(sorted(plan.env))})" if plan.env else "")
        ),
        Words(
            f"judged by {', '.join(plan.slos)} every {plan.check_every_s:g} s over "
            f"{plan.interval_s:g} s a step: abort above {plan.limits.max_burn_rate:g}× burn or "
            f"{plan.limits.margin:g} over stable; at least {plan.limits.min_requests} requests"
        ),
    ]
    if plan.preview is not None:
        p = plan.preview
        parts.append(
            Words(
                f"before any Service moves, green is judged on {p.rps:g} req/s of GET {p.path} "
                f"at its pods' port {p.port}; after the switch, on the live traffic"
            )
        )
    table = FitTable("step", "weight", "canary pods", "stable pods", "verdict", "figures")
    for step in plan.steps:
        records: list[StepRecord | None] = [r for r in report.steps if r.step.index == step.index]
        for record in records or [None]:
            verdict = record.verdict if record else ("promotion" if step.promotion else "")
            if record is not None and record.phase != "traffic":
                verdict = f"{verdict} ({record.phase})"
            figures = ""
            if record is not None and record.last is not None:
                figures = "; ".join(
                    f"{j.slo} {_burn(j.canary.burn_rate)} vs {_burn(j.stable.burn_rate)} "
                    f"({j.canary.total or 0:.0f} req)"
                    for j in record.last.judgements
                )
            table.add_row(
                str(step.index),
                f"{step.weight}% ({step.effective_weight:.0f}%)",
                str(step.canary_replicas),
                str(step.stable_replicas),
                verdict,
                figures,
            )
    parts.append(table)
    line = Text(report.outcome, style=_STYLE.get(report.outcome, ""))
    if report.reason:
        line.append(f": {report.reason}")
    parts.append(line)
    timing = [f"{report.seconds:.1f} s in all"]
    if report.rollback_s is not None:
        timing.append(f"rollback {report.rollback_s:.1f} s")
    if report.promotion_s is not None:
        timing.append(f"promotion {report.promotion_s:.1f} s")
    if not report.dry_run:
        parts.append(Text(", ".join(timing)))
    if report.journal:
        parts.append(Words(f"journal {report.journal}"))
    return Group(*parts)  # type: ignore[arg-type]


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}×"

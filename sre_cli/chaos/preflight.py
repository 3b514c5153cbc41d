"""The preflight gate: no experiment starts on a budget already spent or during a page.

::

    preflight:
      slo: slo/api.yaml              # the target's SLOs (every SLO of the file)
      min_budget_remaining: 0.25     # refuse when any has less than a quarter of its budget
      page_alerts: true              # refuse while a paging alert fires (default)

A paging alert has ``severity: critical`` (the SLO page alerts) or ``page``. Checked before the
steady state; a refusal injects nothing (exit 2). ``--force`` runs anyway
and the journal's ``preflight`` records say the gate was overridden. A budget that cannot be
known (no data, Prometheus unreachable) refuses as a spent one does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sre_cli.errors import AquaError

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext

__all__ = ["PAGE_MATCHER", "Preflight", "check_preflight"]

#: the alerts that page: the SLO page alerts are ``severity: critical``
PAGE_MATCHER = 'severity=~"page|critical"'


class Preflight(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    slo: str | None = Field(default=None, min_length=1)
    min_budget_remaining: float | None = Field(default=None, ge=0, le=1)
    page_alerts: bool = True

    @model_validator(mode="after")
    def _slo_for_budget(self) -> Preflight:
        if self.min_budget_remaining is not None and self.slo is None:
            raise ValueError("min_budget_remaining needs `slo: FILE`")
        return self


def _budget(ctx: RunContext, pre: Preflight) -> list[tuple[str, bool, str]]:
    from sre_cli.prometheus import connect
    from sre_cli.slo.batch import evaluate
    from sre_cli.slo.loader import load_slos

    assert pre.slo is not None
    assert pre.min_budget_remaining is not None
    floor = pre.min_budget_remaining
    try:
        slos = load_slos([Path(pre.slo)])
        with connect(ctx.prometheus_url, config=ctx.prometheus_config, timeout=10.0) as prom:
            report = evaluate(slos, prom, burn_down=False)
    except AquaError as exc:
        return [(f"budget of {pre.slo}", False, f"cannot know the budget: {exc.message}")]
    found = []
    for r in report.results:
        left = r.budget_remaining
        if left is None:
            found.append((f"budget {r.slo.name}", False, "no data: the budget is unknown"))
            continue
        ok = left >= floor
        word = "" if ok else "below "
        summary = f"{left:.1%} of the error budget left ({word}the minimum {floor:.0%})"
        found.append((f"budget {r.slo.name}", ok, summary))
    return found


def _pages(ctx: RunContext) -> tuple[str, bool, str]:
    from sre_cli.chaos.abort import active_alerts

    if ctx.alertmanager_url is None:
        return (
            "page alerts",
            False,
            "no Alertmanager to ask (a stack with one, or --alertmanager)",
        )
    try:
        names = active_alerts(ctx.alertmanager_url, PAGE_MATCHER)
    except AquaError as exc:
        return ("page alerts", False, exc.message)
    if names:
        return ("page alerts", False, f"firing: {', '.join(sorted(set(names)))}")
    return ("page alerts", True, "none firing")


def check_preflight(ctx: RunContext, pre: Preflight) -> list[tuple[str, bool, str]]:
    """Every check of the gate: (title, passed, summary)."""
    found = _budget(ctx, pre) if pre.min_budget_remaining is not None else []
    if pre.page_alerts:
        found.append(_pages(ctx))
    return found

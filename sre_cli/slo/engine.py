"""Error budgets from Prometheus: event-based SLIs, burn rates, alert states, burn-down.

Counts are events: ``sum(increase(bad[W])) / sum(increase(total[W]))`` over the SLO window, so
counter resets and scrape gaps follow PromQL's ``increase`` semantics, and a window without
traffic is ``no_data``, never 100 %. One instant query per SLO fetches the window and every
burn-rate window at once; one range query fetches the burn-down::

    with PrometheusClient(url) as prom:
        report = evaluate(slos, prom, at=1709251200.0)
    report.results[0].budget_remaining      # fraction of the budget left; < 0 once breached
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.spec import SLO, render_window
from sre_cli.slo.windows import BURN_RATE_WINDOWS, Tier
from sre_cli.timespec import format_duration, parse_duration, rfc3339

__all__ = [
    "BURN_DOWN_POINTS",
    "Plan",
    "Report",
    "SLOResult",
    "Status",
    "burn_down_plan",
    "burn_down_points",
    "evaluate_events",
    "finish",
    "plan",
    "slot_values",
    "threshold",
    "union",
]

Status = Literal["ok", "warning", "breached", "no_data"]
BURN_DOWN_POINTS = 48
_LABEL = "aqua_q"


def threshold(factor: float, budget: float) -> float:
    """The error ratio a tier fires above: the same float product as the rule's ``(f * b)``."""
    return factor * budget


@dataclass(frozen=True)
class SLOResult:
    """Everything ``report`` shows for one SLO at one instant (fractions are of the budget)."""

    slo: SLO
    window_start: float
    period_end: float
    sli: float | None
    bad: float | None
    total: float | None
    budget_consumed: float | None
    burn_rates: dict[str, float | None]
    tiers: dict[str, bool]
    burn_down: list[tuple[float, float]] = field(default_factory=list)
    #: where the window's counts come from when recordings were asked for: "recorded" or "raw"
    source: str | None = None
    #: when recordings were asked for: per burn-rate window read from them, the instant of the
    #: rule evaluation it shows (windows not here were read raw at the report's instant)
    burn_rates_at: dict[str, float] | None = None

    @property
    def budget_remaining(self) -> float | None:
        return None if self.budget_consumed is None else 1.0 - self.budget_consumed

    @property
    def budget_minutes(self) -> float:
        """The whole period's budget as time at 100 % errors (43.2 min for 99.9 % over 30d)."""
        return (self.period_end - self.window_start) / 60 * self.slo.budget

    @property
    def remaining_minutes(self) -> float | None:
        r = self.budget_remaining
        return None if r is None else r * self.budget_minutes

    @property
    def budget_events(self) -> float | None:
        """Bad events the window may hold at its current traffic."""
        return None if self.total is None else self.total * self.slo.budget

    @property
    def alerts(self) -> dict[str, bool]:
        return {
            severity: any(v for k, v in self.tiers.items() if k.startswith(severity))
            for severity in ("page", "ticket")
        }

    @property
    def time_to_exhaustion(self) -> float | None:
        """Seconds until the budget is gone at the 1h burn rate; None if not burning."""
        remaining, burn = self.budget_remaining, self.burn_rates.get("1h")
        if remaining is None:
            return None
        if remaining <= 0:
            return 0.0
        if not burn or burn <= 0:
            return None
        return remaining * (self.period_end - self.window_start) / burn

    @property
    def status(self) -> Status:
        remaining = self.budget_remaining
        if remaining is None:
            return "no_data"
        if remaining < 0:
            return "breached"
        policy = self.slo.policy
        low = policy.min_budget_remaining is not None and remaining < policy.min_budget_remaining
        burn = self.burn_rates.get(policy.burn_rate_window)
        fast = policy.max_burn_rate is not None and burn is not None and burn > policy.max_burn_rate
        return "warning" if low or fast or any(self.alerts.values()) else "ok"

    def to_json(self) -> dict[str, Any]:
        """One SLO in the JSON contract (``slo/README.md``)."""
        return {
            "service": self.slo.service,
            "name": self.slo.name,
            "objective": json_number(self.slo.objective),
            "window": self.slo.window.label,
            "sli": self.sli,
            "budget": {"consumed": self.budget_consumed, "remaining": self.budget_remaining},
            "events": {
                "total": json_number(self.total),
                "bad": json_number(self.bad),
                **({"source": self.source} if self.source is not None else {}),
            },
            "burn_rates": {w: self.burn_rates.get(w) for w in BURN_RATE_WINDOWS},
            **self._recorded_at(),
            "alerts": self.alerts,
            "status": self.status,
        }

    def _recorded_at(self) -> dict[str, Any]:
        if self.burn_rates_at is None:
            return {}
        at = self.burn_rates_at
        return {"burn_rates_recorded_at": {w: rfc3339(at[w]) for w in BURN_RATE_WINDOWS if w in at}}


@dataclass(frozen=True)
class Report:
    """Results for a set of SLOs at one instant, and how many queries it took."""

    evaluated_at: float
    results: list[SLOResult]
    queries: int = 0

    def to_json(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON contract; ``gate`` adds ``passed`` and ``violations`` as ``extra``."""
        return {
            "evaluated_at": rfc3339(self.evaluated_at),
            "slos": [r.to_json() for r in self.results],
            **(extra or {}),
        }


def json_number(value: float | None) -> float | int | None:
    """Whole numbers as JSON integers (``1000000``, not ``1000000.0``)."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _combine(parts: dict[str, str]) -> str:
    return union(
        [f'label_replace({expr}, "{_LABEL}", "{key}", "", "")' for key, expr in parts.items()]
    )


def union(exprs: Sequence[str]) -> str:
    """``a or b or ...`` as a balanced tree: ``((a or b) or (c or d))``. Prometheus evaluates
    ``or`` left to right, hashing its whole left side each time, so a chain of n parts costs
    O(n²) (0.7-1.0 s of its CPU for 2,000 parts in queries of 400, 0.3 s balanced). Exact
    when the parts' label sets differ (each part tagged by its own label)."""
    if len(exprs) <= 2:
        return " or ".join(exprs)
    middle = len(exprs) // 2
    return f"({union(exprs[:middle])}) or ({union(exprs[middle:])})"


def _collect(samples: Sequence[tuple[dict[str, str], float]], mode: str) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for labels, value in samples:
        if not math.isnan(value):
            out.setdefault(labels.get(_LABEL, ""), []).append(value)
    if mode == "max":
        return {k: max(v) for k, v in out.items()}
    return {k: math.fsum(v) for k, v in out.items()}


def _windows(tiers: Sequence[Tier]) -> list[str]:
    return list(_windows_of(tuple(tiers)))


@functools.lru_cache(maxsize=8)
def _windows_of(tiers: tuple[Tier, ...]) -> tuple[str, ...]:
    """Every burn-rate window a report shows or a tier reads, shortest first (the same for
    every SLO of a report: computed once)."""
    names = set(BURN_RATE_WINDOWS)
    for tier in tiers:
        names |= {format_duration(tier.short), format_duration(tier.long)}
    return tuple(sorted(names, key=lambda n: parse_duration(n)))


@dataclass(frozen=True)
class Plan:
    """What one SLO needs from one instant query at ``at``: PromQL parts by key, and bounds."""

    slo: SLO
    at: float
    start: float
    period_end: float
    windows: list[str]
    parts: dict[str, str]

    @property
    def mode(self) -> str:
        """How samples of one key combine: a raw ratio's series by max, counts by sum."""
        return "max" if self.slo.sli.error_ratio_query is not None else "sum"


def plan(slo: SLO, at: float, tiers: Sequence[Tier]) -> Plan:
    """The instant-query parts of ``slo`` at unix time ``at``: the window and every burn window."""
    start_dt, end_dt = slo.window.bounds(datetime.fromtimestamp(at, UTC))
    start, period_end = start_dt.timestamp(), end_dt.timestamp()
    span = int(at - start)
    windows = _windows(tiers)
    ranges = {w: w for w in windows}
    if span > 0:
        ranges["window"] = format_duration(timedelta(seconds=span))
    raw = slo.sli.error_ratio_query
    parts: dict[str, str] = {}
    for key, rng in ranges.items():
        if raw is not None:
            parts[f"ratio:{key}"] = render_window(raw, rng)
        else:
            parts[f"bad:{key}"], parts[f"total:{key}"] = slo.sli.counts(rng)
    return Plan(slo, at, start, period_end, windows, parts)


def finish(
    plan: Plan,
    got: dict[str, float],
    tiers: Sequence[Tier],
    ratios: dict[str, float | None] | None = None,
) -> SLOResult:
    """The result of ``plan`` from its parts' values (``got``: key -> combined value);
    ``ratios`` gives windows' error ratios read elsewhere (recordings) in place of parts."""
    slo, raw = plan.slo, plan.slo.sli.error_ratio_query is not None

    def ratio(key: str) -> tuple[float | None, float | None, float | None]:
        if ratios is not None and key in ratios:
            value = ratios[key]
            if value is not None and not raw:  # as bad is clamped to [0, total] below
                value = min(max(value, 0.0), 1.0)
            return value, None, None
        if raw:
            value = got.get(f"ratio:{key}")
            return (value if value is not None and math.isfinite(value) else None), None, None
        total = got.get(f"total:{key}", 0.0)
        if total <= 0:
            return None, None, None
        bad = min(max(got.get(f"bad:{key}", 0.0), 0.0), total)
        return bad / total, bad, total

    budget = slo.budget
    rates = {w: (None if (r := ratio(w)[0]) is None else r / budget) for w in plan.windows}
    fired = {}
    for tier in tiers:
        limit = threshold(tier.factor(slo.window.nominal), budget)
        long_r, short_r = (
            ratio(format_duration(tier.long))[0],
            ratio(format_duration(tier.short))[0],
        )
        fired[tier.name] = (
            long_r is not None and short_r is not None and long_r > limit and short_r > limit
        )
    span = int(plan.at - plan.start)
    err, bad, total = ratio("window") if span > 0 else (None, None, None)
    return SLOResult(
        slo=slo,
        window_start=plan.start,
        period_end=plan.period_end,
        sli=None if err is None else 1.0 - err,
        bad=bad,
        total=total,
        budget_consumed=None if err is None else err / budget,
        burn_rates={w: rates[w] for w in BURN_RATE_WINDOWS},
        tiers=fired,
    )


def evaluate_events(
    slo: SLO,
    prom: PrometheusClient,
    at: float,
    tiers: Sequence[Tier],
    *,
    burn_down: bool = True,
) -> SLOResult:
    """Evaluate one SLO budgeted by events at unix time ``at`` (two queries: values,
    burn-down); :func:`sre_cli.slo.batch.evaluate_slo` takes any SLO."""
    p = plan(slo, at, tiers)
    got = _collect([(s.labels, s.value) for s in prom.query(_combine(p.parts), at)], p.mode)
    result = finish(p, got, tiers)
    if burn_down and result.budget_consumed is not None:
        points = _burn_down(slo, prom, p.start, at, result)
        result = SLOResult(**{**result.__dict__, "burn_down": points})
    return result


def burn_down_plan(slo: SLO, start: float, at: float) -> tuple[dict[str, str], float, int] | None:
    """(parts, first instant, step) of the burn-down range query; None if the window is short."""
    step = int((at - start) // BURN_DOWN_POINTS)
    if step < 60:
        return None
    rng = format_duration(timedelta(seconds=step))
    raw = slo.sli.error_ratio_query
    if raw is not None:
        parts = {"ratio": render_window(raw, rng)}
    else:
        bad_q, total_q = slo.sli.counts(rng)
        parts = {"bad": bad_q, "total": total_q}
    return parts, at - (BURN_DOWN_POINTS - 1) * step, step


def burn_down_points(
    result: SLOResult, at: float, by_time: dict[float, dict[str, float]]
) -> list[tuple[float, float]]:
    """Budget remaining from the window start to ``at``, from per-step part values."""
    slo, start = result.slo, result.window_start
    raw = slo.sli.error_ratio_query
    budget = slo.budget
    points = [(start, 1.0)]
    spent, ratios = 0.0, []
    for t in sorted(by_time):
        slot = by_time[t]
        if raw is not None:
            ratios.append(slot.get("ratio", 0.0))
            points.append((t, 1.0 - (sum(ratios) / len(ratios)) / budget))
        else:
            spent += max(slot.get("bad", 0.0), 0.0)
            points.append((t, 1.0 - spent / (budget * (result.total or 1.0))))
    # The last step may miss a few seconds of the window: end on the exact figure.
    if points[-1][0] == at:
        points.pop()
    points.append((at, result.budget_remaining or 0.0))
    return points


def slot_values(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]], raw: bool
) -> dict[float, dict[str, float]]:
    """Per step time, each part's value: (key, times, values) combined by max (raw) or sum."""
    by_time: dict[float, dict[str, float]] = {}
    for key, times, values in series:
        for t, v in zip(times, values, strict=True):
            if math.isfinite(v):
                slot = by_time.setdefault(t, {})
                slot[key] = max(slot.get(key, 0.0), v) if raw else slot.get(key, 0.0) + v
    return by_time


def _burn_down(
    slo: SLO, prom: PrometheusClient, start: float, at: float, result: SLOResult
) -> list[tuple[float, float]]:
    """Budget remaining from the window start to ``at``, in BURN_DOWN_POINTS steps."""
    planned = burn_down_plan(slo, start, at)
    if planned is None:
        return [(start, 1.0), (at, result.budget_remaining or 0.0)]
    parts, first, step = planned
    series = prom.query_range(_combine(parts), first, at, step)
    rows = [(s.labels.get(_LABEL, ""), s.times, s.values) for s in series]
    return burn_down_points(result, at, slot_values(rows, slo.sli.error_ratio_query is not None))

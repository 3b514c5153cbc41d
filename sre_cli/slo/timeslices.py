"""Time-slice budgeting: the window cut into slices, each judged on its own good ratio.

``timeslices``: a slice is good when its good ratio is at least ``slice_target``; the SLI is
good slices / slices. ``ratio_timeslices``: the SLI is the mean of the slices' good ratios.
Slices without traffic are left out of both. Slices are the Prometheus subquery steps, aligned
to multiples of the slice length (a slice ending at ``t`` covers ``(t - slice, t]``), so one
instant query per SLO counts them over the window and every burn-rate window::

    sum_over_time(((1 - (bad_1m / (total_1m > 0))) >= bool 0.99)[30d:1m])   # good slices
    count_over_time(((1 - (bad_1m / (total_1m > 0))) >= bool 0.99)[30d:1m]) # slices

For a timeslice SLO the report's ``events`` are slices (``total`` slices with traffic,
``bad`` slices under target); a ``ratio_timeslices`` SLO reports the slice count as ``total``
and no ``bad`` count. Burn rates are the bad share of the slices in each window / budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sre_cli.slo.spec import SLO, render_window
from sre_cli.slo.windows import BURN_RATE_WINDOWS, Tier
from sre_cli.timespec import format_duration, parse_duration

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.engine import SLOResult

__all__ = ["evaluate_timeslices", "slice_good_expr"]

_KEY = "aqua_slice"


def _num(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def slice_good_expr(slo: SLO) -> str:
    """Per slice: 1 when good (``timeslices``) or the good ratio (``ratio_timeslices``)."""
    budgeting = slo.budgeting
    size = budgeting.slice_label
    sli = slo.sli
    if sli.error_ratio_query is not None:
        good = f"(1 - ({render_window(sli.error_ratio_query, size).strip()}))"
    else:
        bad, total = sli.counts(size)
        good = f"(1 - (({bad.strip()}) / (({total.strip()}) > 0)))"
    if budgeting.method == "ratio_timeslices":
        return good
    assert budgeting.slice_target is not None
    return f"({good} >= bool {_num(budgeting.slice_target)})"


def _windows(tiers: Sequence[Tier]) -> list[str]:
    names = set(BURN_RATE_WINDOWS)
    for tier in tiers:
        names |= {format_duration(tier.short), format_duration(tier.long)}
    return sorted(names, key=parse_duration)


def evaluate_timeslices(
    slo: SLO, prom: PrometheusClient, at: float, tiers: Sequence[Tier]
) -> SLOResult:
    """One SLO with time-slice budgeting at unix time ``at`` (one instant query)."""
    from sre_cli.slo.engine import SLOResult, threshold

    start_dt, end_dt = slo.window.bounds(datetime.fromtimestamp(at, UTC))
    start, period_end = start_dt.timestamp(), end_dt.timestamp()
    span = int(at - start)
    size = slo.budgeting.slice_label
    inner = slice_good_expr(slo)
    ranges = {w: w for w in _windows(tiers)}
    if span > 0:
        ranges["window"] = format_duration(timedelta(seconds=span))
    parts = []
    for key, rng in ranges.items():
        for fn in ("sum", "count"):
            expr = f"{fn}_over_time({inner}[{rng}:{size}])"
            parts.append(f'label_replace({expr}, "{_KEY}", "{fn}:{key}", "", "")')
    got: dict[str, float] = {}
    for sample in prom.query(" or ".join(parts), at):
        if math.isfinite(sample.value):
            name = sample.labels.get(_KEY, "")
            got[name] = got.get(name, 0.0) + sample.value

    def slices(key: str) -> tuple[float | None, float, float]:
        """(good share, good, count) of the slices with traffic in ``key``'s window."""
        count = got.get(f"count:{key}", 0.0)
        good = got.get(f"sum:{key}", 0.0)
        return (good / count if count > 0 else None), good, count

    budget = slo.budget
    # The bad share of each window's slices plays the error ratio's part.
    ratios: dict[str, float | None] = {}
    for w in ranges:
        share = slices(w)[0]
        ratios[w] = None if share is None else max(1.0 - share, 0.0)
    fired = {}
    for tier in tiers:
        limit = threshold(tier.factor(slo.window.nominal), budget)
        long_r = ratios.get(format_duration(tier.long))
        short_r = ratios.get(format_duration(tier.short))
        fired[tier.name] = (
            long_r is not None and short_r is not None and long_r > limit and short_r > limit
        )
    share, good, count = slices("window") if span > 0 else (None, 0.0, 0.0)
    timeslices = slo.budgeting.method == "timeslices"
    return SLOResult(
        slo=slo,
        window_start=start,
        period_end=period_end,
        sli=share,
        bad=(count - good) if share is not None and timeslices else None,
        total=count if share is not None else None,
        budget_consumed=None if share is None else (1.0 - share) / budget,
        burn_rates={
            w: None if (r := ratios.get(w)) is None else r / budget for w in BURN_RATE_WINDOWS
        },
        tiers=fired,
    )

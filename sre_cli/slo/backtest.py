"""Replay history: when would each burn-rate alert tier have fired, and how fast?

For every step between ``start`` and ``end`` the error ratio over each tier window is read
with range queries (event-based, as in the report), and each tier is evaluated exactly as the
generated alert rule would. A *firing* is a run of steps where the tier holds. Its detection
delay is measured from the burn's onset: the last step before the firing at which the tier's
short window burned at most 1× (the budget was not being overspent)::

    result = backtest(slos, prom, start=t0, end=t1, step=300)
    for tier in result.slos[0].tiers:
        tier.name, len(tier.firings), tier.median_delay
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sre_cli.errors import UsageError
from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.engine import threshold
from sre_cli.slo.spec import SLO, render_window
from sre_cli.slo.windows import Tier, load_tiers
from sre_cli.timespec import format_duration, rfc3339

if TYPE_CHECKING:
    from sre_cli.table import FitTable

__all__ = ["Backtest", "Firing", "SLOBacktest", "TierReplay", "backtest"]

_MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series


@dataclass(frozen=True)
class Firing:
    start: float
    end: float
    onset: float | None  # None: the burn was already on when the replay began

    @property
    def delay(self) -> float | None:
        return None if self.onset is None else self.start - self.onset


@dataclass(frozen=True)
class TierReplay:
    name: str
    factor: float
    firings: list[Firing] = field(default_factory=list)

    @property
    def firing_seconds(self) -> float:
        return sum(f.end - f.start for f in self.firings)

    @property
    def median_delay(self) -> float | None:
        delays = [d for f in self.firings if (d := f.delay) is not None]
        return statistics.median(delays) if delays else None

    def to_json(self) -> dict[str, object]:
        firings = [
            {
                "start": rfc3339(f.start),
                "end": rfc3339(f.end),
                "onset": rfc3339(f.onset),
                "delay": f.delay,
            }
            for f in self.firings
        ]
        return {
            "tier": self.name,
            "factor": self.factor,
            "median_delay": self.median_delay,
            "firing_seconds": self.firing_seconds,
            "firings": firings,
        }


@dataclass(frozen=True)
class SLOBacktest:
    slo: SLO
    tiers: list[TierReplay]


@dataclass(frozen=True)
class Backtest:
    start: float
    end: float
    step: int
    slos: list[SLOBacktest]
    queries: int

    def to_json(self) -> dict[str, object]:
        slos = [
            {"service": s.slo.service, "name": s.slo.name, "tiers": [t.to_json() for t in s.tiers]}
            for s in self.slos
        ]
        return {
            "from": rfc3339(self.start),
            "to": rfc3339(self.end),
            "step": self.step,
            "slos": slos,
        }

    def __rich__(self) -> FitTable:
        """One row per SLO and tier; SLO names stay whole (at 80 columns the delays go under
        the row)."""
        from sre_cli.table import FitTable

        grid = FitTable(title=f"Backtest, step {_span(self.step)}", title_justify="left")
        for col in ("SLO", "tier", "factor", "firings", "time firing", "median delay", "max delay"):
            grid.add_column(col)
        for s in self.slos:
            for t in s.tiers:
                delays = [d for f in t.firings if (d := f.delay) is not None]
                grid.add_row(
                    f"{s.slo.service}/{s.slo.name}",
                    t.name,
                    f"{t.factor:g}×",
                    str(len(t.firings)),
                    _span(t.firing_seconds),
                    _span(t.median_delay),
                    _span(max(delays, default=None)),
                )
        return grid


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return "0s" if seconds < 1 else format_duration(timedelta(seconds=int(seconds)))


def _ratios(
    slo: SLO, prom: PrometheusClient, windows: Sequence[str], start: float, end: float, step: int
) -> dict[str, dict[float, float]]:
    """Error ratio per window per step time (steps without traffic are absent)."""
    raw = slo.sli.error_ratio_query is not None
    parts: dict[str, str] = {}
    for w in windows:
        if slo.sli.error_ratio_query is not None:
            parts[f"ratio:{w}"] = render_window(slo.sli.error_ratio_query, w)
        else:
            parts[f"bad:{w}"], parts[f"total:{w}"] = slo.sli.counts(w)
    expr = " or ".join(f'label_replace({e}, "aqua_q", "{k}", "", "")' for k, e in parts.items())
    sums: dict[str, dict[float, float]] = {}
    chunk = start
    while chunk <= end:
        stop = min(end, chunk + step * (_MAX_POINTS - 1))
        for s in prom.query_range(expr, chunk, stop, step):
            into = sums.setdefault(s.labels.get("aqua_q", ""), {})
            for t, v in zip(s.times, s.values, strict=True):
                if not math.isfinite(v):
                    continue
                # counts add up across series; raw ratios do not: take the worst, as report does
                into[t] = max(into.get(t, v), v) if raw else into.get(t, 0.0) + v
        chunk = stop + step
    out: dict[str, dict[float, float]] = {}
    for w in windows:
        if slo.sli.error_ratio_query is not None:
            out[w] = sums.get(f"ratio:{w}", {})
            continue
        bad, total = sums.get(f"bad:{w}", {}), sums.get(f"total:{w}", {})
        out[w] = {t: min(max(bad.get(t, 0.0), 0.0), n) / n for t, n in total.items() if n > 0}
    return out


def _replay(
    slo: SLO, tier: Tier, ratios: dict[str, dict[float, float]], times: list[float]
) -> TierReplay:
    factor = tier.factor(slo.window.nominal)
    limit = threshold(factor, slo.budget)
    short, long = ratios[format_duration(tier.short)], ratios[format_duration(tier.long)]
    firings: list[Firing] = []
    calm: float | None = None  # last step whose short window burned at most 1x
    opened: tuple[float, float | None] | None = None
    for t in times:
        s, lg = short.get(t), long.get(t)
        on = s is not None and lg is not None and s > limit and lg > limit
        if on and opened is None:
            opened = (t, calm)
        elif not on and opened is not None:
            firings.append(Firing(opened[0], t, opened[1]))
            opened = None
        if s is None or s <= slo.budget:
            calm = t
    if opened is not None:
        firings.append(Firing(opened[0], times[-1], opened[1]))
    return TierReplay(tier.name, factor, firings)


def backtest(
    slos: Sequence[SLO],
    prom: PrometheusClient,
    start: float,
    end: float,
    *,
    step: int = 300,
    tiers: Sequence[Tier] | None = None,
) -> Backtest:
    """Replay every tier of every SLO over ``[start, end]`` at ``step`` seconds."""
    if end <= start:
        raise UsageError("--to must be after --from")
    if step < 15:
        raise UsageError("--step must be at least 15s")
    used = tuple(tiers) if tiers is not None else load_tiers()
    windows = sorted(
        {format_duration(t.short) for t in used} | {format_duration(t.long) for t in used}
    )
    start, end = float(int(start) // step * step), float(int(end))
    times = [start + i * step for i in range(int((end - start) // step) + 1)]
    before = prom.queries
    results = []
    for slo in slos:
        ratios = _ratios(slo, prom, windows, start, end, step)
        results.append(SLOBacktest(slo, [_replay(slo, t, ratios, times) for t in used]))
    return Backtest(start, end, step, results, prom.queries - before)

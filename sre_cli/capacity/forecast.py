"""Capacity forecasts: read a query's history from Prometheus, fit, and judge against a limit.

Each series a query returns is forecast on its own (``sum by (instance) (...)`` gives one
forecast per instance)::

    target = Target(name="api-rps", query="sum by (instance) (rate(...[5m]))", limit=400)
    with PrometheusClient(url) as prom:
        forecasts = run(target, prom, at=time.time(), step=3600, warn=14 * 86400)
    forecasts[0].status           # "ok" | "warning" | "critical" | "no_data"
    forecasts[0].exhausted_at     # unix time the forecast first reaches the limit, or None

Statuses: ``critical`` when the forecast reaches the limit within the horizon and sooner than
``warn``; ``warning`` when it reaches it later but within the horizon; ``ok`` otherwise;
``no_data`` when a series (or the query) has fewer than :data:`~sre_cli.capacity.model.MIN_SAMPLES`
samples in the history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sre_cli.capacity.model import DAY, Fit, crossing, fit_series, peak

if TYPE_CHECKING:
    from sre_cli.slo.prometheus import PrometheusClient, Series

__all__ = [
    "DEFAULT_HISTORY",
    "DEFAULT_HORIZON",
    "MAX_POINTS",
    "Forecast",
    "Status",
    "Target",
    "fetch",
    "forecast_series",
    "run",
]

Status = Literal["ok", "warning", "critical", "no_data"]
DEFAULT_HISTORY = 14 * DAY
DEFAULT_HORIZON = 30 * DAY
MAX_POINTS = 10_000
"""Points per range query (Prometheus refuses more than 11,000); longer histories are split."""


@dataclass(frozen=True)
class Target:
    """What to forecast: a PromQL query, the limit its values must stay under, and windows."""

    name: str
    query: str
    limit: float
    history: float = DEFAULT_HISTORY
    horizon: float = DEFAULT_HORIZON


@dataclass(frozen=True)
class Forecast:
    """The forecast of one series against its limit."""

    target: Target
    labels: dict[str, str]
    at: float
    status: Status
    current: float | None = None
    trend_per_day: float | None = None
    peak: float | None = None
    peak_at: float | None = None
    exhausted_at: float | None = None
    fit: Fit | None = field(default=None, repr=False)

    @property
    def limit(self) -> float:
        return self.target.limit

    @property
    def headroom(self) -> float | None:
        """Room left now: limit minus the current value."""
        return None if self.current is None else self.limit - self.current

    @property
    def headroom_pct(self) -> float | None:
        """:attr:`headroom` as a percentage of the limit (None for a zero limit)."""
        if self.headroom is None or self.limit == 0:
            return None
        return self.headroom / abs(self.limit) * 100

    @property
    def r2(self) -> float | None:
        return None if self.fit is None else self.fit.r2

    @property
    def samples(self) -> int:
        return 0 if self.fit is None else self.fit.samples


def forecast_series(
    target: Target,
    labels: dict[str, str],
    times: list[float],
    values: list[float],
    *,
    at: float,
    warn: float,
) -> Forecast:
    """Fit one series' history and judge the forecast over ``(at, at + horizon]``."""
    fit = fit_series(times, values)
    if fit is None:
        return Forecast(target, labels, at, "no_data")
    current = next(v for v in reversed(values) if math.isfinite(v))
    end = at + target.horizon
    top, top_at = peak(fit, at, end)
    exhausted = crossing(fit, target.limit, at, end)
    status: Status = "ok"
    if exhausted is not None:
        status = "critical" if exhausted - at < warn else "warning"
    return Forecast(
        target,
        labels,
        at,
        status,
        current=current,
        trend_per_day=fit.trend_per_day,
        peak=top,
        peak_at=top_at,
        exhausted_at=exhausted,
        fit=fit,
    )


def fetch(
    prom: PrometheusClient, query: str, start: float, end: float, step: float
) -> list[Series]:
    """A range query over ``[start, end]``, split so no request exceeds :data:`MAX_POINTS`."""
    from sre_cli.slo.prometheus import Series

    merged: dict[tuple[tuple[str, str], ...], Series] = {}
    chunk = start
    while chunk <= end:
        chunk_end = min(end, chunk + step * (MAX_POINTS - 1))
        for s in prom.query_range(query, chunk, chunk_end, step):
            key = tuple(sorted(s.labels.items()))
            kept = merged.setdefault(key, Series(s.labels))
            kept.times.extend(s.times)
            kept.values.extend(s.values)
        chunk = chunk_end + step
    return list(merged.values())


def run(
    target: Target, prom: PrometheusClient, *, at: float, step: float, warn: float
) -> list[Forecast]:
    """Forecast every series ``target.query`` returns; one ``no_data`` forecast if none."""
    series = fetch(prom, target.query, at - target.history, at, step)
    if not series:
        return [Forecast(target, {}, at, "no_data")]
    out = [forecast_series(target, s.labels, s.times, s.values, at=at, warn=warn) for s in series]
    return sorted(out, key=lambda f: sorted(f.labels.items()))

"""Capacity forecasts: read a query's history from Prometheus, fit, and judge against a limit.

Each series a query returns is forecast on its own (``sum by (instance) (...)`` gives one
forecast per instance), with the model its backtest chose (:mod:`sre_cli.capacity.backtest`)::

    target = Target(name="api-rps", query="sum by (instance) (rate(...[5m]))", limit=400)
    with PrometheusClient(url) as prom:
        forecasts = run(target, prom, at=time.time(), step=3600, warn=14 * 86400)
    forecasts[0].status           # "ok" | "warning" | "critical" | "no_data"
    forecasts[0].exhausted_at     # unix time the forecast first reaches the limit, or None
    forecasts[0].exhausted        # Exhaustion(earliest, likely, latest): the band's edges

A ``ceiling`` target must stay under its limit (CPU, requests), a ``floor`` target above it
(free disk): for a floor the peak is the lowest forecast and headroom is current minus limit.
The band is the :data:`BAND` central prediction interval; the earliest exhaustion is when the
band's near edge reaches the limit, the latest when its far edge does.

Statuses: ``critical`` when the forecast reaches the limit within the horizon and sooner than
``warn``; ``warning`` when it reaches it later but within the horizon, or when the band's near
edge or the forecast reaches the ``act`` level within the horizon; ``ok`` otherwise;
``no_data`` when a series (or the query) has fewer than
:data:`~sre_cli.capacity.model.MIN_SAMPLES` samples in the history.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sre_cli.capacity.backtest import MODELS, Curve, choose
from sre_cli.capacity.model import DAY

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient, Series

__all__ = [
    "BAND",
    "DEFAULT_HISTORY",
    "DEFAULT_HORIZON",
    "MAX_POINTS",
    "Band",
    "Direction",
    "Exhaustion",
    "Forecast",
    "Status",
    "Target",
    "fetch",
    "first_reaching",
    "forecast_series",
    "run",
]

Status = Literal["ok", "warning", "critical", "no_data"]
Direction = Literal["ceiling", "floor"]
BAND = 0.90
"""Coverage of the band: the central 90 % prediction interval."""
_Z = 1.6448536269514722  # standard normal quantile of 0.95
RESOLUTION = 300.0
"""Seconds between forecast points scanned for peaks and crossings (crossings are bisected)."""
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
    direction: Direction = "ceiling"
    act: float | None = None
    """Act before the limit: the level at which to start adding capacity (optional)."""
    traffic: bool = True
    """Scales with traffic (``--what-if`` multiplies it); memory or disk may not."""
    deployment: str | None = None
    """The load this Kubernetes Deployment's replicas share (the replica estimate)."""
    models: tuple[str, ...] = MODELS
    unit: str = ""


@dataclass(frozen=True)
class Band:
    """The prediction interval (:data:`BAND`) of the forecast at one instant."""

    lower: float
    upper: float


@dataclass(frozen=True)
class Exhaustion:
    """When the limit is reached: by the band's near edge, the forecast, the far edge."""

    earliest: float | None
    likely: float | None
    latest: float | None


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
    fit: Curve | None = field(default=None, repr=False)
    band: Band | None = None
    """The band at the peak."""
    exhausted: Exhaustion = Exhaustion(None, None, None)
    act_at: float | None = None
    backtest: dict[str, float] = field(default_factory=dict)
    """Backtest error (WAPE %) per candidate model."""
    history: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    path: tuple[tuple[float, float, float, float], ...] = field(default=(), repr=False)
    """(time, forecast, lower, upper) over the horizon, for charts."""
    scale: float = 1.0
    """The ``--what-if`` factor applied to the history (1: none)."""
    band_scale: float = 1.0
    """How much the backtest widened the band (1: the held-out errors fit it)."""

    @property
    def limit(self) -> float:
        return self.target.limit

    @property
    def direction(self) -> Direction:
        return self.target.direction

    @property
    def model(self) -> str | None:
        return None if self.fit is None else self.fit.name

    @property
    def backtest_error(self) -> float | None:
        return None if self.model is None else self.backtest.get(self.model)

    @property
    def headroom(self) -> float | None:
        """Room left now: limit minus the current value (current minus limit for a floor)."""
        if self.current is None:
            return None
        return self.current - self.limit if self.direction == "floor" else self.limit - self.current

    @property
    def headroom_pct(self) -> float | None:
        """:attr:`headroom` as a percentage of the limit (None for a zero limit)."""
        if self.headroom is None or self.limit == 0:
            return None
        return self.headroom / abs(self.limit) * 100

    @property
    def r2(self) -> float | None:
        return getattr(self.fit, "r2", None)

    @property
    def samples(self) -> int:
        return 0 if self.fit is None else self.fit.samples


def _grid(start: float, end: float, resolution: float) -> list[float]:
    steps = max(1, math.ceil((end - start) / resolution))
    return [start + (end - start) * i / steps for i in range(steps + 1)]


def first_reaching(
    fn: Callable[[float], float], limit: float, direction: Direction, grid: Sequence[float]
) -> float | None:
    """The first time on ``grid`` (refined to the second) where ``fn`` reaches ``limit``."""

    def reached(t: float) -> bool:
        value = fn(t)
        return value >= limit if direction == "ceiling" else value <= limit

    if reached(grid[0]):
        return grid[0]
    for low, high in itertools.pairwise(grid):
        if reached(high):
            while high - low > 0.5:
                middle = (low + high) / 2
                if reached(middle):
                    high = middle
                else:
                    low = middle
            return high
    return None


def forecast_series(
    target: Target,
    labels: dict[str, str],
    times: list[float],
    values: list[float],
    *,
    at: float,
    warn: float,
    step: float = 3600.0,
    scale: float = 1.0,
) -> Forecast:
    """Choose a model by backtest, fit it and judge the forecast over ``(at, at + horizon]``.

    ``scale`` multiplies the history first (``--what-if``)."""
    if scale != 1.0:
        values = [v * scale for v in values]
    choice = choose(times, values, step=step, horizon=target.horizon, models=target.models)
    if choice is None:
        return Forecast(target, labels, at, "no_data", scale=scale)
    curve = choice.curve
    current = next(v for v in reversed(values) if math.isfinite(v))
    end = at + target.horizon
    floor = target.direction == "floor"
    z = -_Z if floor else _Z  # the near edge: toward the limit

    def near(t: float) -> float:
        return curve.mean(t) + z * curve.sd(t)

    def far(t: float) -> float:
        return curve.mean(t) - z * curve.sd(t)

    grid = _grid(at, end, RESOLUTION)
    means = [(curve.mean(t), t) for t in grid]
    top, top_at = min(means) if floor else max(means)
    sd = curve.sd(top_at)
    likely = first_reaching(curve.mean, target.limit, target.direction, grid)
    # The band's edges cost a standard deviation per point: a coarser scan (bisected too).
    coarse = _grid(at, end, max(RESOLUTION, target.horizon / 2000))
    earliest = first_reaching(near, target.limit, target.direction, coarse)
    latest = first_reaching(far, target.limit, target.direction, coarse)
    if likely is not None:  # a crossing between coarse points must not reorder the three
        earliest = likely if earliest is None else min(earliest, likely)
        latest = None if latest is None else max(latest, likely)
    exhausted = Exhaustion(earliest, likely, latest)
    act_at = (
        None
        if target.act is None
        else first_reaching(curve.mean, target.act, target.direction, grid)
    )
    status: Status = "ok"
    if likely is not None:
        status = "critical" if likely - at < warn else "warning"
    elif exhausted.earliest is not None or act_at is not None:
        status = "warning"
    history = tuple(
        (t, v) for t, v in zip(times, values, strict=True) if at - target.history <= t <= at
    )
    path = tuple(
        (t, m, m - _Z * d, m + _Z * d)
        for t in _grid(at, end, target.horizon / 360)
        for m, d in [(curve.mean(t), curve.sd(t))]
    )
    return Forecast(
        target,
        labels,
        at,
        status,
        current=current,
        trend_per_day=curve.trend_per_day,
        peak=top,
        peak_at=top_at,
        exhausted_at=likely,
        fit=curve,
        band=Band(top - _Z * sd, top + _Z * sd),
        exhausted=exhausted,
        act_at=act_at,
        backtest=choice.scores,
        history=history,
        path=path,
        scale=scale,
        band_scale=choice.band_scale,
    )


def fetch(
    prom: PrometheusClient, query: str, start: float, end: float, step: float
) -> list[Series]:
    """A range query over ``[start, end]``, split so no request exceeds :data:`MAX_POINTS`."""
    from sre_cli.prometheus import Series

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
    target: Target,
    prom: PrometheusClient,
    *,
    at: float,
    step: float,
    warn: float,
    what_if: float = 1.0,
) -> list[Forecast]:
    """Forecast every series ``target.query`` returns; one ``no_data`` forecast if none.

    ``what_if`` multiplies the history of a ``traffic`` target ("10x the traffic")."""
    scale = what_if if target.traffic else 1.0
    series = fetch(prom, target.query, at - target.history, at, step)
    if not series:
        return [Forecast(target, {}, at, "no_data", scale=scale)]
    out = [
        forecast_series(
            target, s.labels, s.times, s.values, at=at, warn=warn, step=step, scale=scale
        )
        for s in series
    ]
    return sorted(out, key=lambda f: sorted(f.labels.items()))

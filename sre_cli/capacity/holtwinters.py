"""Damped Holt-Winters: exponential smoothing of level, damped trend and a daily profile.

The additive error-correction form (ETS(A,Ad,A)) on a regular grid of ``step`` seconds::

    forecast  = level + phi * trend + season[k mod m]
    error     = value - forecast
    level     = level + phi * trend + alpha * error
    trend     = phi * trend + beta * error
    season[k] = season[k] + gamma * error

``phi`` < 1 damps the trend: the forecast flattens out instead of growing for ever, which is
what many saturating series do. The smoothing parameters are chosen on a small grid by the
one-step squared error over the history (pure Python, a few tens of milliseconds for two weeks
of hourly samples). A missing grid point advances the state without an update. The prediction
variance ``h`` steps ahead is ``sigma² (1 + sum c_j², j < h)`` with
``c_j = alpha + beta (phi + ... + phi^j) + gamma [j multiple of m]`` (Hyndman et al.,
*Forecasting with Exponential Smoothing*, class 1 models)::

    model = fit_holt_winters(times, values, step=3600)   # None: too few samples
    model.mean(t), model.sd(t)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sre_cli.capacity.model import DAY, MIN_SAMPLES

__all__ = ["MAX_GRID", "HoltWinters", "fit_holt_winters"]

_ALPHAS = (0.05, 0.15, 0.3, 0.5, 0.8)
_BETAS = (0.02, 0.1, 0.3)  # as a fraction of alpha
_GAMMAS = (0.05, 0.2, 0.5)  # as a fraction of 1 - alpha
_PHIS = (0.9, 0.98)
MAX_GRID = 20_000
"""Longer grids are not fitted (the parameter search would take seconds): use a coarser step."""
_EXACT = 5000
"""Steps ahead whose variance terms are summed one by one (0.98^5000 is far below 1e-40)."""


@dataclass
class HoltWinters:
    """A fitted damped Holt-Winters model; time in unix seconds."""

    last: float
    """Unix time of the last grid point of the history."""
    step: float
    level: float
    trend: float
    season: tuple[float, ...]
    """The profile by grid position modulo its length (empty: no profile)."""
    position: int
    """Grid position of ``last`` (selects the profile entry)."""
    alpha: float
    beta: float
    gamma: float
    phi: float
    sigma: float
    samples: int
    name: str = "holt-winters"
    _variance: list[float] = field(default_factory=lambda: [1.0], repr=False)

    @property
    def trend_per_day(self) -> float:
        return self.trend * DAY / self.step

    def _at(self, h: int) -> float:
        if h <= 0:
            return self.level + (
                self.season[self.position % len(self.season)] if self.season else 0
            )
        damped = self.phi * (1 - self.phi**h) / (1 - self.phi)
        seasonal = self.season[(self.position + h) % len(self.season)] if self.season else 0.0
        return self.level + damped * self.trend + seasonal

    def mean(self, t: float) -> float:
        """The forecast at ``t`` (linear between grid points)."""
        h = (t - self.last) / self.step
        low = math.floor(h)
        frac = h - low
        a = self._at(low)
        return a if frac == 0 else a + (self._at(low + 1) - a) * frac

    def _var(self, h: int) -> float:
        """Variance multiplier ``1 + sum c_j²`` for ``h`` steps ahead.

        Cached up to :data:`_EXACT` steps; beyond, ``phi^j`` is negligible and ``c_j`` takes
        two values (with or without the profile term), so the sum grows linearly."""
        m = len(self.season)
        needed = min(h, _EXACT)
        while len(self._variance) < needed:
            j = len(self._variance)
            damped = self.phi * (1 - self.phi**j) / (1 - self.phi)
            c = self.alpha + self.beta * damped + (self.gamma if m and j % m == 0 else 0.0)
            self._variance.append(self._variance[-1] + c * c)
        total = self._variance[max(0, needed - 1)]
        if h > _EXACT:
            c = self.alpha + self.beta * self.phi / (1 - self.phi)
            seasonal = 0 if not m else (h - 1) // m - (_EXACT - 1) // m
            total += (h - _EXACT) * c * c + seasonal * ((c + self.gamma) ** 2 - c * c)
        return total

    def sd(self, t: float) -> float:
        h = max(1, math.ceil((t - self.last) / self.step))
        return self.sigma * math.sqrt(self._var(h))

    def predict(self, t: float) -> float:
        return self.mean(t)


def _grid(
    times: Sequence[float], values: Sequence[float], step: float
) -> tuple[float, list[float | None]]:
    points = sorted(
        (t, v) for t, v in zip(times, values, strict=True) if math.isfinite(t) and math.isfinite(v)
    )
    start = points[0][0]
    size = round((points[-1][0] - start) / step) + 1
    grid: list[float | None] = [None] * size
    for t, v in points:
        grid[round((t - start) / step)] = v
    return start, grid


def _initial(grid: list[float | None], m: int) -> tuple[float, float, list[float]]:
    known = [(i, v) for i, v in enumerate(grid) if v is not None]
    if m:
        first = [v for i, v in known if i < m]
        second = [v for i, v in known if m <= i < 2 * m]
        level = sum(first) / len(first)
        trend = (sum(second) / len(second) - level) / m if second else 0.0
        season = [0.0] * m
        for i, v in known:
            if i < m:
                season[i] = v - (level + (i - (m - 1) / 2) * trend)
        mean = sum(season) / m
        return level - trend * (m - 1) / 2 - trend, trend, [s - mean for s in season]
    head = known[: min(len(known), 10)]
    slope = (head[-1][1] - head[0][1]) / (head[-1][0] - head[0][0]) if len(head) > 1 else 0.0
    return head[0][1] - slope, slope, []


def _run(
    grid: list[float | None],
    level: float,
    trend: float,
    season: list[float],
    alpha: float,
    beta: float,
    gamma: float,
    phi: float,
) -> tuple[float, float, float, list[float], int]:
    """One pass over the history: (sum of squared one-step errors, level, trend, profile, n)."""
    s = list(season)
    m = len(s)
    sse = 0.0
    count = 0
    for k, y in enumerate(grid):
        seasonal = s[k % m] if m else 0.0
        forecast = level + phi * trend + seasonal
        error = 0.0 if y is None else y - forecast
        if y is not None:
            sse += error * error
            count += 1
        level = level + phi * trend + alpha * error
        trend = phi * trend + beta * error
        if m:
            s[k % m] = seasonal + gamma * error
    return sse, level, trend, s, count


def fit_holt_winters(
    times: Sequence[float], values: Sequence[float], *, step: float
) -> HoltWinters | None:
    """Fit on the grid of ``step`` seconds; a daily profile when two days of history allow it.

    None with fewer than ``MIN_SAMPLES`` samples or more than :data:`MAX_GRID` grid points."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < MIN_SAMPLES or step <= 0:
        return None
    finite_times = [t for t, v in zip(times, values, strict=True) if math.isfinite(v)]
    if (max(finite_times) - min(finite_times)) / step + 1 > MAX_GRID:
        return None
    start, grid = _grid(times, values, step)
    period = round(DAY / step)
    m = period if period >= 2 and len(grid) >= 2 * period + MIN_SAMPLES else 0
    level0, trend0, season0 = _initial(grid, m)
    best: tuple[float, tuple[float, float, float, float]] | None = None
    gammas = _GAMMAS if m else (0.0,)
    for alpha, b, g, phi in itertools.product(_ALPHAS, _BETAS, gammas, _PHIS):
        beta, gamma = alpha * b, (1 - alpha) * g
        sse = _run(grid, level0, trend0, season0, alpha, beta, gamma, phi)[0]
        if best is None or sse < best[0]:
            best = (sse, (alpha, beta, gamma, phi))
    assert best is not None
    alpha, beta, gamma, phi = best[1]
    sse, level, trend, season, count = _run(grid, level0, trend0, season0, alpha, beta, gamma, phi)
    parameters = 4 + m
    sigma = math.sqrt(sse / max(1, count - min(parameters, count // 2)))
    return HoltWinters(
        last=start + (len(grid) - 1) * step,
        step=step,
        level=level,
        trend=trend,
        season=tuple(season),
        position=len(grid) - 1,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        phi=phi,
        sigma=sigma,
        samples=len(finite),
    )

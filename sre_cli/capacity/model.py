"""The forecast model: a linear trend plus daily (and weekly) profiles, fitted by least squares.

The model is deliberately one an on-call engineer can explain in a sentence::

    value(t) = level + trend * t + daily(t) [+ weekly(t)]

``daily`` and ``weekly`` are Fourier series (up to :data:`DAILY_HARMONICS` and
:data:`WEEKLY_HARMONICS` harmonics): smooth repeating profiles with few parameters. The weekly
profile is fitted only when the history spans at least two weeks, the daily one when it spans
at least two days; a profile is dropped when the sample spacing cannot resolve it or when there
are too few samples for its parameters. Pure Python: the normal equations have at most 12
unknowns and are solved by Gaussian elimination with partial pivoting, on a trend column scaled
to the history so that they stay well conditioned::

    fit = fit_series(times, values)          # None when there are too few samples
    fit.predict(t)                           # the forecast at unix time t
    fit.sd(t)                                # standard deviation of a new value at t
    crossing(fit, limit, start, end)         # first time the forecast reaches limit, or None

``fit_series(..., seasonal=False)`` fits the trend alone (the ``linear`` model). The prediction
standard deviation combines the residual variance with the parameters' covariance, the latter
widened by ``(1 + rho) / (1 - rho)`` for residuals whose lag-1 autocorrelation ``rho`` is
positive (metrics are autocorrelated: independent-error intervals would be too narrow).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DAILY_HARMONICS",
    "DAY",
    "MIN_SAMPLES",
    "WEEK",
    "WEEKLY_HARMONICS",
    "Fit",
    "crossing",
    "fit_series",
    "lag1_autocorrelation",
    "peak",
]

DAY = 86400.0
WEEK = 7 * DAY
DAILY_HARMONICS = 3
WEEKLY_HARMONICS = 2
MIN_SAMPLES = 10
"""Fewer finite samples than this is ``no_data``: no trend is worth reporting."""


@dataclass(frozen=True)
class Fit:
    """A fitted model. Time is measured in days from ``origin`` (a unix time)."""

    origin: float
    level: float
    trend_per_day: float
    daily: tuple[tuple[float, float], ...]
    """(cos, sin) coefficients of harmonics 1..K of the daily profile."""
    weekly: tuple[tuple[float, float], ...]
    r2: float | None
    """Coefficient of determination; None when the series does not vary at all."""
    residual_std: float
    samples: int
    width: float = 1.0
    """History span in days: the trend column of the design is scaled by it."""
    covariance: tuple[tuple[float, ...], ...] = ()
    """Covariance of the coefficients in the scaled design, autocorrelation-widened."""
    name: str = "seasonal"

    def basis(self, t: float) -> list[float]:
        """The design row at unix time ``t``: level, scaled trend, daily, weekly harmonics."""
        out = [1.0, (t - self.origin) / DAY / self.width]
        for period, terms in ((DAY, self.daily), (WEEK, self.weekly)):
            for k in range(1, len(terms) + 1):
                angle = 2 * math.pi * k * t / period
                out += [math.cos(angle), math.sin(angle)]
        return out

    def sd(self, t: float) -> float:
        """Standard deviation of a new observation at ``t`` around :meth:`predict`."""
        if not self.covariance:
            return self.residual_std
        g = self.basis(t)
        var = 0.0
        for gi, row in zip(g, self.covariance, strict=True):  # g' C g, without generators
            acc = 0.0
            for c, gj in zip(row, g, strict=True):
                acc += c * gj
            var += gi * acc
        return math.sqrt(self.residual_std**2 + max(0.0, var))

    def mean(self, t: float) -> float:
        return self.predict(t)

    def seasonal(self, t: float) -> float:
        """The daily plus weekly profile at unix time ``t`` (mean zero over a period)."""
        total = 0.0
        for period, terms in ((DAY, self.daily), (WEEK, self.weekly)):
            for k, (c, s) in enumerate(terms, start=1):
                angle = 2 * math.pi * k * t / period
                total += c * math.cos(angle) + s * math.sin(angle)
        return total

    def predict(self, t: float) -> float:
        return self.level + self.trend_per_day * (t - self.origin) / DAY + self.seasonal(t)


def _harmonics(span: float, spacing: float, period: float, wanted: int, needed_span: float) -> int:
    """How many harmonics of ``period`` the history can support (0: leave the profile out)."""
    if span < needed_span or spacing <= 0:
        return 0
    # Nyquist: harmonic k has period period/k, which needs more than two samples per cycle.
    resolvable = int((period / spacing - 1) // 2)
    return max(0, min(wanted, resolvable))


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float] | None:
    """Solve a small square system by Gaussian elimination with partial pivoting."""
    n = len(rhs)
    a = [[*row, b] for row, b in zip(matrix, rhs, strict=True)]
    scale = max((abs(x) for row in matrix for x in row), default=0.0) or 1.0
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) <= 1e-12 * scale:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            if factor:
                for c in range(col, n + 1):
                    a[r][c] -= factor * a[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][c] * x[c] for c in range(r + 1, n))) / a[r][r]
    return x


def _spacing(times: Sequence[float]) -> float:
    gaps = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
    return gaps[len(gaps) // 2] if gaps else 0.0


def _invert(matrix: list[list[float]]) -> list[list[float]] | None:
    """The inverse of a small square matrix, column by column; None when singular."""
    n = len(matrix)
    columns = []
    for j in range(n):
        col = _solve(matrix, [1.0 if i == j else 0.0 for i in range(n)])
        if col is None:
            return None
        columns.append(col)
    return [[columns[j][i] for j in range(n)] for i in range(n)]


def lag1_autocorrelation(residuals: Sequence[float]) -> float:
    """Lag-1 autocorrelation of residuals (0 for fewer than three)."""
    if len(residuals) < 3:
        return 0.0
    mean = sum(residuals) / len(residuals)
    den = sum((e - mean) ** 2 for e in residuals)
    if den == 0:
        return 0.0
    num = sum((a - mean) * (b - mean) for a, b in itertools.pairwise(residuals))
    return num / den


def fit_series(
    times: Sequence[float], values: Sequence[float], *, seasonal: bool = True
) -> Fit | None:
    """Fit the model to a series; None when it has fewer than :data:`MIN_SAMPLES` samples.

    ``seasonal=False`` fits the trend alone (the ``linear`` model)."""
    points = sorted(
        (t, v) for t, v in zip(times, values, strict=True) if math.isfinite(t) and math.isfinite(v)
    )
    n = len(points)
    if n < MIN_SAMPLES:
        return None
    ts = [t for t, _ in points]
    ys = [v for _, v in points]
    origin = ts[-1]
    span, spacing = ts[-1] - ts[0], _spacing(ts)
    daily_k = _harmonics(span, spacing, DAY, DAILY_HARMONICS, 2 * DAY)
    weekly_k = _harmonics(span, spacing, WEEK, WEEKLY_HARMONICS, 2 * WEEK)
    if not seasonal:
        daily_k = weekly_k = 0
    # Keep at least two samples per parameter: drop the weekly, then the daily profile.
    while weekly_k and n < 2 * (2 + 2 * daily_k + 2 * weekly_k):
        weekly_k -= 1
    while daily_k and n < 2 * (2 + 2 * daily_k):
        daily_k -= 1

    # Trend time scaled to [-1, 0] over the history keeps the normal equations well conditioned.
    width = span / DAY or 1.0

    def row(t: float) -> list[float]:
        out = [1.0, (t - origin) / DAY / width]
        for period, k_max in ((DAY, daily_k), (WEEK, weekly_k)):
            for k in range(1, k_max + 1):
                angle = 2 * math.pi * k * t / period
                out += [math.cos(angle), math.sin(angle)]
        return out

    rows = [row(t) for t in ts]
    p = len(rows[0])
    normal = [[sum(r[i] * r[j] for r in rows) for j in range(p)] for i in range(p)]
    rhs = [sum(r[i] * y for r, y in zip(rows, ys, strict=True)) for i in range(p)]
    coef = _solve(normal, rhs)
    if coef is None:  # singular (e.g. every sample at one instant): a level and no trend
        mean = sum(ys) / n
        coef = [mean, 0.0] + [0.0] * (p - 2)
    fitted = [sum(c * x for c, x in zip(coef, r, strict=True)) for r in rows]
    residuals = [y - f for y, f in zip(ys, fitted, strict=True)]
    mean = sum(ys) / n
    ss_tot = sum((y - mean) ** 2 for y in ys)
    ss_res = sum(e * e for e in residuals)
    # A series that never varies has no R²; tiny float noise around a constant is not variation.
    varies = ss_tot > (1e-12 * max(1.0, abs(mean))) ** 2 * n
    r2 = 1.0 - ss_res / ss_tot if varies else None
    dof = max(1, n - p)
    residual_var = ss_res / dof
    rho = min(0.99, max(0.0, lag1_autocorrelation(residuals)))
    inverse = _invert(normal) if varies else None
    inflation = (1 + rho) / (1 - rho)
    covariance = (
        tuple(tuple(x * residual_var * inflation for x in row) for row in inverse)
        if inverse is not None
        else ()
    )
    profile = coef[2:]
    pairs = [(profile[i], profile[i + 1]) for i in range(0, len(profile), 2)]
    return Fit(
        origin=origin,
        level=coef[0],
        trend_per_day=coef[1] / width if varies else 0.0,
        daily=tuple(pairs[:daily_k]),
        weekly=tuple(pairs[daily_k:]),
        r2=r2,
        residual_std=math.sqrt(residual_var),
        samples=n,
        width=width,
        covariance=covariance,
        name="seasonal" if seasonal else "linear",
    )


def _grid(start: float, end: float, resolution: float) -> list[float]:
    steps = max(1, math.ceil((end - start) / resolution))
    return [start + (end - start) * i / steps for i in range(steps + 1)]


def peak(fit: Fit, start: float, end: float, resolution: float = 300.0) -> tuple[float, float]:
    """The highest forecast in ``[start, end]`` and when it happens (sampled every resolution)."""
    return max(((fit.predict(t), t) for t in _grid(start, end, resolution)), key=lambda p: p[0])


def crossing(
    fit: Fit, limit: float, start: float, end: float, resolution: float = 300.0
) -> float | None:
    """The first time in ``[start, end]`` the forecast reaches ``limit`` (to the second).

    Without a profile the forecast is a line and the answer is solved exactly; otherwise the
    horizon is scanned every ``resolution`` seconds and the first crossing refined by bisection.
    """
    if fit.predict(start) >= limit:
        return start
    if not fit.daily and not fit.weekly:
        if fit.trend_per_day <= 0:
            return None
        at = fit.origin + (limit - fit.level) / fit.trend_per_day * DAY
        return at if start <= at <= end else None
    grid = _grid(start, end, resolution)
    for low, high in itertools.pairwise(grid):
        if fit.predict(high) >= limit:
            while high - low > 0.5:
                middle = (low + high) / 2
                if fit.predict(middle) >= limit:
                    high = middle
                else:
                    low = middle
            return high
    return None

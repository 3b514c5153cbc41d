"""Model choice by backtest: fit each candidate on the history minus its last part, score the part.

Candidates, simplest first (a tie goes to the simpler one):

* ``linear``: level + trend (:func:`~sre_cli.capacity.model.fit_series` without profiles);
* ``seasonal``: level + trend + daily and weekly profiles (the same, with profiles);
* ``holt-winters``: damped Holt-Winters with a daily profile
  (:mod:`sre_cli.capacity.holtwinters`).

The held-out part is the last quarter of the samples, at most as long as the forecast horizon.
The score is the mean absolute error as a percentage of the mean absolute actual value (WAPE,
the form of MAPE that survives zeros in the data).

The backtest also checks the winner's band: when the held-out errors are larger than its
standard deviation promised (their 90th percentile over ``sd`` above the normal 1.645), every
``sd`` of the refitted model is widened by that ratio (``Choice.band_scale``), so a model that
looked too sure of itself on data it had not seen says so::

    choice = choose(times, values, step=3600, horizon=30 * 86400)
    choice.curve.mean(t), choice.curve.sd(t)     # the winner, refitted on the whole history
    choice.scores                                # {"linear": 8.1, "seasonal": 0.9, ...}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sre_cli.capacity.holtwinters import fit_holt_winters
from sre_cli.capacity.model import MIN_SAMPLES, fit_series

__all__ = ["MODELS", "Choice", "Curve", "Widened", "choose", "fit_model", "wape"]

MODELS = ("linear", "seasonal", "holt-winters")
HOLDOUT_FRACTION = 0.25
_Z90 = 1.6448536269514722  # |N(0, 1)| exceeds it with probability 0.1


class Curve(Protocol):
    """A fitted model as the forecast sees it."""

    @property
    def name(self) -> str: ...

    @property
    def trend_per_day(self) -> float: ...

    @property
    def samples(self) -> int: ...

    def mean(self, t: float) -> float: ...

    def sd(self, t: float) -> float: ...


def fit_model(
    name: str, times: Sequence[float], values: Sequence[float], step: float
) -> Curve | None:
    """Fit the named model; None when the series is too short for it."""
    if name == "linear":
        return fit_series(times, values, seasonal=False)
    if name == "seasonal":
        return fit_series(times, values)
    if name == "holt-winters":
        return fit_holt_winters(times, values, step=step)
    raise ValueError(f"unknown model {name!r}")


def wape(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Sum of absolute errors over the sum of absolute actual values, in percent."""
    errors = sum(abs(a - p) for a, p in zip(actual, predicted, strict=True))
    scale = sum(abs(a) for a in actual)
    if scale == 0:
        return 0.0 if errors == 0 else math.inf
    return 100 * errors / scale


@dataclass(frozen=True)
class Widened:
    """A curve whose standard deviation is multiplied by ``scale``."""

    inner: Curve
    scale: float

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def trend_per_day(self) -> float:
        return self.inner.trend_per_day

    @property
    def samples(self) -> int:
        return self.inner.samples

    @property
    def r2(self) -> float | None:
        return getattr(self.inner, "r2", None)

    def mean(self, t: float) -> float:
        return self.inner.mean(t)

    def sd(self, t: float) -> float:
        return self.inner.sd(t) * self.scale


def _band_scale(curve: Curve, test: Sequence[tuple[float, float]]) -> float:
    """How much wider the band must be to hold 90 % of the held-out errors (at least 1)."""
    ratios = []
    for t, v in test:
        sd = curve.sd(t)
        error = abs(v - curve.mean(t))
        if sd > 0:
            ratios.append(error / sd)
        elif error > 0:
            ratios.append(math.inf)
    if not ratios:
        return 1.0
    ratios.sort()
    q90 = ratios[min(len(ratios) - 1, math.ceil(0.9 * len(ratios)) - 1)]
    return max(1.0, q90 / _Z90) if math.isfinite(q90) else 1.0


@dataclass(frozen=True)
class Choice:
    curve: Curve
    scores: dict[str, float]
    """Backtest error (WAPE %) of every candidate that could be fitted on the shorter history."""
    band_scale: float = 1.0
    """Factor the band was widened by after the backtest (1: its errors fit the band)."""

    @property
    def error(self) -> float | None:
        return self.scores.get(self.curve.name)


def choose(
    times: Sequence[float],
    values: Sequence[float],
    *,
    step: float,
    horizon: float,
    models: Sequence[str] = MODELS,
    fit: Callable[[str, Sequence[float], Sequence[float], float], Curve | None] = fit_model,
) -> Choice | None:
    """Backtest every model and refit the winner on the whole history (None: too few samples).

    With too little history to hold a part out, the first model of ``models`` that fits wins,
    unscored."""
    points = sorted(
        (t, v) for t, v in zip(times, values, strict=True) if math.isfinite(t) and math.isfinite(v)
    )
    if len(points) < MIN_SAMPLES:
        return None
    held = max(1, int(len(points) * HOLDOUT_FRACTION))
    if step > 0:
        held = min(held, max(1, int(horizon / step)))
    train, test = points[:-held], points[-held:]
    scores: dict[str, float] = {}
    scales: dict[str, float] = {}
    if len(train) >= MIN_SAMPLES:
        train_t, train_v = [t for t, _ in train], [v for _, v in train]
        actual = [v for _, v in test]
        for name in models:
            curve = fit(name, train_t, train_v, step)
            if curve is not None:
                scores[name] = wape(actual, [curve.mean(t) for t, _ in test])
                scales[name] = _band_scale(curve, test)
    ranked = sorted(scores, key=lambda n: (scores[n], models.index(n)))
    all_t, all_v = [t for t, _ in points], [v for _, v in points]
    for name in [*ranked, *(m for m in models if m not in scores)]:
        curve = fit(name, all_t, all_v, step)
        if curve is not None:
            scale = scales.get(name, 1.0)
            if scale > 1.0:
                curve = Widened(curve, scale)
            return Choice(curve, scores, scale)
    return None

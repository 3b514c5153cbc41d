"""The forecast model on synthetic series with known answers (no server)."""

from __future__ import annotations

import math
import random

import pytest

from sre_cli.capacity.forecast import Target, forecast_series
from sre_cli.capacity.model import DAY, MIN_SAMPLES, WEEK, crossing, fit_series, peak

T0 = 1_709_251_200.0  # 2024-03-01T00:00:00Z
HOUR = 3600.0


def _times(days: float, step: float = HOUR) -> list[float]:
    return [T0 + i * step for i in range(int(days * DAY / step) + 1)]


def test_recovers_trend_and_daily_sine_within_tolerance() -> None:
    rng = random.Random(7)
    times = _times(14)
    values = [
        100
        + 3.0 * (t - T0) / DAY
        + 12 * math.sin(2 * math.pi * (t - 6 * HOUR) / DAY)
        + rng.gauss(0, 1.0)
        for t in times
    ]
    fit = fit_series(times, values)
    assert fit is not None
    assert fit.trend_per_day == pytest.approx(3.0, abs=0.05)
    # The fundamental of the daily profile carries the sine: amplitude 12, peak at 12:00 UTC.
    c, s = fit.daily[0]
    assert math.hypot(c, s) == pytest.approx(12, abs=0.3)
    assert fit.predict(T0 + 14 * DAY + 12 * HOUR) == pytest.approx(100 + 3 * 14.5 + 12, abs=0.8)
    assert fit.predict(T0 + 14 * DAY) == pytest.approx(100 + 3 * 14 - 12, abs=0.8)
    assert fit.r2 is not None
    assert fit.r2 > 0.99
    assert fit.residual_std == pytest.approx(1.0, abs=0.15)
    assert fit.samples == len(times)
    assert len(fit.weekly) == 2  # 14 days of history: the weekly profile is fitted too


def test_weekly_profile_needs_two_weeks_and_is_recovered() -> None:
    times = _times(28)
    weekly = [50 + 20 * math.cos(2 * math.pi * (t - T0) / WEEK) for t in times]
    fit = fit_series(times, weekly)
    assert fit is not None
    assert fit.trend_per_day == pytest.approx(0, abs=1e-6)
    assert fit.predict(T0 + 28 * DAY) == pytest.approx(70, abs=1e-6)
    assert fit.predict(T0 + 31.5 * DAY) == pytest.approx(30, abs=1e-6)
    short = fit_series(_times(10), [1.0 + i for i in range(len(_times(10)))])
    assert short is not None
    assert short.weekly == ()
    assert len(short.daily) == 3


def test_exhaustion_time_of_a_linear_series_is_exact() -> None:
    # 40 + 2.5/day, sampled hourly for 3 days, no profile in the data.
    times = _times(3)
    values = [40 + 2.5 * (t - T0) / DAY for t in times]
    fit = fit_series(times, values)
    assert fit is not None
    at = times[-1]  # value 47.5 here
    expected = T0 + (100 - 40) / 2.5 * DAY  # 24 days after T0: 21 days after `at`
    exhausted = crossing(fit, 100, at, at + 30 * DAY)
    assert exhausted is not None
    assert abs(exhausted - expected) < 1.0
    f = forecast_series(
        Target("linear", "q", 100, horizon=30 * DAY), {}, times, values, at=at, warn=14 * DAY
    )
    assert f.status == "warning"  # within the horizon, later than --warn
    assert f.exhausted_at is not None
    assert abs(f.exhausted_at - expected) < 1.0
    assert f.current == pytest.approx(47.5)
    assert f.trend_per_day == pytest.approx(2.5, abs=1e-9)
    assert f.peak == pytest.approx(47.5 + 2.5 * 30, abs=1e-6)
    assert f.headroom == pytest.approx(52.5)
    assert f.headroom_pct == pytest.approx(52.5)
    critical = forecast_series(Target("linear", "q", 100), {}, times, values, at=at, warn=22 * DAY)
    assert critical.status == "critical"
    beyond = forecast_series(
        Target("linear", "q", 100, horizon=20 * DAY), {}, times, values, at=at, warn=22 * DAY
    )
    assert beyond.status == "ok"
    assert beyond.exhausted_at is None


def test_crossing_with_a_daily_profile_is_the_first_touch() -> None:
    # 10 + 1/day + 5 sin(day): the limit 20 is first touched on a daily peak, not by the trend.
    times = _times(7, step=600)
    values = [10 + (t - T0) / DAY + 5 * math.sin(2 * math.pi * (t - T0) / DAY) for t in times]
    fit = fit_series(times, values)
    assert fit is not None
    at = times[-1]
    exhausted = crossing(fit, 20, at, at + 30 * DAY)
    truth = next(
        t
        for t in (at + i for i in range(int(30 * DAY)))
        if 10 + (t - T0) / DAY + 5 * math.sin(2 * math.pi * (t - T0) / DAY) >= 20
    )
    assert exhausted is not None
    assert abs(exhausted - truth) < 5.0
    top, top_at = peak(fit, at, at + 2 * DAY)
    assert top == pytest.approx(10 + 8.25 + 5, abs=0.01)
    assert top_at == pytest.approx(T0 + 8.25 * DAY, abs=300)


def test_flat_series_never_exhausts() -> None:
    times = _times(14)
    values = [42.0] * len(times)
    f = forecast_series(
        Target("flat", "q", 42.5, horizon=365 * DAY), {}, times, values, at=times[-1], warn=DAY
    )
    assert f.status == "ok"
    assert f.exhausted_at is None
    assert f.trend_per_day == 0.0
    assert f.peak == pytest.approx(42.0, abs=1e-9)
    assert f.r2 is None  # nothing to explain


def test_already_over_the_limit_is_exhausted_now() -> None:
    times = _times(3)
    values = [120.0 + 0.001 * i for i in range(len(times))]
    f = forecast_series(Target("over", "q", 100), {}, times, values, at=times[-1], warn=DAY)
    assert f.status == "critical"
    assert f.exhausted_at == times[-1]
    assert f.headroom is not None
    assert f.headroom < 0


def test_too_few_samples_is_no_data() -> None:
    times = _times(1)[: MIN_SAMPLES - 1]
    values = [float(i) for i in range(len(times))]
    assert fit_series(times, values) is None
    f = forecast_series(Target("few", "q", 5), {"a": "b"}, times, values, at=times[-1], warn=DAY)
    assert f.status == "no_data"
    assert (f.current, f.peak, f.exhausted_at, f.samples) == (None, None, None, 0)
    # NaN samples (a division by zero in PromQL) do not count.
    padded = times + _times(1)[MIN_SAMPLES - 1 : MIN_SAMPLES + 5]
    assert fit_series(padded, values + [math.nan] * 6) is None


def test_coarse_steps_drop_the_profiles_they_cannot_resolve() -> None:
    times = _times(20, step=DAY)
    fit = fit_series(times, [5.0 + 0.5 * i for i in range(len(times))])
    assert fit is not None
    assert fit.daily == ()  # one sample a day cannot show a daily profile
    assert fit.trend_per_day == pytest.approx(0.5)


def test_long_histories_are_read_in_chunks_prometheus_accepts() -> None:
    from sre_cli.capacity.forecast import MAX_POINTS, fetch
    from sre_cli.prometheus import Series

    calls: list[tuple[float, float]] = []

    class Fake:
        def query_range(self, query: str, start: float, end: float, step: float) -> list[Series]:
            calls.append((start, end))
            assert (end - start) / step + 1 <= MAX_POINTS
            times = [start + i * step for i in range(int((end - start) // step) + 1)]
            return [Series({"i": "a"}, times, [t / step for t in times])]

    step = 60.0
    start, end = T0, T0 + 15 * DAY  # 21,601 minute samples: three requests
    [series] = fetch(Fake(), "q", start, end, step)  # type: ignore[arg-type]
    assert len(calls) == 3
    assert series.times == [start + i * step for i in range(21_601)]
    assert series.values == [t / step for t in series.times]

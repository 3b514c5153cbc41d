"""Model choice by backtest, the band, floors and damped Holt-Winters on known series."""

from __future__ import annotations

import math
import random

import pytest

from sre_cli.capacity.backtest import choose, wape
from sre_cli.capacity.forecast import Target, forecast_series
from sre_cli.capacity.holtwinters import fit_holt_winters
from sre_cli.capacity.model import DAY, fit_series

T0 = 1_709_251_200.0  # 2024-03-01T00:00:00Z
HOUR = 3600.0


def _times(days: float, step: float = HOUR) -> list[float]:
    return [T0 + i * step for i in range(int(days * DAY / step) + 1)]


def _daily(t: float) -> float:
    return math.sin(2 * math.pi * (t - 6 * HOUR) / DAY)


def test_wape_is_the_error_over_the_actual_mass() -> None:
    assert wape([100, 100], [90, 110]) == pytest.approx(10.0)
    assert wape([0, 10], [1, 10]) == pytest.approx(10.0)  # a zero does not blow it up
    assert wape([0, 0], [0, 0]) == 0.0
    assert wape([0, 0], [1, 0]) == math.inf


def test_backtest_picks_the_seasonal_model_for_a_daily_profile() -> None:
    rng = random.Random(1)
    times = _times(14)
    values = [100 + 2 * (t - T0) / DAY + 15 * _daily(t) + rng.gauss(0, 1) for t in times]
    choice = choose(times, values, step=HOUR, horizon=30 * DAY)
    assert choice is not None
    assert choice.curve.name == "seasonal"
    assert set(choice.scores) == {"linear", "seasonal", "holt-winters"}
    assert choice.scores["seasonal"] < choice.scores["linear"] / 3
    assert choice.error == choice.scores["seasonal"]


def test_backtest_picks_the_line_for_a_line() -> None:
    rng = random.Random(2)
    times = _times(10)
    values = [20 + 1.5 * (t - T0) / DAY + rng.gauss(0, 0.5) for t in times]
    choice = choose(times, values, step=HOUR, horizon=30 * DAY)
    assert choice is not None
    # A line and a line plus a (fitted-as-noise) profile score alike; the simpler one wins a tie
    # or a near tie, and Holt-Winters' damped trend undershoots the held-out growth.
    assert choice.curve.name in {"linear", "seasonal"}
    assert choice.scores["holt-winters"] > choice.scores["linear"]


def test_backtest_picks_holt_winters_when_growth_levels_off() -> None:
    # Growth that levels off: a saturating curve. A line through the history overshoots the
    # held-out part; a damped trend follows it.
    times = _times(14)
    values = [200 - 150 * math.exp(-(t - T0) / (3 * DAY)) for t in times]
    choice = choose(times, values, step=HOUR, horizon=30 * DAY)
    assert choice is not None
    assert choice.curve.name == "holt-winters"
    assert choice.scores["holt-winters"] < choice.scores["linear"]


def test_too_little_history_to_hold_out_is_unscored() -> None:
    times = _times(10 / 24)  # 11 hourly samples: 9 left to fit after holding out 2
    choice = choose(times, [float(i) for i in range(len(times))], step=HOUR, horizon=DAY)
    assert choice is not None
    assert choice.scores == {}
    assert choice.error is None
    assert choice.curve.name == "linear"


def test_holt_winters_recovers_level_trend_and_profile() -> None:
    times = _times(7)
    values = [50 + 3 * (t - T0) / DAY + 8 * _daily(t) for t in times]
    model = fit_holt_winters(times, values, step=HOUR)
    assert model is not None
    assert len(model.season) == 24
    assert model.trend_per_day == pytest.approx(3, abs=0.3)
    # One day ahead the damped trend has added a little less than 3.
    ahead = times[-1] + DAY
    assert model.mean(ahead) == pytest.approx(50 + 3 * 8 + 8 * _daily(ahead), abs=3)
    # The prediction interval widens with the lead time.
    assert model.sd(times[-1] + HOUR) < model.sd(times[-1] + DAY) < model.sd(times[-1] + 7 * DAY)
    assert fit_holt_winters(times[:5], values[:5], step=HOUR) is None


def test_band_widens_with_the_horizon_and_is_wider_for_autocorrelated_noise() -> None:
    rng = random.Random(3)
    times = _times(14)
    white = [10 + 0.5 * (t - T0) / DAY + rng.gauss(0, 1) for t in times]
    noise, red = 0.0, []
    for t in times:  # AR(1) noise with the same marginal σ: 0.9 lag-1 autocorrelation
        noise = 0.9 * noise + rng.gauss(0, math.sqrt(1 - 0.81))
        red.append(10 + 0.5 * (t - T0) / DAY + noise)
    a = fit_series(times, white, seasonal=False)
    b = fit_series(times, red, seasonal=False)
    assert a is not None
    assert b is not None
    end = times[-1]
    assert a.sd(end + DAY) < a.sd(end + 30 * DAY)
    # The trend of autocorrelated data is less certain: its far band is wider.
    assert b.sd(end + 30 * DAY) - b.residual_std > 2 * (a.sd(end + 30 * DAY) - a.residual_std)


def test_band_holds_the_true_crossing_of_noisy_lines() -> None:
    # Twenty histories of one line with different noise: the true crossing lies between the
    # earliest and the latest exhaustion in (nearly) all of them, and the band is not so wide
    # that it says nothing.
    inside, widths = 0, []
    for seed in range(20):
        rng = random.Random(seed)
        times = _times(14)
        values = [40 + 2 * (t - T0) / DAY + rng.gauss(0, 2) for t in times]
        f = forecast_series(
            Target("line", "q", 100, models=("linear",)), {}, times, values, at=times[-1], warn=DAY
        )
        truth = T0 + 30 * DAY  # 40 + 2 * 30 = 100
        e = f.exhausted
        assert e.earliest is not None
        assert e.likely is not None
        assert e.latest is not None
        assert e.earliest <= e.likely <= e.latest
        inside += e.earliest <= truth <= e.latest
        widths.append((e.latest - e.earliest) / DAY)
    assert inside >= 17  # a 90 % band: 18 of 20 expected
    assert max(widths) < 6  # days, for a crossing 16 days out


def test_floor_falls_below_its_limit() -> None:
    times = _times(7)
    values = [90 - 3 * (t - T0) / DAY for t in times]  # free space: 69 % now, -3 %/day
    target = Target("free", "q", 30, direction="floor", act=45, horizon=30 * DAY)
    f = forecast_series(target, {}, times, values, at=times[-1], warn=14 * DAY)
    expected = T0 + 20 * DAY  # 90 - 3 * 20 = 30
    assert f.exhausted_at is not None
    assert abs(f.exhausted_at - expected) < 60
    assert f.status == "critical"  # 13 days away
    assert f.current == pytest.approx(69)
    assert f.headroom == pytest.approx(39)  # above the floor
    assert f.peak == pytest.approx(90 - 3 * 37, abs=0.01)  # the lowest forecast: the horizon's end
    assert f.band is not None
    assert f.peak is not None
    assert f.band.lower <= f.peak <= f.band.upper
    assert f.act_at is not None
    assert abs(f.act_at - (T0 + 15 * DAY)) < 60
    # A ceiling at the same numbers is never reached by a falling series.
    up = forecast_series(Target("free", "q", 100), {}, times, values, at=times[-1], warn=DAY)
    assert (up.status, up.exhausted_at) == ("ok", None)


def test_act_level_warns_before_the_limit() -> None:
    times = _times(7)
    values = [10 + (t - T0) / DAY for t in times]  # 17 now, +1/day
    target = Target("x", "q", 100, act=30, horizon=30 * DAY)
    f = forecast_series(target, {}, times, values, at=times[-1], warn=14 * DAY)
    assert f.exhausted_at is None
    assert f.act_at is not None
    assert f.status == "warning"
    calm = forecast_series(Target("x", "q", 100), {}, times, values, at=times[-1], warn=DAY)
    assert calm.status == "ok"


def test_what_if_scales_the_history() -> None:
    times = _times(7)
    values = [50.0 + 0.01 * math.sin(i) for i in range(len(times))]
    f = forecast_series(Target("x", "q", 230), {}, times, values, at=times[-1], warn=DAY, scale=10)
    assert f.current == pytest.approx(500, abs=0.2)
    assert f.status == "critical"
    assert f.exhausted_at == times[-1]
    assert f.scale == 10


def test_backtest_widens_a_band_its_held_out_errors_do_not_fit() -> None:
    # Growth that accelerates: a line through the first ten days is far too sure of itself
    # on the last four.
    rng = random.Random(5)
    times = _times(14)
    values = [10 + 0.5 * ((t - T0) / DAY) ** 2 + rng.gauss(0, 1) for t in times]
    choice = choose(times, values, step=HOUR, horizon=30 * DAY, models=("linear",))
    assert choice is not None
    assert choice.band_scale > 1.5
    widened = choice.curve
    plain = fit_series(times, values, seasonal=False)
    assert plain is not None
    end = times[-1] + 7 * DAY
    assert widened.sd(end) == pytest.approx(plain.sd(end) * choice.band_scale)
    assert widened.mean(end) == plain.mean(end)
    # Independent noise around a line fits its band: nothing to widen by much.
    calm = [10 + 0.1 * i + rng.gauss(0, 1) for i in range(len(times))]
    steady = choose(times, calm, step=HOUR, horizon=30 * DAY, models=("linear",))
    assert steady is not None
    assert steady.band_scale < 1.3


def test_a_band_that_reaches_the_limit_warns_without_a_likely_time() -> None:
    # Flat at 90 with noise σ 7: the forecast stays at 90, the band's upper edge (about
    # 90 + 1.645 × 7) is over 100 from the start.
    rng = random.Random(11)
    times = _times(14)
    values = [90 + rng.gauss(0, 7) for _ in times]
    f = forecast_series(
        Target("noisy", "q", 100, models=("linear",)), {}, times, values, at=times[-1], warn=DAY
    )
    assert f.exhausted.likely is None
    assert f.exhausted.latest is None
    assert f.exhausted.earliest == times[-1]
    assert f.status == "warning"
    assert f.band is not None
    assert f.peak is not None
    assert f.band.upper > 100 > f.peak


def test_band_holds_the_true_crossing_with_autocorrelated_noise() -> None:
    # Trend + daily profile + AR(1) noise (lag-1 autocorrelation 0.7, σ 2), twenty histories:
    # the band, widened for the autocorrelation, still holds the true crossing.
    def truth(t: float) -> float:
        return 100 + 3 * (t - T0) / DAY + 10 * _daily(t)

    times = _times(14)
    at = times[-1]
    crossing = next(t for t in range(int(at), int(at + 30 * DAY), 60) if truth(t) >= 190)
    inside = 0
    for seed in range(20):
        rng = random.Random(seed)
        noise, values = 0.0, []
        for t in times:
            noise = 0.7 * noise + rng.gauss(0, 2 * math.sqrt(1 - 0.49))
            values.append(truth(t) + noise)
        f = forecast_series(Target("x", "q", 190), {}, times, values, at=at, warn=DAY)
        e = f.exhausted
        assert e.earliest is not None
        inside += e.earliest <= crossing and (e.latest is None or crossing <= e.latest)
    assert inside >= 18


def test_holt_winters_variance_far_ahead_matches_the_sum() -> None:
    times = _times(7)
    values = [
        50 + 3 * (t - T0) / DAY + 8 * _daily(t) + 0.1 * math.sin(i) for i, t in enumerate(times)
    ]
    model = fit_holt_winters(times, values, step=HOUR)
    assert model is not None
    m = len(model.season)
    h = 12_345  # past the steps summed one by one

    def c(j: int) -> float:
        damped = model.phi * (1 - model.phi**j) / (1 - model.phi)
        return model.alpha + model.beta * damped + (model.gamma if j % m == 0 else 0.0)

    exact = 1 + sum(c(j) ** 2 for j in range(1, h))
    assert model.sd(model.last + h * HOUR) == pytest.approx(model.sigma * math.sqrt(exact))


def test_holt_winters_refuses_grids_too_long_to_search() -> None:
    from sre_cli.capacity.holtwinters import MAX_GRID

    times = [T0 + i for i in range(0, 2 * MAX_GRID + 1, 100)]  # few samples, a long 1 s grid
    values = [float(i) for i in range(len(times))]
    assert fit_holt_winters(times, values, step=1.0) is None
    assert fit_holt_winters(times, values, step=100.0) is not None
    choice = choose(times, values, step=1.0, horizon=DAY)  # even the backtest's shorter part
    assert choice is not None
    assert "holt-winters" not in choice.scores

"""Time-slice budgets against a real Prometheus holding a day with a known count of good minutes.

The history (tests/slo/timeslice_history.py) keeps every minute it generated, so the slice
counts aqua reads through PromQL subqueries are compared with the generator's own.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import promtool_backfill
import pytest
from cli_runner import invoke
from slo.timeslice_history import T0, Minute, blocks, expected, generate

from sre_cli.commands.slo import app
from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.batch import evaluate
from sre_cli.slo.engine import SLOResult
from sre_cli.slo.loader import load_slos
from sre_cli.slo.spec import SLO
from sre_cli.slo.timeslices import evaluate_timeslices, slice_good_expr
from sre_cli.slo.windows import BURN_RATE_WINDOWS, load_tiers
from sre_cli.timespec import format_duration, parse_duration

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.integration

# Not on a minute: no slice boundary falls on the window's start.
AT = T0 + 25 * 3600 + 30
SPECS = {
    "sloth.yaml": """
version: "prometheus/v1"
service: shop
window: 1d
slos:
  - name: slices
    objective: 90
    budgeting: {method: timeslices, slice: 1m, slice_target: 0.99}
    sli:
      events:
        error_query: sum(rate(slice_requests_total{code="500"}[{{.window}}]))
        total_query: sum(rate(slice_requests_total[{{.window}}]))
  - name: ratio-slices
    objective: 95
    budgeting: {method: ratio_timeslices, slice: 1m}
    sli:
      events:
        error_query: sum(rate(slice_requests_total{code="500"}[{{.window}}]))
        total_query: sum(rate(slice_requests_total[{{.window}}]))
""",
    "openslo.yaml": """
apiVersion: openslo/v1
kind: SLO
metadata: {name: availability}
spec:
  service: web
  indicator:
    metadata: {name: codes}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'slice_requests_total{code="200"}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: slice_requests_total}}}
  timeWindow: [{duration: 1d, isRolling: true}]
  budgetingMethod: Timeslices
  objectives:
    - displayName: Internal
      target: 0.9
      timeSliceTarget: 0.99
      timeSliceWindow: 1m
  alertPolicies:
""",
}


@pytest.fixture(scope="module")
def minutes() -> list[Minute]:
    return generate()


prom_url = promtool_backfill.history_fixture(blocks, "slice-tsdb")


specs = promtool_backfill.specs_fixture(SPECS, "slice-specs")


def _results(specs: Path, prom: PrometheusClient) -> dict[str, SLOResult]:
    return {r.slo.id: r for r in evaluate(load_slos([specs]), prom, AT).results}


def test_timeslices_count_exactly_the_good_minutes(
    specs: Path, prom: PrometheusClient, minutes: list[Minute]
) -> None:
    window = expected(minutes, AT - 86400, AT)
    good = [m for m in window if m.good_ratio >= 0.99]
    assert 1300 < len(window) < 1440  # the generator left some minutes without traffic
    assert 0 < len(good) < len(window)
    for slo_id in ("shop-slices", "web-availability"):
        result = _results(specs, prom)[slo_id]
        assert result.total == len(window), slo_id
        assert result.bad == len(window) - len(good), slo_id
        assert result.sli == len(good) / len(window)
        budget = result.slo.budget
        assert result.budget_consumed == pytest.approx(
            (1 - len(good) / len(window)) / budget, rel=1e-12
        )


def test_ratio_timeslices_average_the_minutes(
    specs: Path, prom: PrometheusClient, minutes: list[Minute]
) -> None:
    window = expected(minutes, AT - 86400, AT)
    mean = math.fsum(m.good_ratio for m in window) / len(window)
    result = _results(specs, prom)["shop-ratio-slices"]
    assert result.total == len(window)
    assert result.bad is None
    assert result.sli == pytest.approx(mean, rel=1e-9)
    # Traffic varies by minute, so the mean of the ratios is not the ratio of the sums.
    pooled = 1 - sum(m.bad for m in window) / sum(m.total for m in window)
    assert result.sli != pytest.approx(pooled, rel=1e-6)


def test_burn_rates_are_bad_slice_shares(
    specs: Path, prom: PrometheusClient, minutes: list[Minute]
) -> None:
    result = _results(specs, prom)["shop-slices"]
    for window, seconds in (("1h", 3600), ("6h", 6 * 3600)):
        slices = expected(minutes, AT - seconds, AT)
        bad = sum(m.good_ratio < 0.99 for m in slices)
        assert result.burn_rates[window] == pytest.approx(bad / len(slices) / 0.1, rel=1e-12)


def test_report_json_counts_slices(specs: Path, prom_url: str, minutes: list[Minute]) -> None:
    code, out = invoke(
        app,
        [
            "report",
            str(specs / "sloth.yaml"),
            "--prometheus",
            prom_url,
            "--at",
            str(AT),
            "-f",
            "json",
        ],
    )
    assert code == 0, out
    slo = next(s for s in json.loads(out)["slos"] if s["name"] == "slices")
    window = expected(minutes, AT - 86400, AT)
    assert slo["events"]["total"] == len(window)


def test_slice_expression_shape() -> None:
    slos = {s.id: s for s in load_slos([Path(__file__).parent / "fixtures/validate/good"])}
    expr = slice_good_expr(slos["shop-slices"])
    assert expr.endswith(">= bool 0.99)")
    assert "[1m]" in expr


def test_batched_evaluation_equals_one_slo_at_a_time(
    prom: PrometheusClient, tmp_path: Path
) -> None:
    from sre_cli.slo.batch import PARTS, evaluate_slo
    from sre_cli.slo.windows import load_tiers

    # Each SLO its own error query over one shared total, 7 windows (the 1d SLO window is the
    # 1d burn-rate window's text): 60 * 7 + 7 = 427 distinct parts, more than one query holds.
    count = PARTS // 7 + 3
    body = "".join(
        f"""
  - name: s{i}
    objective: {90 + i % 9}
    sli:
      events:
        error_query: sum(rate(slice_requests_total{{code="500"}}[{{{{.window}}}}])) * {1 + i}
        total_query: sum(rate(slice_requests_total[{{{{.window}}}}]))
"""
        for i in range(count)
    )
    spec = tmp_path / "many.yaml"
    spec.write_text(f'version: "prometheus/v1"\nservice: many\nwindow: 1d\nslos:{body}')
    slos = load_slos([spec])
    report = evaluate(slos, prom, AT)
    # Two instant queries; one range query for all burn-downs (61 distinct parts, one step).
    assert report.queries == 2 + 1
    tiers = load_tiers()
    for slo, batched in zip(slos, report.results, strict=True):
        alone = evaluate_slo(slo, prom, AT, tiers)
        assert batched.slo.id == slo.id
        assert (batched.sli, batched.bad, batched.total) == (alone.sli, alone.bad, alone.total)
        assert batched.burn_rates == alone.burn_rates
        assert batched.tiers == alone.tiers
        assert batched.burn_down == alone.burn_down
    assert len({r.bad for r in report.results}) == count  # the multipliers tell them apart
    # Every use of a shared part evaluated on its own: more queries, the same figures.
    unshared = evaluate(slos, prom, AT, share=False)
    assert unshared.queries > report.queries
    assert [(r.bad, r.total, r.burn_rates, r.burn_down) for r in unshared.results] == [
        (r.bad, r.total, r.burn_rates, r.burn_down) for r in report.results
    ]


def _one(text: str, tmp_path: Path) -> SLO:
    path = tmp_path / "one.yaml"
    path.write_text(text)
    [slo] = load_slos([path])
    return slo


def _sloth(window: str, budgeting: str) -> str:
    return f"""
version: "prometheus/v1"
service: shop
window: {window}
slos:
  - name: slices
    objective: 90
    budgeting: {budgeting}
    sli:
      events:
        error_query: sum(rate(slice_requests_total{{code="500"}}[{{{{.window}}}}]))
        total_query: sum(rate(slice_requests_total[{{{{.window}}}}]))
"""


SLICES = "{method: timeslices, slice: 1m, slice_target: 0.99}"


def test_every_burn_window_and_tier_from_the_minutes(
    prom: PrometheusClient, minutes: list[Minute], tmp_path: Path
) -> None:
    slo = _one(_sloth("1d", SLICES), tmp_path)
    tiers = load_tiers()
    result = evaluate_timeslices(slo, prom, AT, tiers)
    shares: dict[str, float] = {}
    for window in BURN_RATE_WINDOWS:
        slices = expected(minutes, AT - parse_duration(window).total_seconds(), AT)
        shares[window] = sum(m.good_ratio < 0.99 for m in slices) / len(slices)
        rate = result.burn_rates[window]
        assert rate == pytest.approx(shares[window] / 0.1, rel=1e-12), window
    fired = {
        t.name: min(shares[format_duration(t.short)], shares[format_duration(t.long)])
        > t.factor(slo.window.nominal) * 0.1
        for t in tiers
    }
    assert result.tiers == fired
    assert set(fired.values()) == {True, False}  # the day fires some tiers, not all


def test_no_traffic_is_no_data(prom: PrometheusClient, tmp_path: Path) -> None:
    slo = _one(_sloth("1d", SLICES), tmp_path)
    result = evaluate_timeslices(slo, prom, T0 - 3600, load_tiers())  # before the history
    assert (result.sli, result.bad, result.total, result.budget_consumed) == (None,) * 4
    assert result.burn_rates == dict.fromkeys(BURN_RATE_WINDOWS)
    assert not any(result.tiers.values())
    assert result.status == "no_data"


def test_a_single_slice_counts(
    prom: PrometheusClient, minutes: list[Minute], tmp_path: Path
) -> None:
    slo = _one(_sloth("1d", SLICES), tmp_path)
    first = next(m for m in minutes if m.total)
    at = first.start + 60 + 30
    assert [m.start for m in expected(minutes, at - 86400, at)] == [first.start]
    result = evaluate_timeslices(slo, prom, at, load_tiers())
    good = first.good_ratio >= 0.99
    assert (result.total, result.bad, result.sli) == (1, 0 if good else 1, 1.0 if good else 0.0)


def test_calendar_month_counts_from_its_first_slice(
    prom: PrometheusClient, minutes: list[Minute], tmp_path: Path
) -> None:
    # T0 is 2024-05-01 00:00 UTC: the month's window starts with the history.
    slo = _one(_sloth("{calendar: month, timezone: UTC}", SLICES), tmp_path)
    result = evaluate_timeslices(slo, prom, AT, load_tiers())
    window = expected(minutes, T0, AT)
    assert result.total == len(window) > len(expected(minutes, AT - 86400, AT))
    assert result.bad == sum(m.good_ratio < 0.99 for m in window)
    # At the month's first instant its window is empty: no data, whatever the burn rates say.
    start = evaluate_timeslices(slo, prom, float(T0), load_tiers())
    assert (start.sli, start.total, start.bad, start.status) == (None, None, None, "no_data")


def test_slice_target_one_is_written_whole(tmp_path: Path) -> None:
    slo = _one(_sloth("1d", "{method: timeslices, slice: 5m, slice_target: 1}"), tmp_path)
    # Rates become increases over the slice; the target 1.0 is written "1", not "1.0" cut short.
    assert slice_good_expr(slo) == (
        '((1 - ((sum(increase(slice_requests_total{code="500"}[5m]))) / '
        "((sum(increase(slice_requests_total[5m]))) > 0))) >= bool 1)"
    )

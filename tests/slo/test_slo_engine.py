"""Budget math, alert states, status, renderers and gate verdicts on a scripted Prometheus API.

The transport answers the engine's combined queries from a table of (bad, total) counts per
window, so the arithmetic is checked exactly; the real-server tests live in
test_slo_prometheus.py.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from rich.console import Console

from sre_cli.errors import Unavailable
from sre_cli.prometheus import PrometheusClient, QueryError
from sre_cli.slo.batch import evaluate
from sre_cli.slo.engine import Report
from sre_cli.slo.gate import judge
from sre_cli.slo.html_report import burn_down_svg
from sre_cli.slo.html_report import page as html_page
from sre_cli.slo.loader import load_slos
from sre_cli.slo.render import gate_summary, markdown, sparkline, table
from sre_cli.slo.windows import BURN_RATE_WINDOWS, load_tiers

AT = 1_709_251_200.0  # 2024-03-01T00:00:00Z
SPEC = """
version: "prometheus/v1"
service: api
slos:
  - name: availability
    objective: 99.9
    policy: {min_budget_remaining: 0.25, max_burn_rate: 6, burn_rate_window: 1h}
    sli:
      events:
        error_query: sum(rate(errors_total[{{.window}}]))
        total_query: sum(rate(requests_total[{{.window}}]))
"""
Counts = dict[str, tuple[float, float]]  # window -> (bad, total); "window" is the SLO window


def _transport(counts: Counts, seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        query = form["query"]
        seen.append(query)
        keys = re.findall(r'"aqua_q", "([^"]+)"', query)
        if request.url.path.endswith("/query"):
            result = []
            for key in keys:
                kind, window = key.rpartition("|")[2].split(":")
                bad, total = counts.get(window, (0.0, 0.0))
                value = bad if kind == "bad" else total
                if kind == "bad" and bad < 0:
                    continue  # absent series
                result.append({"metric": {"aqua_q": key}, "value": [AT, repr(value)]})
            return httpx.Response(
                200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
            )
        start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
        times = [start + i * step for i in range(int((end - start) // step) + 1)]
        bad, total = counts["window"]
        result = [
            {"metric": {"aqua_q": "0|bad"}, "values": [[t, repr(bad / len(times))] for t in times]},
            {
                "metric": {"aqua_q": "0|total"},
                "values": [[t, repr(total / len(times))] for t in times],
            },
        ]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "matrix", "result": result}}
        )

    return httpx.MockTransport(handle)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "api.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def run(spec: Path) -> Callable[[Counts], tuple[Report, list[str]]]:
    def go(counts: Counts) -> tuple[Report, list[str]]:
        seen: list[str] = []
        with PrometheusClient("http://prom", transport=_transport(counts, seen)) as prom:
            return evaluate(load_slos([spec]), prom, AT), seen

    return go


def steady(ratio: float, total: float = 1_000_000.0) -> Counts:
    """Every window with the same error ratio; longer windows hold more events."""
    out: Counts = {}
    for w, frac in zip(
        (*BURN_RATE_WINDOWS, "window"), (1, 6, 12, 24, 72, 288, 864, 8640), strict=True
    ):
        out[w] = (ratio * total * frac / 8640, total * frac / 8640)
    return out


def test_event_based_budget_math(run: Callable[[Counts], tuple[Report, list[str]]]) -> None:
    report, seen = run(steady(0.0004))
    [r] = report.results
    assert report.queries == 2 == len(seen)
    assert r.total == pytest.approx(1_000_000)
    assert r.bad == pytest.approx(400)
    assert r.sli == pytest.approx(0.9996)
    assert r.budget_consumed == pytest.approx(0.4)
    assert r.budget_remaining == pytest.approx(0.6)
    assert r.budget_minutes == pytest.approx(43.2)
    assert r.remaining_minutes == pytest.approx(0.6 * 43.2)
    assert r.budget_events == pytest.approx(1000)
    assert r.burn_rates["1h"] == pytest.approx(0.4)
    assert r.alerts == {"page": False, "ticket": False}
    assert r.time_to_exhaustion == pytest.approx(0.6 * 30 * 86400 / 0.4)
    assert r.status == "ok"
    # One instant query holds every window, counted with increase() over the 30d window.
    assert "sum(increase(errors_total[30d]))" in seen[0]
    assert "rate(" not in seen[0]
    assert r.burn_down[0] == (AT - 30 * 86400, 1.0)
    # mypy cannot see that an approx inside a tuple compares equal to a float.
    assert r.burn_down[-1] == (AT, pytest.approx(0.6))  # type: ignore[comparison-overlap]


def test_zero_traffic_is_no_data_never_100_percent(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    report, _ = run({})
    [r] = report.results
    assert (r.sli, r.budget_consumed, r.budget_remaining, r.total) == (None, None, None, None)
    assert r.status == "no_data"
    assert all(v is None for v in r.burn_rates.values())
    assert report.to_json()["slos"][0]["sli"] is None


def test_absent_error_series_counts_as_zero_errors(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    counts = {w: (-1.0, t) for w, (_, t) in steady(0).items()}
    [r] = run(counts)[0].results
    assert r.sli == 1.0
    assert r.status == "ok"


def test_page_fires_at_fast_burn_and_status_warns(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    counts = steady(0.0001)
    counts["5m"] = (15.0 * 0.001 * 1000, 1000.0)  # 15x over 5m
    counts["1h"] = (15.0 * 0.001 * 12000, 12000.0)  # and over 1h
    report = run(counts)[0]
    [r] = report.results
    assert r.tiers["page-quick"]
    assert r.alerts == {"page": True, "ticket": False}
    assert r.status == "warning"
    # The alerts column names the firing severities ("-" when none fires, test_renderers).
    assert markdown(report).splitlines()[-1].endswith("| page | **warning** |")


def test_long_window_alone_does_not_page(run: Callable[[Counts], tuple[Report, list[str]]]) -> None:
    counts = steady(0.0001)
    counts["1h"] = (20.0 * 0.001 * 12000, 12000.0)  # burst over, 5m back to normal
    [r] = run(counts)[0].results
    assert not r.alerts["page"]


def test_ticket_slow_tier(run: Callable[[Counts], tuple[Report, list[str]]]) -> None:
    counts = steady(0.0011)  # 1.1x everywhere: only the 3d/6h 1x tier holds
    [r] = run(counts)[0].results
    assert r.tiers == {
        "page-quick": False,
        "page-slow": False,
        "ticket-quick": False,
        "ticket-slow": True,
    }
    assert r.alerts == {"page": False, "ticket": True}


def test_breached_budget(run: Callable[[Counts], tuple[Report, list[str]]]) -> None:
    [r] = run(steady(0.0015))[0].results
    assert r.budget_remaining == pytest.approx(-0.5)
    assert r.status == "breached"
    assert r.time_to_exhaustion == 0.0


def test_json_contract_exact_keys(run: Callable[[Counts], tuple[Report, list[str]]]) -> None:
    report, _ = run(steady(0.0004))
    data = report.to_json()
    assert set(data) == {"evaluated_at", "slos"}
    assert data["evaluated_at"] == "2024-03-01T00:00:00Z"
    [slo] = data["slos"]
    assert set(slo) == {
        "service",
        "name",
        "objective",
        "window",
        "sli",
        "budget",
        "events",
        "burn_rates",
        "alerts",
        "status",
    }
    assert set(slo["budget"]) == {"consumed", "remaining"}
    assert set(slo["events"]) == {"total", "bad"}
    assert list(slo["burn_rates"]) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert slo["alerts"] == {"page": False, "ticket": False}
    assert (slo["service"], slo["name"], slo["objective"], slo["window"]) == (
        "api",
        "availability",
        99.9,
        "30d",
    )


def test_contract_documented_in_shipped_readme() -> None:
    readme = (Path(__file__).parents[2] / "slo" / "README.md").read_text()
    for key in (
        "evaluated_at",
        "burn_rates",
        "budget.consumed",
        "events.total",
        "alerts.page",
        "passed",
        "violations[]",
    ):
        assert key in readme


def test_renderers(run: Callable[[Counts], tuple[Report, list[str]]]) -> None:
    report, _ = run(steady(0.0004))
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(table(report))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "api/availability" in text
    assert "60.0%" in text
    assert "ok" in text
    md = markdown(report)
    assert "| `api/availability` | 99.9% | 30d | 99.960% | 60.0% | 25.9 |" in md
    assert md.splitlines()[-1].endswith("| - | **ok** |")
    page = html_page(report, load_tiers())
    assert page.startswith("<!doctype html>")
    assert "<svg" in page
    assert "<polyline class='burn-down'" in page
    assert "<td>page-quick</td><td>5m / 1h</td><td>14.4×</td>" in page
    assert page.count("<tr class='quiet'>") == 4  # 0.4× burns fire no tier
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained
    assert "<script" not in page


def test_terminal_sparkline_at_any_width(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    report, _ = run(steady(0.0004))
    [result] = report.results
    assert len(result.burn_down) >= 2
    wide, narrow = sparkline(result.burn_down), sparkline(result.burn_down, width=8)
    assert len(wide) == 24
    assert len(narrow) == 8
    assert wide[0] == "█"  # the whole budget at the window's start
    for width, line in ((200, wide), (90, narrow)):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(table(report, width))
        text = console.file.getvalue()  # type: ignore[attr-defined]
        assert line in text, text
    assert "burn-down" in table(report, 200).columns[-1].header
    assert all(c.header != "burn-down" for c in table(report, 90).columns)


def test_sparkline_shape() -> None:
    points = [(float(i), 1.0 - i / 10) for i in range(11)]
    line = sparkline(points)
    assert line[0] == "█"
    assert line[-1] == "▁"
    assert sparkline([(0.0, 1.0)]) == ""


def test_gate_verdicts(run: Callable[[Counts], tuple[Report, list[str]]]) -> None:
    ok = judge(run(steady(0.0004))[0])
    assert (ok.passed, ok.exit_code, ok.violations) == (True, 0, [])  # 60% left, burning 0.4x
    low = judge(run(steady(0.0008))[0])  # 20% left < spec minimum 25%
    assert low.exit_code == 1
    assert [v.kind for v in low.violations] == ["budget"]
    assert "20.0% left, minimum 25.0%" in low.violations[0].reason
    relaxed = judge(run(steady(0.0008))[0], min_budget_remaining=0.1)
    assert (relaxed.exit_code, relaxed.passed) == (0, True)
    fast = steady(0.0004)
    fast["1h"] = (0.007 * 12000, 12000.0)  # 7x over 1h > max 6
    burning = judge(run(fast)[0])
    assert [v.kind for v in burning.violations] == ["burn_rate"]
    nodata = judge(run({})[0])
    assert (nodata.exit_code, nodata.violations[0].kind) == (2, "no_data")
    extra = low.to_json()
    assert extra["passed"] is False
    assert extra["violations"][0]["name"] == "availability"
    assert "❌ SLO gate failed" in gate_summary(low)


def test_unreachable_prometheus_is_unavailable(spec: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        PrometheusClient("http://prom", transport=httpx.MockTransport(refuse)) as prom,
        pytest.raises(Unavailable, match="did not answer"),
    ):
        evaluate(load_slos([spec]), prom, AT)


def test_rejected_query_is_a_query_error() -> None:
    def reject(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
        )

    with (
        PrometheusClient("http://prom", transport=httpx.MockTransport(reject)) as prom,
        pytest.raises(QueryError, match="parse error"),
    ):
        prom.query("sum(", AT)


def test_tier_factors_scale_with_the_window() -> None:
    from datetime import timedelta

    tiers = load_tiers()
    assert [t.name for t in tiers] == ["page-quick", "page-slow", "ticket-quick", "ticket-slow"]
    assert [t.factor(timedelta(days=30)) for t in tiers] == [14.4, 6.0, 3.0, 1.0]
    assert [t.factor(timedelta(days=28)) for t in tiers] == pytest.approx(
        [13.44, 5.6, 2.8, 0.9333333333]
    )
    assert [t.factor(timedelta(days=7)) for t in tiers] == pytest.approx(
        [3.36, 1.4, 0.7, 0.2333333333]
    )
    assert [(str(t.long), str(t.short)) for t in tiers] == [
        ("1:00:00", "0:05:00"),
        ("6:00:00", "0:30:00"),
        ("1 day, 0:00:00", "2:00:00"),
        ("3 days, 0:00:00", "6:00:00"),
    ]


RAW_SPEC = """
version: "prometheus/v1"
service: shop
slos:
  - name: checkout
    objective: 99
    sli:
      raw:
        error_ratio_query: sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))
"""


def test_raw_ratio_sli_has_no_event_counts(tmp_path: Path) -> None:
    spec = tmp_path / "raw.yaml"
    spec.write_text(RAW_SPEC)

    def handle(request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.content.decode())["query"][0]
        keys = re.findall(r'"aqua_q", "([^"]+)"', query)
        if request.url.path.endswith("/query"):
            result = [{"metric": {"aqua_q": k}, "value": [AT, "0.005"]} for k in keys]
            return httpx.Response(
                200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
            )
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "matrix", "result": []}}
        )

    with PrometheusClient("http://prom", transport=httpx.MockTransport(handle)) as prom:
        [r] = evaluate(load_slos([spec]), prom, AT).results
    assert r.sli == pytest.approx(0.995)
    assert r.budget_consumed == pytest.approx(0.5)
    assert (r.bad, r.total) == (None, None)
    assert r.burn_rates["1h"] == pytest.approx(0.5)
    assert Report(AT, [r]).to_json()["slos"][0]["events"] == {"total": None, "bad": None}


def test_custom_windows_file(tmp_path: Path) -> None:
    from datetime import timedelta

    from sre_cli.errors import SpecError

    text = (Path(__file__).parents[2] / "sre_cli/slo/policy/burn-rate-windows.yaml").read_text()
    custom = tmp_path / "windows.yaml"
    custom.write_text(text.replace("errorBudgetPercent: 2\n", "errorBudgetPercent: 4\n"))
    assert load_tiers(custom)[0].factor(timedelta(days=30)) == 28.8
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("longWindow: 6h", "longWindow: 6x"))
    with pytest.raises(SpecError) as info:
        load_tiers(broken)
    assert info.value.line is not None
    assert "page.slow" in str(info.value)


def test_gate_limits_are_inclusive(run: Callable[[Counts], tuple[Report, list[str]]]) -> None:
    """Exactly at a limit passes: the minimum budget left and the maximum burn rate are both
    allowed values; just past either fails."""
    [base] = run(steady(0.0004))[0].results
    at_floor = replace(base, budget_consumed=0.75)  # 25 % left, the spec's minimum
    at_ceiling = replace(base, burn_rates={**base.burn_rates, "1h": 6.0})  # the spec's maximum
    assert judge(Report(AT, [at_floor, at_ceiling])).violations == []
    below = replace(base, budget_consumed=0.7501)
    over = replace(base, burn_rates={**base.burn_rates, "1h": 6.001})
    verdict = judge(Report(AT, [below, over]))
    assert [v.kind for v in verdict.violations] == ["budget", "burn_rate"]
    assert verdict.exit_code == 1


def test_gate_says_exhausted_only_below_zero(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    [base] = run(steady(0.0004))[0].results

    def reason(consumed: float) -> str:
        [violation] = judge(Report(AT, [replace(base, budget_consumed=consumed)])).violations
        return violation.reason

    assert reason(0.9).startswith("error budget below the minimum: 10.0% left")
    assert reason(1.0).startswith("error budget below the minimum: 0.0% left")
    assert reason(1.2).startswith("error budget exhausted: -20.0% left")
    # With no minimum anywhere, an exhausted budget still fails and an empty one does not.
    relaxed = judge(Report(AT, [replace(base, budget_consumed=1.0)]), min_budget_remaining=0.0)
    assert relaxed.passed


def test_gate_without_any_minimum_fails_only_an_exhausted_budget(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    from sre_cli.slo.spec import Policy

    [base] = run(steady(0.0004))[0].results
    bare = replace(base, slo=base.slo.model_copy(update={"policy": Policy()}))
    assert judge(Report(AT, [replace(bare, budget_consumed=0.99)])).passed  # 1 % left
    [violation] = judge(Report(AT, [replace(bare, budget_consumed=1.01)])).violations
    assert violation.reason.startswith("error budget exhausted: -1.0% left, minimum 0.0%")


def test_burn_down_chart_reads_from_zero_with_two_points(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    [result] = run(steady(0.0004))[0].results
    two = replace(result, burn_down=[(result.window_start, 1.0), (AT, 0.6)])
    svg = burn_down_svg(two)
    # 520 × 200, plot from x 72 to 510 and y 10 (100 %) to 176 (0 %): two points make a line.
    assert "points='72.0,10.0 510.0,76.4'" in svg
    assert "<line x1='72' x2='510' y1='176.0' y2='176.0' stroke='#cf222e'" in svg  # 0 % rule
    assert burn_down_svg(replace(result, burn_down=[(AT, 0.6)])).startswith("<p ")


def test_status_is_breached_only_below_zero(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    # As the gate: a budget spent to exactly zero is empty (under the 25 % minimum: a
    # warning), not breached; any overspend is.
    [base] = run(steady(0.0004))[0].results
    empty = replace(base, budget_consumed=1.0)
    assert (empty.status, empty.time_to_exhaustion) == ("warning", 0.0)
    assert replace(base, budget_consumed=1.0001).status == "breached"


def test_json_numbers_are_integers_only_while_exact() -> None:
    from sre_cli.slo.engine import json_number

    exact = 2.0**53 - 1  # the largest whole number every float below it also holds exactly
    assert (json_number(exact), type(json_number(exact))) == (2**53 - 1, int)
    assert type(json_number(2.0**53)) is float
    assert type(json_number(-(2.0**53))) is float
    assert (json_number(None), json_number(0.5), json_number(3.0)) == (None, 0.5, 3)


def test_burn_down_of_a_calendar_window_just_begun_is_its_two_ends(tmp_path: Path) -> None:
    # 30 minutes into March: too short for a burn-down range query (48 steps of at least a
    # minute), so the burn-down is the window's start at 100 % and now at the budget left.
    from sre_cli.slo.batch import evaluate_slo

    path = tmp_path / "month.yaml"
    path.write_text(SPEC.replace("objective: 99.9", "objective: 99.9\n    window: month"))
    [slo] = load_slos([path])
    at = AT + 1800
    seen: list[str] = []
    with PrometheusClient("http://prom", transport=_transport(steady(0.0004), seen)) as prom:
        [batched] = evaluate([slo], prom, at).results
        alone = evaluate_slo(slo, prom, at, load_tiers())
    assert len(seen) == 2  # two instant queries, no range query
    for r in (batched, alone):
        assert r.window_start == AT
        assert r.burn_down == [(AT, 1.0), (at, pytest.approx(0.6))]


def test_raw_ratio_burn_down_spends_the_mean_ratio_so_far(tmp_path: Path) -> None:
    # A raw ratio has no event counts: the budget spent by a step is the mean of the step
    # ratios so far over the budget (1 %): 0.5 % then 1.5 % leave 50 % and then 0 %.
    from sre_cli.slo.engine import SLOResult, burn_down_points

    path = tmp_path / "raw.yaml"
    path.write_text(
        "version: prometheus/v1\nservice: api\nslos:\n  - name: latency\n    objective: 99\n"
        "    sli: {raw: {error_ratio_query: 'max(slow_ratio[{{.window}}])'}}\n"
    )
    [slo] = load_slos([path])
    start = AT - 30 * 86400
    result = SLOResult(slo, start, AT, 0.99, None, None, 1.0, {}, {})
    t1, t2 = start + 86400, start + 2 * 86400
    points = burn_down_points(result, AT, {t2: {"ratio": 0.015}, t1: {"ratio": 0.005}})
    assert points == [(start, 1.0), (t1, pytest.approx(0.5)), (t2, pytest.approx(0.0)), (AT, 0.0)]
    # A last step at `at` itself gives way to the exact figure.
    ends = burn_down_points(result, AT, {AT: {"ratio": 0.02}})
    assert ends == [(start, 1.0), (AT, 0.0)]


def test_html_page_facts_summary_and_tier_states(
    run: Callable[[Counts], tuple[Report, list[str]]],
) -> None:
    report, _ = run(steady(0.0004))
    text = html_page(report, load_tiers())
    assert "<p class='sub'>Evaluated at 2024-03-01 00:00 UTC · 1 ok</p>" in text
    assert (
        "<p class='facts'>objective 99.9% over 30d · SLI 99.960% · budget left 60.0% (25.9 min)"
        " · bad / total 400 / 1,000,000</p>"
    ) in text
    [result] = report.results
    two = replace(result, burn_down=[(result.window_start, 1.0), (AT, 0.6)])
    caption = "<figcaption class='facts'>Error budget left over the window</figcaption>"
    assert caption in html_page(Report(AT, [two]), load_tiers())
    one = replace(result, burn_down=[(AT, 0.6)])
    assert caption not in html_page(Report(AT, [one]), load_tiers())
    # A tier the result does not know of is quiet, not firing.
    unknown = html_page(Report(AT, [replace(result, tiers={})]), load_tiers())
    assert unknown.count("<tr class='quiet'>") == 4
    assert "· no SLOs</p>" in html_page(Report(AT, []), load_tiers())

"""Budget arithmetic at its edges, on results and step values the test gives: minutes of
budget, time to exhaustion, status under a policy, recorded ratios, the burn-down's steps and
points, and the shape of the queries' unions. Every expected figure is worked out by hand."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import yaml

from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.batch import evaluate, evaluate_slo
from sre_cli.slo.engine import (
    BURN_DOWN_POINTS,
    SLOResult,
    burn_down_plan,
    burn_down_points,
    finish,
    plan,
    slot_values,
    union,
)
from sre_cli.slo.loader import load_slos
from sre_cli.slo.spec import SLO
from sre_cli.slo.windows import load_tiers

AT = 1_709_251_200.0  # 2024-03-01T00:00:00Z
DAY = 86400.0
EVENTS = {
    "error_query": "sum(rate(errors_total[{{.window}}]))",
    "total_query": "sum(rate(requests_total[{{.window}}]))",
}


def _slo(tmp_path: Path, **extra: object) -> SLO:
    doc = {
        "version": "prometheus/v1",
        "service": "api",
        "slos": [{"name": "availability", "objective": 99.0, "sli": {"events": EVENTS}, **extra}],
    }
    path = tmp_path / f"slo-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    [slo] = load_slos([path])
    return slo


def _result(slo: SLO, consumed: float | None, burn_1h: float | None = 1.0) -> SLOResult:
    rates = {"5m": 0.0, "30m": 0.0, "1h": burn_1h, "2h": 0.0, "6h": 0.0, "1d": 0.0, "3d": 0.0}
    return SLOResult(slo, AT - 30 * DAY, AT, None, 10.0, 1000.0, consumed, rates, {})


def test_budget_in_minutes_and_time_left(tmp_path: Path) -> None:
    slo = _slo(tmp_path)  # 99 % over 30 days: 1 % of 43,200 minutes is 432 minutes
    r = _result(slo, 0.25, burn_1h=3.0)
    assert r.budget_minutes == pytest.approx(432.0, rel=1e-12)
    assert r.remaining_minutes == pytest.approx(324.0, rel=1e-12)
    # 75 % of the budget at 3× the sustainable rate: a quarter of the 30 days, 7.5 days.
    assert r.time_to_exhaustion == pytest.approx(7.5 * DAY, rel=1e-12)
    assert _result(slo, 1.0).time_to_exhaustion == 0.0  # exactly spent: gone now
    assert _result(slo, 1.0, burn_1h=0.0).time_to_exhaustion == 0.0  # even if not burning
    assert _result(slo, 1.5).time_to_exhaustion == 0.0
    assert _result(slo, 0.5, burn_1h=0.0).time_to_exhaustion is None  # not burning
    assert _result(slo, 0.5, burn_1h=None).time_to_exhaustion is None
    assert _result(slo, 0.5, burn_1h=-0.5).time_to_exhaustion is None
    assert _result(slo, 0.5, burn_1h=0.5).time_to_exhaustion == pytest.approx(30 * DAY)
    assert _result(slo, None).time_to_exhaustion is None
    assert _result(slo, None).remaining_minutes is None


def test_status_under_a_policy(tmp_path: Path) -> None:
    policy = {"min_budget_remaining": 0.25, "max_burn_rate": 2, "burn_rate_window": "1h"}
    slo = _slo(tmp_path, policy=policy)
    assert _result(slo, None).status == "no_data"
    assert _result(slo, 0.5).status == "ok"
    assert _result(slo, 0.75).status == "ok"  # exactly the minimum left is enough
    assert _result(slo, 0.76).status == "warning"
    assert _result(slo, 1.0).status == "warning"  # none left is not yet breached
    assert _result(slo, 1.01).status == "breached"
    assert _result(slo, 0.5, burn_1h=2.0).status == "ok"  # exactly the maximum burn
    assert _result(slo, 0.5, burn_1h=2.01).status == "warning"
    assert _result(slo, 0.5, burn_1h=None).status == "ok"
    paging = replace(_result(slo, 0.5), tiers={"ticket-slow": True})
    assert paging.status == "warning"
    assert paging.alerts == {"page": False, "ticket": True}
    plain = _slo(tmp_path)  # no policy: only alerts and a spent budget matter
    assert _result(plain, 0.99, burn_1h=50.0).status == "ok"
    assert _result(plain, -0.5).status == "ok"  # more budget than the window's (a reset)


def test_recorded_ratios_are_clamped_for_event_counts(tmp_path: Path) -> None:
    slo = _slo(tmp_path)
    p = plan(slo, AT, load_tiers())
    got = {"bad:window": 50.0, "total:window": 10_000.0}
    ratios: dict[str, float | None] = {"1h": 1.5, "5m": -0.25, "6h": None, "1d": 0.02}
    result = finish(p, got, load_tiers(), ratios)
    # Error ratios are budgets of 1 %: 1.5 is clamped to 1 (100×), -0.25 to 0.
    assert result.burn_rates["1h"] == pytest.approx(100.0)
    assert result.burn_rates["5m"] == 0.0
    assert result.burn_rates["6h"] is None
    assert result.burn_rates["1d"] == pytest.approx(2.0)
    assert result.burn_rates["3d"] is None  # neither recorded nor in ``got``
    assert (result.bad, result.total) == (50.0, 10_000.0)
    assert result.sli == pytest.approx(0.995)
    # A raw ratio is taken as recorded.
    raw_doc = {"raw": {"error_ratio_query": "max(slow_ratio[{{.window}}])"}}
    raw = _slo(tmp_path, sli=raw_doc)
    rp = plan(raw, AT, load_tiers())
    out = finish(rp, {"ratio:window": 0.004}, load_tiers(), {"1h": 1.5, "5m": -0.25})
    assert out.burn_rates["1h"] == pytest.approx(150.0)
    assert out.burn_rates["5m"] == pytest.approx(-25.0)
    assert (out.bad, out.total) == (None, None)
    assert out.sli == pytest.approx(0.996)


def test_event_counts_are_clamped_and_need_traffic(tmp_path: Path) -> None:
    slo = _slo(tmp_path)
    p = plan(slo, AT, load_tiers())
    tiers = load_tiers()
    more_bad = finish(p, {"bad:window": 20.0, "total:window": 10.0}, tiers)
    assert (more_bad.bad, more_bad.total, more_bad.sli) == (10.0, 10.0, 0.0)
    negative = finish(p, {"bad:window": -3.0, "total:window": 10.0}, tiers)
    assert (negative.bad, negative.sli, negative.budget_consumed) == (0.0, 1.0, 0.0)
    no_bad_series = finish(p, {"total:window": 10.0}, tiers)
    assert (no_bad_series.bad, no_bad_series.sli) == (0.0, 1.0)
    for total in (0.0, -1.0):
        idle = finish(p, {"bad:window": 0.0, "total:window": total}, tiers)
        assert (idle.sli, idle.bad, idle.total, idle.budget_consumed) == (None,) * 4


def test_burn_down_steps(tmp_path: Path) -> None:
    slo = _slo(tmp_path)
    start = AT - 30 * DAY
    planned = burn_down_plan(slo, start, AT)
    assert planned is not None
    parts, first, step = planned
    assert step == 30 * DAY // BURN_DOWN_POINTS == 54_000  # 15 hours
    assert first == AT - 47 * 54_000
    assert parts == {
        "bad": "sum(increase(errors_total[15h]))",
        "total": "sum(increase(requests_total[15h]))",
    }
    # 48 steps of a minute is the shortest; one second less has no burn-down query.
    assert burn_down_plan(slo, AT - 48 * 60, AT) == (
        {"bad": "sum(increase(errors_total[1m]))", "total": "sum(increase(requests_total[1m]))"},
        AT - 47 * 60,
        60,
    )
    assert burn_down_plan(slo, AT - 48 * 60 + 1, AT) is None
    assert BURN_DOWN_POINTS == 48


def test_burn_down_points_spend_the_budget_step_by_step(tmp_path: Path) -> None:
    slo = _slo(tmp_path)  # a budget of 1 % of 1,000 events: 10 bad events
    start = AT - 30 * DAY
    result = replace(_result(slo, 0.8), window_start=start)
    t1, t2, t3 = start + DAY, start + 2 * DAY, start + 3 * DAY
    steps = {t2: {"bad": 5.0}, t1: {"bad": 2.0}, t3: {"bad": -1.0, "total": 9.0}}
    assert burn_down_points(result, AT, steps) == [
        (start, 1.0),
        (t1, pytest.approx(0.8)),
        (t2, pytest.approx(0.3)),
        (t3, pytest.approx(0.3)),  # a negative step spends nothing
        (AT, pytest.approx(0.2)),  # ends on the exact figure: 80 % spent
    ]
    # Without a total the budget is 1 % of one event; a spent budget ends at its figure.
    untotalled = replace(result, total=None, budget_consumed=1.25)
    assert burn_down_points(untotalled, AT, {t1: {"bad": 0.005}}) == [
        (start, 1.0),
        (t1, pytest.approx(0.5)),
        (AT, -0.25),
    ]
    # No figure at all ends at 0 rather than nowhere.
    assert burn_down_points(replace(result, budget_consumed=None), AT, {})[-1] == (AT, 0.0)


def test_step_values_sum_or_take_the_largest() -> None:
    series = [
        ("bad", [1.0, 2.0], [3.0, float("nan")]),
        ("bad", [1.0, 2.0], [4.0, 1.0]),
        ("total", [2.0], [float("inf")]),
        ("total", [1.0], [-2.0]),
    ]
    assert slot_values(series, raw=False) == {1.0: {"bad": 7.0, "total": -2.0}, 2.0: {"bad": 1.0}}
    assert slot_values(series, raw=True) == {1.0: {"bad": 4.0, "total": 0.0}, 2.0: {"bad": 1.0}}


def test_union_is_a_balanced_tree() -> None:
    assert union([]) == ""
    assert union(["a"]) == "a"
    assert union(["a", "b"]) == "a or b"
    assert union(["a", "b", "c"]) == "(a) or (b or c)"
    assert union(["a", "b", "c", "d"]) == "(a or b) or (c or d)"
    assert union(list("abcde")) == "(a or b) or ((c) or (d or e))"


def _two_zones(values: dict[str, tuple[float, float]], seen: list[str]) -> PrometheusClient:
    """A query API answering every part with two series (two zones): per key kind (``bad``,
    ``total``, ``ratio``) the zones' values, at the instant or at every step of a range."""

    def handle(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        seen.append(form["query"])
        keys = re.findall(r'"aqua_q", "([^"]+)"', form["query"])
        pairs = [
            (key, zone, value)
            for key in keys
            for zone, value in zip("ab", values[key.split("|")[-1].split(":")[0]], strict=True)
        ]
        if request.url.path.endswith("/query_range"):
            start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
            times = [start + i * step for i in range(int((end - start) // step) + 1)]
            matrix = [
                {"metric": {"aqua_q": k, "zone": z}, "values": [[t, repr(v)] for t in times]}
                for k, z, v in pairs
            ]
            data: dict[str, object] = {"resultType": "matrix", "result": matrix}
        else:
            vector = [
                {"metric": {"aqua_q": k, "zone": z}, "value": [AT, repr(v)]} for k, z, v in pairs
            ]
            data = {"resultType": "vector", "result": vector}
        return httpx.Response(200, json={"status": "success", "data": data})

    return PrometheusClient("http://prom", transport=httpx.MockTransport(handle))


def test_series_of_one_part_add_up_as_counts_and_take_the_worst_as_ratios(
    tmp_path: Path,
) -> None:
    events = _slo(tmp_path)
    raw = _slo(tmp_path, sli={"raw": {"error_ratio_query": "max(slow_ratio[{{.window}}])"}})
    seen: list[str] = []
    with _two_zones(
        {"bad": (1.0, 3.0), "total": (100.0, 300.0), "ratio": (0.01, 0.03)}, seen
    ) as prom:
        counted, worst = evaluate([events, raw], prom, AT).results
        alone = [evaluate_slo(s, prom, AT, load_tiers(), burn_down=False) for s in (events, raw)]
    for one in (counted, alone[0]):
        assert (one.bad, one.total, one.sli) == (4.0, 400.0, 0.99)
    for one in (worst, alone[1]):
        assert one.sli == 0.97
        assert one.burn_rates["1h"] == pytest.approx(3.0)
    assert alone[0].burn_down == alone[1].burn_down == []  # none asked for
    # Burn-down steps: 4 bad events of a budget of 4 (1 % of 400) spend it all in the first
    # step; the worst step ratio, 3 %, is three budgets.
    assert counted.burn_down[1][1] == pytest.approx(0.0)
    assert worst.burn_down[1][1] == pytest.approx(-2.0)


def test_a_calendar_window_at_its_first_instant_asks_for_no_window(tmp_path: Path) -> None:
    month = _slo(tmp_path, window={"calendar": "month"})
    seen: list[str] = []
    with _two_zones({"bad": (1.0, 3.0), "total": (100.0, 300.0)}, seen) as prom:
        [result] = evaluate([month], prom, AT, burn_down=False).results
    assert (result.sli, result.total, result.status) == (None, None, "no_data")
    assert result.burn_rates["1h"] == pytest.approx(1.0)
    assert seen
    assert all(":window" not in query for query in seen)

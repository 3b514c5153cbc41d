"""The backtest's replay on a scripted Prometheus range API: chunking, combining series, edges.

The live replay over a real Prometheus is in ``test_slo_prometheus.py``; these check what a
fixture history cannot reach cheaply: a range longer than one query may hold, several series
per query, and the table's empty cells.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from json_schema import assert_matches_schema
from rich.console import Console

from sre_cli.errors import UsageError
from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.backtest import Backtest, backtest
from sre_cli.slo.engine import threshold
from sre_cli.slo.loader import load_slos
from sre_cli.slo.spec import SLO

START = 1_709_251_200.0  # 2024-03-01T00:00:00Z, a multiple of every step used here
EVENTS = """
version: "prometheus/v1"
service: api
slos:
  - name: availability
    objective: 99
    sli:
      events:
        error_query: sum by (zone) (rate(errors_total[{{.window}}]))
        total_query: sum by (zone) (rate(requests_total[{{.window}}]))
"""
RAW = """
version: "prometheus/v1"
service: api
slos:
  - name: latency
    objective: 99
    sli:
      raw:
        error_ratio_query: max by (zone) (slow_ratio[{{.window}}])
"""
# Per key kind ("bad", or "bad:1h" for one window only), the values of two series (two zones)
# at every step (or at step time t).
Value = float | Callable[[float], float]
Split = dict[str, tuple[Value, Value]]


def _slo(tmp_path: Path, text: str) -> SLO:
    path = tmp_path / "slo.yaml"
    path.write_text(text)
    [slo] = load_slos([path])
    return slo


def _prometheus(split: Split, asked: list[tuple[float, float, float]]) -> PrometheusClient:
    """A range API answering every key with two series (none if ``split`` is empty), and
    recording each query's range."""

    def handle(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        form |= dict(request.url.params)
        start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
        asked.append((start, end, step))
        # As Prometheus: a range must not end before it starts nor hold 11,000 points; and a
        # backtest that keeps asking (a loop that never ends) fails here, not by a time limit.
        if end < start or (end - start) / step + 1 > 11_000:
            return httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                             "error": "bad range"})  # fmt: skip
        assert len(asked) <= 100, "the backtest keeps querying"
        times = [start + i * step for i in range(int((end - start) // step) + 1)]
        result = [
            {
                "metric": {"aqua_q": key, "zone": zone},
                "values": [[t, repr(v(t) if callable(v) else v)] for t in times],
            }
            for key in re.findall(r'"aqua_q", "([^"]+)"', form["query"])
            if key in split or key.split(":")[0] in split
            for zone, v in zip(("a", "b"), split.get(key, split[key.split(":")[0]]), strict=True)
        ]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "matrix", "result": result}}
        )

    return PrometheusClient("http://prom", transport=httpx.MockTransport(handle))


def test_a_long_range_asks_every_step_once_within_prometheus_limit(tmp_path: Path) -> None:
    asked: list[tuple[float, float, float]] = []
    steps = 10_001  # one more than a query may hold: the last step is a query of its own
    end = START + (steps - 1) * 60
    with _prometheus({}, asked) as prom:
        result = backtest([_slo(tmp_path, EVENTS)], prom, START, end, step=60)
    assert result.queries == len(asked) == 2
    asked_times = [s + i * step for s, e, step in asked for i in range(int((e - s) // step) + 1)]
    assert asked_times == [START + i * 60 for i in range(steps)]
    assert all((e - s) / step + 1 <= 11_000 for s, e, step in asked)
    asked.clear()  # 10,000 steps: exactly one query's worth
    with _prometheus({}, asked) as prom:
        backtest([_slo(tmp_path, EVENTS)], prom, START, START + 9_999 * 60, step=60)
    assert [(s, e) for s, e, _ in asked] == [(START, START + 9_999 * 60)]


def test_event_counts_add_up_across_series(tmp_path: Path) -> None:
    # Zone a: 6 bad of 900, zone b: 6 bad of 100. Summed: 12 of 1,000 = 1.2 % errors, 1.2x
    # the 1 % budget: the ticket-slow tier (1x) fires for the whole range; zone a alone would
    # be 0.67 % and fire nothing.
    asked: list[tuple[float, float, float]] = []
    end = START + 3600
    with _prometheus({"bad": (6.0, 6.0), "total": (900.0, 100.0)}, asked) as prom:
        result = backtest([_slo(tmp_path, EVENTS)], prom, START, end, step=300)
    fired = {t.name: t.firings for t in result.slos[0].tiers}
    assert [(f.start, f.end, f.onset) for f in fired["ticket-slow"]] == [(START, end, None)]
    assert fired["page-quick"] == fired["page-slow"] == fired["ticket-quick"] == []


def test_raw_ratios_take_the_worst_series_not_their_sum(tmp_path: Path) -> None:
    # Two zones at 0.6 % each: the worst is 0.6 % (0.6x the budget, nothing fires); their sum,
    # 1.2 %, would fire the ticket-slow tier.
    asked: list[tuple[float, float, float]] = []
    with _prometheus({"ratio": (0.006, 0.006)}, asked) as prom:
        quiet = backtest([_slo(tmp_path, RAW)], prom, START, START + 3600, step=300)
    assert all(t.firings == [] for t in quiet.slos[0].tiers)
    with _prometheus({"ratio": (0.002, 0.02)}, asked) as prom:
        loud = backtest([_slo(tmp_path, RAW)], prom, START, START + 3600, step=300)
    fired = {t.name: len(t.firings) for t in loud.slos[0].tiers}
    assert fired == {"page-quick": 0, "page-slow": 0, "ticket-quick": 0, "ticket-slow": 1}


@pytest.mark.parametrize(
    ("end", "step", "message"),
    [
        (START, 300, "--to must be after --from"),
        (START - 60, 300, "--to must be after --from"),
        (START + 3600, 14, "--step must be at least 15s"),
    ],
)
def test_bad_ranges_are_usage_errors(tmp_path: Path, end: float, step: int, message: str) -> None:
    with (
        _prometheus({"bad": (0.0, 0.0), "total": (1.0, 1.0)}, []) as prom,
        pytest.raises(UsageError, match=message),
    ):
        backtest([_slo(tmp_path, EVENTS)], prom, START, end, step=step)


def test_the_smallest_step_is_15s(tmp_path: Path) -> None:
    asked: list[tuple[float, float, float]] = []
    with _prometheus({"bad": (0.0, 0.0), "total": (1.0, 1.0)}, asked) as prom:
        result = backtest([_slo(tmp_path, EVENTS)], prom, START, START + 60, step=15)
    assert (result.step, [a[2] for a in asked]) == (15, [15.0])


def _table(result: Backtest) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(result)
    return out.getvalue()


def test_table_marks_tiers_that_never_fired(tmp_path: Path) -> None:
    with _prometheus({"bad": (6.0, 6.0), "total": (900.0, 100.0)}, []) as prom:
        result = backtest([_slo(tmp_path, EVENTS)], prom, START, START + 3600, step=300)
    assert_matches_schema("slo-backtest", result.to_json())  # what --format json prints
    rows = {line.split("│")[2].strip(): line for line in _table(result).splitlines() if "│" in line}
    # page-quick never fired: no time firing, no delays.
    assert [c.strip() for c in rows["page-quick"].split("│")[4:8]] == ["0", "0s", "—", "—"]
    # ticket-slow fired from the first step (already burning: no onset, so no delay) for 1h.
    assert [c.strip() for c in rows["ticket-slow"].split("│")[4:8]] == ["1", "1h", "—", "—"]


def test_a_burn_exactly_at_a_tier_threshold_does_not_fire(tmp_path: Path) -> None:
    # The alert rules compare with `>`: a ratio equal to factor x budget stays silent, as the
    # replay must; the next float above it fires (here only ticket-slow, factor 1).
    slo = _slo(tmp_path, RAW)
    limit = threshold(1.0, slo.budget)
    fired = {}
    for ratio in (limit, math.nextafter(limit, 1.0)):
        with _prometheus({"ratio": (ratio, 0.0)}, []) as prom:
            result = backtest([slo], prom, START, START + 3600, step=300)
        fired[ratio] = [len(t.firings) for t in result.slos[0].tiers]
    assert list(fired.values()) == [[0, 0, 0, 0], [0, 0, 0, 1]]


def test_delay_counts_from_the_last_step_at_most_at_1x(tmp_path: Path) -> None:
    # Exactly 1x the budget until 30 min in, then 50x: every tier fires from 30 min in, and
    # the burn began after the last step at 1x (at most 1x counts as calm), 5 min earlier.
    slo = _slo(tmp_path, RAW)
    turn = START + 1800

    def ratio(t: float) -> float:
        return slo.budget if t < turn else 50 * slo.budget

    with _prometheus({"ratio": (ratio, 0.0)}, []) as prom:
        result = backtest([slo], prom, START, START + 3600, step=300)
    for tier in result.slos[0].tiers:
        [firing] = tier.firings
        assert (firing.start, firing.onset, firing.delay) == (turn, turn - 300, 300.0)
        assert (tier.firing_seconds, tier.median_delay) == (1800.0, 300.0)
        summary = tier.to_json()
        assert (summary["firing_seconds"], summary["median_delay"]) == (1800.0, 300.0)
    rows = [line.split("│") for line in _table(result).splitlines() if "page-quick" in line]
    assert [c.strip() for c in rows[0][4:8]] == ["1", "30m", "5m", "5m"]


def test_a_firing_ends_at_the_first_calm_step_and_idle_steps_are_skipped(tmp_path: Path) -> None:
    # 2 % errors (2x) from 10 to 20 min in, no traffic at all after 40 min: ticket-slow fires
    # once, 10:00 to 20:00; the idle steps neither fire nor divide by zero.
    slo = _slo(tmp_path, EVENTS)

    def bad(t: float) -> float:
        return 20.0 if START + 600 <= t < START + 1200 else 0.0

    def total(t: float) -> float:
        return 1000.0 if t < START + 2400 else 0.0

    with _prometheus({"bad": (bad, 0.0), "total": (total, 0.0)}, []) as prom:
        result = backtest([slo], prom, START, START + 3600, step=300)
    fired = {t.name: [(f.start, f.end) for f in t.firings] for t in result.slos[0].tiers}
    assert fired["ticket-slow"] == [(START + 600, START + 1200)]
    assert fired["page-quick"] == fired["page-slow"] == fired["ticket-quick"] == []


@pytest.mark.parametrize("at_limit", ["6h", "3d"])
def test_a_tier_needs_both_windows_above_its_threshold(tmp_path: Path, at_limit: str) -> None:
    # ticket-slow (6h / 3d, factor 1): one window exactly at the threshold and the other above
    # it stays silent, as the alert rule's `short > t and long > t` does.
    slo = _slo(tmp_path, RAW)
    limit = threshold(1.0, slo.budget)
    above = 2 * limit
    split: Split = {"ratio": (above, 0.0), f"ratio:{at_limit}": (limit, 0.0)}
    with _prometheus(split, []) as prom:
        result = backtest([slo], prom, START, START + 3600, step=300)
    assert {t.name: t.firings for t in result.slos[0].tiers}["ticket-slow"] == []
    with _prometheus({"ratio": (above, 0.0)}, []) as prom:
        loud = backtest([slo], prom, START, START + 3600, step=300)
    assert len({t.name: t.firings for t in loud.slos[0].tiers}["ticket-slow"]) == 1


def test_queries_counts_the_backtests_own_on_a_used_client(tmp_path: Path) -> None:
    asked: list[tuple[float, float, float]] = []
    with _prometheus({}, asked) as prom:
        prom.query_range("up", START, START + 60, 60)
        prom.query_range("up", START, START + 60, 60)
        result = backtest([_slo(tmp_path, EVENTS)], prom, START, START + 3600, step=300)
    assert (result.queries, len(asked)) == (1, 3)


def test_steps_without_error_series_count_no_errors_and_one_event_counts(tmp_path: Path) -> None:
    # Only the total series exist (10 requests a step): no errors, nothing fires. A step with
    # a single request, an error, is a 100 % error ratio: every tier fires.
    slo = _slo(tmp_path, EVENTS)
    with _prometheus({"total": (10.0, 0.0)}, []) as prom:
        quiet = backtest([slo], prom, START, START + 3600, step=300)
    assert all(t.firings == [] for t in quiet.slos[0].tiers)
    with _prometheus({"bad": (1.0, 0.0), "total": (1.0, 0.0)}, []) as prom:
        loud = backtest([slo], prom, START, START + 3600, step=300)
    assert all(len(t.firings) == 1 for t in loud.slos[0].tiers)


def test_the_replay_runs_over_the_steps_of_the_range(tmp_path: Path) -> None:
    # Half the events fail at every step: every tier fires from the first step to the last.
    asked: list[tuple[float, float, float]] = []
    with _prometheus({"bad": (1.0, 0.0), "total": (1.0, 1.0)}, asked) as prom:
        result = backtest([_slo(tmp_path, EVENTS)], prom, 630.0, 1200.0, step=60)
    assert (result.start, result.end) == (600.0, 1200.0)  # the start aligned to the step
    assert asked == [(600.0, 1200.0, 60.0)]
    for tier in result.slos[0].tiers:
        assert [(f.start, f.end, f.onset) for f in tier.firings] == [(600.0, 1200.0, None)]

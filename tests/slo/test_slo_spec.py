"""Spec parsing and validation: every format, aqua's extensions, errors with file and line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sre_cli.errors import SpecError, UsageError
from sre_cli.slo.lint import selectors, static_problems
from sre_cli.slo.loader import check_paths, load_slos
from sre_cli.slo.spec import LatencySLI
from sre_cli.slo.windows import Window, load_tiers
from sre_cli.timespec import parse_instant

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
BAD = sorted((FIXTURES / "bad").glob("*.yaml"))
LINT = sorted((FIXTURES / "lint").glob("*.yaml"))
SHIPPED = Path(__file__).parents[2] / "slo"


def _expectation(path: Path) -> tuple[int, str]:
    match = re.match(r"# expect: (\d+) (.+)", path.read_text().splitlines()[0])
    assert match, f"{path} needs a '# expect: LINE MESSAGE' first line"
    return int(match.group(1)), match.group(2)


def test_good_fixtures_load_without_problems() -> None:
    slos, problems = check_paths([FIXTURES / "good"])
    assert problems == []
    assert static_problems(slos, load_tiers()) == []
    ids = {s.id for s in slos}
    assert ids == {
        "myservice-requests-availability",
        "shop-checkout-raw",
        "shop-search-latency",
        "shop-weekly",
        "billing-invoices",
        "payments-payments-success",
        "payments-payments-quarterly",
        "shop-slices",
        "search-search-latency",
    }


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_fixture_reports_file_and_line(path: Path) -> None:
    line, message = _expectation(path)
    slos, problems = check_paths([path])
    problems += static_problems(slos, load_tiers())
    found = [(p.path, p.line, p.message) for p in problems]
    assert any(p == str(path) and ln == line and message in msg for p, ln, msg in found), (
        f"expected line {line} '{message}' in {found}"
    )


@pytest.mark.parametrize("path", LINT, ids=[p.stem for p in LINT])
def test_lint_fixture_loads_and_warns_at_file_and_line(path: Path) -> None:
    line, message = _expectation(path)
    slos, problems = check_paths([path])
    assert problems == []
    assert load_slos([path]) == slos
    found = [(p.line, p.message, p.severity) for p in static_problems(slos, load_tiers())]
    assert any(ln == line and message in msg and sev == "warning" for ln, msg, sev in found), (
        f"expected a warning at line {line} '{message}' in {found}"
    )


def test_load_slos_raises_spec_error_with_location() -> None:
    with pytest.raises(SpecError) as info:
        load_slos([FIXTURES / "bad" / "objective-100.yaml"])
    assert info.value.line == 7
    assert str(info.value).startswith(f"{FIXTURES / 'bad' / 'objective-100.yaml'}:7: ")


def test_missing_path_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_slos([tmp_path / "nope.yaml"])


def test_empty_folder_has_no_slo(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no SLO found"):
        load_slos([tmp_path])


def test_sloth_file_normalized() -> None:
    [slo] = load_slos([FIXTURES / "good" / "sloth-events.yaml"])
    assert slo.objective == 99.9
    assert slo.budget == 0.001
    assert slo.window.label == "30d"
    assert slo.labels == {"owner": "myteam", "repo": "myorg/myservice", "tier": "2"}
    assert slo.alerting.page_alert.labels["routing_key"] == "myteam"
    assert slo.source.line == 8
    bad, total = slo.sli.counts("30d")
    assert bad.startswith("sum(increase(http_request_duration_seconds_count{")
    assert "[30d]" in total
    assert "rate(" not in total


def test_file_wide_defaults_and_overrides() -> None:
    slos = {s.name: s for s in load_slos([FIXTURES / "good" / "sloth-raw-and-extensions.yaml"])}
    assert slos["checkout-raw"].window.label == "month@Europe/Berlin"
    assert slos["checkout-raw"].policy.min_budget_remaining == 0.2
    assert slos["checkout-raw"].sli.kind == "raw"
    assert slos["checkout-raw"].alerting.page_alert.disable
    assert slos["search-latency"].window.label == "7d"
    assert slos["search-latency"].policy.max_burn_rate == 10
    assert slos["search-latency"].policy.min_budget_remaining is None
    assert slos["weekly"].window.label == "week@America/New_York"


def test_latency_shorthand_queries() -> None:
    slos = {s.name: s for s in load_slos([FIXTURES / "good" / "sloth-raw-and-extensions.yaml"])}
    sli = slos["search-latency"].sli
    assert sli.kind == "latency"
    bad, total = sli.counts("5m")
    assert total == 'sum(increase(search_duration_seconds_count{route="/search"}[5m]))'
    assert 'search_duration_seconds_bucket{route="/search",le="0.25"}' in bad


@pytest.mark.parametrize(
    ("threshold", "matcher"),
    [(0.1, 'le="0.1"'), (60, 'le=~"60|60[.]0"'), (2.5, 'le="2.5"'), (1, 'le=~"1|1[.]0"')],
)
def test_latency_bucket_matches_go_and_python_spellings(threshold: float, matcher: str) -> None:
    assert LatencySLI(metric="m", threshold=threshold).le_matcher() == matcher


def test_openslo_documents() -> None:
    slos = {s.name: s for s in load_slos([FIXTURES / "good" / "openslo.yaml"])}
    ref = slos["payments-success"]
    assert ref.objective == 99.9
    assert ref.window.label == "28d"
    bad, total = ref.sli.counts("1h")
    assert total == "sum(increase(payments_total[1h]))"
    assert bad == (
        '((sum(increase(payments_total[1h]))) - (sum(increase(payments_total{outcome="ok"}[1h]))))'
    )
    quarterly = slos["payments-quarterly"]
    assert quarterly.window.label == "quarter@Asia/Tokyo"
    assert quarterly.objective == 99.5


def test_shipped_specs_are_valid() -> None:
    slos, problems = check_paths([SHIPPED])
    assert problems == []
    assert static_problems(slos, load_tiers()) == []
    by_id = {s.id: s for s in slos}
    assert by_id["api-availability"].objective == 99.9
    assert 'status=~"5.."' in (by_id["api-availability"].sli.error_query or "")
    latency = by_id["api-latency"].sli.latency
    assert latency is not None
    assert (latency.base, latency.threshold) == ("http_request_duration_seconds", 0.1)
    assert by_id["pipeline-freshness"].sli.latency is not None
    assert by_id["worker-success"].window.label == "month@Europe/Oslo"
    assert "ml-forecast-latency" in by_id


# --- windows ----------------------------------------------------------------------------------


def test_calendar_month_bounds_in_local_time() -> None:
    window = Window.parse({"calendar": "month", "timezone": "Europe/Berlin"})
    # 2024-02-29 23:30 UTC is already March 1st 00:30 in Berlin.
    start, end = window.bounds(datetime(2024, 2, 29, 23, 30, tzinfo=UTC))
    assert start.astimezone(UTC) == datetime(2024, 2, 29, 23, 0, tzinfo=UTC)
    # March has a DST switch: 31 days minus one hour of real time.
    assert end.timestamp() - start.timestamp() == 31 * 86400 - 3600
    assert end.astimezone(UTC) == datetime(2024, 3, 31, 22, 0, tzinfo=UTC)


def test_calendar_week_and_quarter_bounds() -> None:
    at = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)  # a Wednesday
    start, end = Window.parse({"calendar": "week", "timezone": "UTC"}).bounds(at)
    assert (start.date().isoformat(), end.date().isoformat()) == ("2024-05-13", "2024-05-20")
    start, end = Window.parse({"calendar": "quarter", "timezone": "UTC"}).bounds(at)
    assert (start.date().isoformat(), end.date().isoformat()) == ("2024-04-01", "2024-07-01")
    start, end = Window.parse({"calendar": "month"}).bounds(datetime(2024, 12, 5, tzinfo=UTC))
    assert (start.date().isoformat(), end.date().isoformat()) == ("2024-12-01", "2025-01-01")


def test_rolling_window_bounds() -> None:
    at = datetime(2024, 3, 1, tzinfo=UTC)
    assert Window.parse("7d").bounds(at) == (at - timedelta(days=7), at)
    assert Window.parse(None).label == "30d"


@pytest.mark.parametrize("value", ["30x", "12h", "500d", {"calendar": "decade"}, 7, {"x": 1}])
def test_invalid_windows(value: object) -> None:
    with pytest.raises(ValueError):
        Window.parse(value)


# --- misc -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1709251200", 1709251200.0),
        ("1709251200.5", 1709251200.5),
        ("2024-03-01T00:00:00Z", 1709251200.0),
        ("2024-03-01T01:00:00+01:00", 1709251200.0),
    ],
)
def test_parse_instant(text: str, expected: float) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-03-01T00:00:00"])
def test_parse_instant_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_instant(text)


def test_selectors_found_in_queries() -> None:
    query = (
        'sum(increase(http_requests_total{job="api",status=~"5.."}[5m])) / '
        "sum by (le) (rate(x_bucket[1h])) + count(up[5m:1m])"
    )
    assert selectors(query) == [
        'http_requests_total{job="api",status=~"5.."}',
        "x_bucket",
        "up",
    ]


_GOOD = "good: {metricSource: {type: Prometheus, spec: {query: 'ok_total'}}}"
_TOTAL = "total: {metricSource: {type: Prometheus, spec: {query: 'all_total'}}}"


def _openslo_slo(
    name: str = "s",
    ratio: tuple[str, ...] = ("counter: true", _GOOD, _TOTAL),
    objective: str = "{target: 0.999}",
) -> str:
    metric = "\n".join(f"        {line}" for line in ratio)
    return f"""apiVersion: openslo/v1
kind: SLO
metadata:
  name: {name}
spec:
  service: payments
  indicator:
    metadata: {{name: inline}}
    spec:
      ratioMetric:
{metric}
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - {objective}
"""


@pytest.mark.parametrize(
    ("ratio", "objective", "message"),
    [
        (
            ("counter: true", "good: {metricSource: {spec: {query: '  '}}}", _TOTAL),
            "{target: 0.999}",
            "spec.query (a PromQL query) is required",
        ),
        (
            ("counter: false", _GOOD, _TOTAL),
            "{target: 0.999}",
            "query must be a counter selector (with counter: true)",
        ),
        (("rawType: success", _GOOD, _TOTAL), "{target: 0.999}", "raw ratio metrics"),
        (("counter: true", _GOOD), "{target: 0.999}", "needs total and exactly one of"),
        (
            ("counter: true", _GOOD, _TOTAL),
            "{target: 0.999, indicatorRef: other}",
            "per-objective indicators",
        ),
    ],
    ids=["blank-query", "selector-not-counter", "raw-type", "no-total", "objective-indicator"],
)
def test_openslo_documents_aqua_cannot_evaluate_are_refused(
    tmp_path: Path, ratio: tuple[str, ...], objective: str, message: str
) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(_openslo_slo(ratio=ratio, objective=objective))
    slos, problems = check_paths([path])
    assert slos == []
    assert any(message in p.message for p in problems), [p.message for p in problems]


def test_openslo_names_are_at_most_120_characters(tmp_path: Path) -> None:
    longest = tmp_path / "longest.yaml"
    longest.write_text(_openslo_slo("n" * 120))
    [slo] = load_slos([longest])
    assert slo.name == "n" * 120
    too_long = tmp_path / "too-long.yaml"
    too_long.write_text(_openslo_slo("n" * 121))
    with pytest.raises(SpecError, match="120"):
        load_slos([too_long])


def test_openslo_threshold_metric_keeps_the_histograms_labels() -> None:
    [slo] = load_slos([FIXTURES / "good" / "openslo-threshold.yaml"])
    bad, total = slo.sli.counts("1h")
    assert 'job="shop"' in bad
    assert 'job="shop"' in total


def test_openslo_objectives_and_labels(tmp_path: Path) -> None:
    # Several objectives: one SLO each, named by name, else displayName, else position.
    # Labels: string values under Prometheus label names only.
    path = tmp_path / "slo.yaml"
    text = _openslo_slo(objective="{displayName: fast, target: 0.99}\n    - {target: 0.9}")
    text = text.replace(
        "  name: s\n", "  name: s\n  labels: {team: pay, bad-key: x, tiers: [a, b]}\n", 1
    )
    path.write_text(text)
    slos = load_slos([path])
    assert [(s.name, s.objective) for s in slos] == [("s-fast", 99.0), ("s-1", 90.0)]
    assert all(s.labels == {"team": "pay"} for s in slos)

"""`aqua slo` against a real Prometheus holding backfilled history with known answers.

The history (tests/slo/slo_history.py) keeps every per-minute increment it generated, so the
SLI, budget and burn rates read through PromQL are compared with the generator's own counts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import promtool_backfill
import pytest
from cli_runner import invoke
from headless_chromium import SIZE, shoot
from json_schema import assert_matches_schema
from slo.slo_history import BURST, GAP, RESET_AT, T0, T1, WORKER_BURST, History, blocks, generate

from sre_cli.commands.slo import app
from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.backtest import backtest
from sre_cli.slo.batch import evaluate
from sre_cli.slo.engine import SLOResult
from sre_cli.slo.lint import live_problems
from sre_cli.slo.loader import load_slos
from sre_cli.timespec import rfc3339

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.integration

AT = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())  # T0 + 3 days
ERR = 'http_requests_total{job="api",status="500"}'
OK = 'http_requests_total{job="api",status="200"}'
COUNT = 'http_request_duration_seconds_count{job="api"}'
FAST = 'http_request_duration_seconds_bucket{job="api",le="0.1"}'
PROCESSED = 'worker_messages_processed_total{job="worker"}'
FAILED = 'worker_messages_failed_total{job="worker"}'

SPECS = {
    "api.yaml": """
version: "prometheus/v1"
service: api
slos:
  - name: availability
    objective: 99.9
    policy: {min_budget_remaining: 0.05}
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="api",status=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="api"}[{{.window}}]))
  - name: latency
    objective: 95
    sli:
      latency: {metric: http_request_duration_seconds, selector: 'job="api"', threshold: 0.1}
""",
    "worker.yaml": """
apiVersion: openslo/v1
kind: SLO
metadata: {name: success}
spec:
  service: worker
  indicator:
    metadata: {name: worker-success}
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: Prometheus
            spec: {query: 'worker_messages_failed_total{job="worker"}'}
        total:
          metricSource:
            type: Prometheus
            spec: {query: 'worker_messages_processed_total{job="worker"}'}
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar: {startTime: "2024-01-01 00:00:00", timeZone: Europe/Oslo}
  budgetingMethod: Occurrences
  objectives:
    - target: 0.995
""",
    "idle.yaml": """
version: "prometheus/v1"
service: idle
slos:
  - name: requests
    objective: 99
    sli:
      events:
        error_query: sum(rate(idle_requests_total{job="idle",status="500"}[{{.window}}]))
        total_query: sum(rate(idle_requests_total{job="idle"}[{{.window}}]))
""",
}


@pytest.fixture(scope="module")
def history() -> History:
    return generate()


prom_url = promtool_backfill.history_fixture(blocks, "slo-tsdb")


specs = promtool_backfill.specs_fixture(SPECS, "slo-specs")


def _result(specs: Path, prom: PrometheusClient, name: str, at: float) -> SLOResult:
    slos = [s for s in load_slos([specs]) if s.id == name]
    return evaluate(slos, prom, at).results[0]


def _cli(*args: str) -> tuple[int, str]:
    """Run the group as the root CLI would: AquaError becomes its exit code."""
    return invoke(app, args)


def test_fixture_history_holds_a_reset_and_a_gap(prom: PrometheusClient) -> None:
    before = prom.query(OK, RESET_AT - 60)[0].value
    after = prom.query(OK, RESET_AT)[0].value
    assert after < before  # the counter restarted
    [gap] = prom.query(f"count_over_time({OK}[2h])", GAP[1] - 1)
    assert gap.value < 10  # barely any samples inside the two-hour gap


def test_availability_matches_the_generator(
    specs: Path, prom: PrometheusClient, history: History
) -> None:
    r = _result(specs, prom, "api-availability", AT)
    bad = history.count(ERR, AT - 30 * 86400, AT)
    total = bad + history.count(OK, AT - 30 * 86400, AT)
    assert r.bad == pytest.approx(bad, abs=1e-6)
    assert r.total == pytest.approx(total, abs=1e-6)
    assert r.sli == pytest.approx(1 - bad / total, abs=1e-4)
    consumed = (bad / total) / 0.001
    assert r.budget_consumed == pytest.approx(consumed, abs=1e-4)
    assert r.budget_remaining == pytest.approx(1 - consumed, abs=1e-4)
    assert r.budget_minutes == pytest.approx(43.2)
    for window, seconds in (
        ("5m", 300),
        ("1h", 3600),
        ("6h", 21600),
        ("1d", 86400),
        ("3d", 259200),
    ):
        b = history.count(ERR, AT - seconds, AT)
        t = b + history.count(OK, AT - seconds, AT)
        assert r.burn_rates[window] == pytest.approx(b / t / 0.001, abs=1e-4), window


def test_counter_reset_and_gap_inside_the_window(
    specs: Path, prom: PrometheusClient, history: History
) -> None:
    for at in (RESET_AT + 3600, GAP[1] + 3600):
        r = _result(specs, prom, "api-availability", at)
        bad = history.count(ERR, T0, at)
        total = bad + history.count(OK, T0, at)
        assert r.total == pytest.approx(total, abs=1e-6)
        assert r.sli == pytest.approx(1 - bad / total, abs=1e-4)
        assert r.budget_consumed == pytest.approx(bad / total / 0.001, abs=1e-4)


def test_latency_shorthand_matches_the_generator(
    specs: Path, prom: PrometheusClient, history: History
) -> None:
    r = _result(specs, prom, "api-latency", AT)
    total = history.count(COUNT, T0, AT)
    bad = total - history.count(FAST, T0, AT)
    assert (r.total, r.bad) == (pytest.approx(total), pytest.approx(bad))  # type: ignore[comparison-overlap]
    assert r.sli == pytest.approx(1 - bad / total, abs=1e-4)
    assert r.budget_consumed == pytest.approx(bad / total / 0.05, abs=1e-4)


def test_calendar_month_starts_at_local_midnight(
    specs: Path, prom: PrometheusClient, history: History
) -> None:
    at = datetime.fromisoformat("2024-03-01T06:00:00+01:00").timestamp()
    r = _result(specs, prom, "worker-success", at)
    start = datetime.fromisoformat("2024-03-01T00:00:00+01:00").timestamp()
    assert r.window_start == start == WORKER_BURST[0]
    bad, total = history.count(FAILED, start, at), history.count(PROCESSED, start, at)
    assert (r.bad, r.total) == (pytest.approx(bad), pytest.approx(total))  # type: ignore[comparison-overlap]
    assert r.sli == pytest.approx(1 - bad / total, abs=1e-4)
    # The failure burst is March in Oslo but February in UTC: a UTC month would miss it.
    utc_start = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    assert history.count(FAILED, utc_start, at) < bad / 2
    # March in Oslo lasts 31 days less the DST hour: 44,580 minutes, 0.5 % of them budget.
    assert r.budget_minutes == pytest.approx((31 * 1440 - 60) * 0.005)
    assert r.status == "breached"


def test_page_fires_during_the_burst_only(specs: Path, prom: PrometheusClient) -> None:
    during = _result(specs, prom, "api-availability", BURST[0] + 600)
    assert during.alerts["page"]
    assert during.status in {"warning", "breached"}
    assert not _result(specs, prom, "api-availability", AT).alerts["page"]


def test_zero_traffic_is_no_data(specs: Path, prom: PrometheusClient) -> None:
    r = _result(specs, prom, "idle-requests", AT)
    assert r.status == "no_data"
    assert r.sli is None


def test_gate_exit_codes(
    specs: Path, prom_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, idle = str(specs / "api.yaml"), str(specs / "idle.yaml")
    at = str(AT)
    code, out = _cli("gate", api, "--prometheus", prom_url, "--at", at)
    assert code == 0, out
    code, out = _cli(
        "gate", api, "--prometheus", prom_url, "--at", at, "--min-budget-remaining", "0.9"
    )
    assert code == 1, out
    assert "api/availability" in out
    assert "minimum 90.0%" in out
    code, out = _cli(
        "gate",
        api,
        "--prometheus",
        prom_url,
        "--at",
        at,
        "--max-burn-rate",
        "0.01",
        "--burn-rate-window",
        "3d",
    )
    assert code == 1
    assert "burn rate over 3d" in out
    code, out = _cli("gate", idle, "--prometheus", prom_url, "--at", at)
    assert code == 2
    assert "could not evaluate" in out
    code, out = _cli("gate", api, "--prometheus", "http://127.0.0.1:9", "--at", at)
    assert code == 2
    assert "did not answer" in out
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out = _cli(
        "gate",
        api,
        "--prometheus",
        prom_url,
        "--at",
        at,
        "--format",
        "json",
        "--min-budget-remaining",
        "0.9",
    )
    assert code == 1
    data = json.loads(out[: out.rindex("}") + 1])
    assert_matches_schema("slo-gate", data)
    assert data["passed"] is False
    assert [v["kind"] for v in data["violations"]] == ["budget", "budget"]
    assert data["evaluated_at"] == rfc3339(AT)
    assert "❌ SLO gate failed" in summary.read_text()


def test_report_formats(specs: Path, prom_url: str, tmp_path: Path, history: History) -> None:
    api = str(specs / "api.yaml")
    code, out = _cli(
        "report", api, "--prometheus", prom_url, "--at", "2024-03-01T00:00:00Z", "--format", "json"
    )
    assert code == 0, out
    data = json.loads(out)
    assert_matches_schema("slo-report", data)
    avail = data["slos"][0]
    bad = history.count(ERR, T0, AT)
    assert avail["events"] == {"total": bad + history.count(OK, T0, AT), "bad": bad}
    assert avail["status"] in {"ok", "warning"}
    code, out = _cli("report", api, "--prometheus", prom_url, "--at", str(AT))
    assert code == 0
    assert "api/availability" in out
    assert "budget left" in out
    page = tmp_path / "report.html"
    code, _ = _cli(
        "report", api, "--prometheus", prom_url, "--at", str(AT), "-f", "html", "-o", str(page)
    )
    assert code == 0
    assert "<polyline" in page.read_text()
    code, out = _cli("report", api, "--prometheus", prom_url, "--at", str(AT), "-f", "markdown")
    assert code == 0
    assert "| `api/latency` |" in out


def test_html_report_in_headless_chromium(specs: Path, prom_url: str, tmp_path: Path) -> None:
    """During the burst: the page renders in Chromium with no console error, draws a burn-down
    per SLO and marks the firing page tier; a screenshot of the right size that is not blank."""
    page = tmp_path / "report.html"
    at = str(BURST[0] + 600)
    code, out = _cli("report", str(specs), "--prometheus", prom_url, "--at", at, "-f", "html")
    assert code == 0, out
    code, _ = _cli(
        "report", str(specs), "--prometheus", prom_url, "--at", at, "-f", "html", "-o", str(page)
    )
    assert code == 0
    text = page.read_text()
    assert "<script" not in text
    assert "http" not in text.replace("http://www.w3.org/2000/svg", "")  # no external resource
    sections = text.count("<section ")
    assert sections == len(load_slos([specs]))
    assert text.count("<polyline class='burn-down'") == sections - 1  # the zero-traffic SLO
    avail = text[text.index("id='api-availability'") :]
    avail = avail[: avail.index("</section>")]
    assert "<tr class='firing'><td>page-quick</td>" in avail
    assert "page: firing" in avail
    shot = shoot(page, tmp_path)
    assert shot.console == []
    assert (shot.png.width, shot.png.height) == SIZE
    assert len(shot.png.colours()) > 50
    assert shot.png.near((0xCF, 0x22, 0x2E), tolerance=10) > 200  # red: breach line, badges


def test_backtest_finds_the_burst(specs: Path, prom: PrometheusClient) -> None:
    slos = [s for s in load_slos([specs]) if s.id == "api-availability"]
    result = backtest(slos, prom, T0 + 86400, T1, step=300)
    tiers = {t.name: t for t in result.slos[0].tiers}
    [firing] = tiers["page-quick"].firings
    assert BURST[0] < firing.start <= BURST[0] + 600
    assert firing.delay is not None
    assert firing.delay <= 600
    assert result.queries >= 1


def test_validate_against_live_data(specs: Path, prom: PrometheusClient, tmp_path: Path) -> None:
    assert live_problems(load_slos([specs / "api.yaml"]), prom, AT) == []
    broken = tmp_path / "broken.yaml"
    broken.write_text("""
version: "prometheus/v1"
service: api
slos:
  - name: wrong-bucket
    objective: 95
    sli:
      latency: {metric: http_request_duration_seconds, selector: 'job="api"', threshold: 0.2}
  - name: no-series
    objective: 99
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="apii",status=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="api"}[{{.window}}]))
  - name: unparsable
    objective: 99
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="api"}[{{.window}}])
        total_query: sum(rate(http_requests_total{job="api"}[{{.window}}]))
""")
    problems = [p.message for p in live_problems(load_slos([broken]), prom, AT)]
    assert any("threshold 0.2 is not a bucket" in p for p in problems), problems
    assert any('job="apii"' in p and "matches no series" in p for p in problems), problems
    assert any("api-unparsable: query does not evaluate" in p for p in problems), problems
    code, out = _cli("validate", str(broken), "--prometheus", prom.url, "--at", str(AT))
    assert code == 1
    assert "not a bucket" in out
    assert "api-unparsable: error_query does not parse: parse error" in out

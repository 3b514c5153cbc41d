"""PromQL syntax of every SLO query, read by promtool or by a Prometheus server's parser: each
problem names file, line, SLO and the query as the user wrote it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sre_cli.infra.prometheus import PrometheusServer
from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.loader import load_slos
from sre_cli.slo.syntax import check_syntax

ROOT = Path(__file__).resolve().parents[2]
BROKEN = 'sum(rate(http_requests_total{job="api",route=~"[a-z]+"}[{{.window}}])) by ('
SPEC = f"""\
version: prometheus/v1
service: api
slos:
  - name: fine
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{{job="api",status=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total{{job="api"}}[{{{{.window}}}}]))
  - name: broken
    objective: 99
    sli:
      events:
        error_query: '{BROKEN}'
        total_query: sum(rate(http_requests_total{{job="api"}}[{{{{.window}}}}]))
  - name: ratio
    objective: 99
    sli:
      raw:
        error_ratio_query: rate(errors_total[{{{{.window}}}}] / 2
"""


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    (tmp_path / "api.yaml").write_text(SPEC)
    return tmp_path


def _messages(specs: Path, prom: PrometheusClient | None) -> tuple[str, list[str]]:
    checked = check_syntax(load_slos([specs]), prom)
    assert checked.queries == 5
    return checked.parser, [f"{p.path}:{p.line}: {p.message}" for p in checked.problems]


def _assert_named(specs: Path, messages: list[str]) -> None:
    assert len(messages) == 2, messages
    broken, ratio = messages
    assert broken.startswith(f"{specs / 'api.yaml'}:10: api-broken: error_query does not parse")
    assert broken.endswith(f"\n    {BROKEN}")  # the user's own text, window placeholder and all
    assert "unclosed left parenthesis" in broken
    assert ratio.startswith(f"{specs / 'api.yaml'}:16: api-ratio: error_ratio_query does not")
    assert ratio.endswith("\n    rate(errors_total[{{.window}}] / 2")


def test_promtool_finds_every_broken_query(specs: Path, promtool: Path) -> None:
    parser, messages = _messages(specs, None)
    assert parser == "promtool"
    _assert_named(specs, messages)


def test_the_servers_parser_finds_the_same(
    specs: Path, prometheus_factory: Callable[..., PrometheusServer]
) -> None:
    server = prometheus_factory("global:\n  scrape_interval: 1m\n")
    with PrometheusClient(server.url) as prom:
        parser, messages = _messages(specs, prom)
    assert parser == f"the PromQL parser of Prometheus at {server.url}"
    _assert_named(specs, messages)


def test_the_shipped_specs_parse(promtool: Path) -> None:
    checked = check_syntax(load_slos([ROOT / "slo"]))
    assert checked.problems == []
    assert checked.queries > 0


def test_validate_fails_on_a_query_that_does_not_parse_and_says_which_parser(
    specs: Path, promtool: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sre_cli", "slo", "validate", str(specs)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PromQL syntax of 5 queries checked by promtool" in done.stdout
    assert f"    {BROKEN}" in done.stdout.splitlines()
    assert "error: 2 problem(s) in SLO specs" in done.stderr


def test_a_report_names_the_slo_and_its_own_query_not_the_batched_one(
    specs: Path, prometheus_factory: Callable[..., PrometheusServer]
) -> None:
    from sre_cli.errors import SpecError
    from sre_cli.slo.batch import evaluate

    server = prometheus_factory("global:\n  scrape_interval: 1m\n")
    with PrometheusClient(server.url) as prom, pytest.raises(SpecError) as raised:
        evaluate(load_slos([specs]), prom, at=1_700_000_000)
    message = raised.value.message
    assert message.startswith(f"{specs / 'api.yaml'}:10: api-broken: error_query does not parse")
    assert message.splitlines()[1] == f"    {BROKEN}"
    assert "(and 1 more)" in message
    assert "label_replace" not in message
    assert "aqua_q" not in message


def test_validate_format_json_lists_every_problem(specs: Path, promtool: Path) -> None:
    import json

    done = subprocess.run(
        [sys.executable, "-m", "sre_cli", "slo", "validate", str(specs), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert (report["valid"], report["slos"], report["parser"], report["queries"]) == (
        False,
        3,
        "promtool",
        5,
    )
    assert [(p["line"], p["severity"]) for p in report["problems"]] == [
        (10, "error"),
        (16, "error"),
    ]
    assert report["problems"][0]["message"].endswith(f"\n    {BROKEN}")

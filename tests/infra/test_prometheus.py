"""Prometheus from the harness scrapes a real target and answers PromQL queries."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest
from infra_harness import PrometheusFactory
from infra_http import port_of, serve_text

from sre_cli.infra.http import http_request, http_status

pytestmark = pytest.mark.integration

METRICS = """\
# HELP aqua_smoke_feedings_total Feedings served.
# TYPE aqua_smoke_feedings_total counter
aqua_smoke_feedings_total{pen="3"} 42
"""


def _query(url: str, promql: str) -> list[dict[str, object]]:
    status, body = http_request(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    assert status == 200, body
    document = json.loads(body)
    assert document["status"] == "success"
    result: list[dict[str, object]] = document["data"]["result"]
    return result


def _wait_for(url: str, promql: str, timeout: float = 30.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        result = _query(url, promql)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_scrapes_a_target_and_answers_a_query(prometheus_factory: PrometheusFactory) -> None:
    with serve_text(METRICS, "text/plain; version=0.0.4") as target:

        def config(port: int) -> str:
            return (
                "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                "scrape_configs:\n"
                f"  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
                "  - job_name: target\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{port_of(target)}']}}]\n"
            )

        prom = prometheus_factory(config)
        assert http_status(f"{prom.url}/-/ready") == 200

        result = _wait_for(prom.url, 'aqua_smoke_feedings_total{job="target"}')
        assert [(r["metric"]["pen"], r["value"][1]) for r in result] == [("3", "42")]  # type: ignore[index]

        up = _wait_for(prom.url, 'up{job="self"} == 1')
        assert len(up) == 1


def test_lifecycle_and_admin_apis_are_enabled(prometheus_factory: PrometheusFactory) -> None:
    prom = prometheus_factory("global: {scrape_interval: 15s}\n")
    prom.reload("global: {scrape_interval: 5s}\n")
    status, body = http_request(f"{prom.url}/api/v1/status/config")
    assert status == 200
    assert b"scrape_interval: 5s" in body
    status, _ = http_request(f"{prom.url}/api/v1/admin/tsdb/clean_tombstones", method="POST")
    assert status == 204


def test_extra_args_replace_defaults(prometheus_factory: PrometheusFactory) -> None:
    prom = prometheus_factory("global: {}\n", extra_args=("--storage.tsdb.retention.time=2d",))
    status, body = http_request(f"{prom.url}/api/v1/status/flags")
    assert status == 200
    assert json.loads(body)["data"]["storage.tsdb.retention.time"] == "2d"


def test_without_admin_api_series_cannot_be_deleted_nor_the_server_stopped(
    tmp_path: Path,
) -> None:
    from sre_cli.infra.prometheus import PrometheusServer

    with PrometheusServer(tmp_path, "global: {}\n", admin_api=False) as prom:
        delete = urllib.parse.urlencode({"match[]": "up"})
        status, _ = http_request(
            f"{prom.url}/api/v1/admin/tsdb/delete_series?{delete}", method="POST"
        )
        assert status >= 400
        for path in ("/-/quit", "/-/reload"):
            status, _ = http_request(f"{prom.url}{path}", method="POST")
            assert status >= 400, path
        assert http_status(f"{prom.url}/-/ready") == 200

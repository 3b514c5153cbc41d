"""The dashboards drawn from a real Prometheus scraping the services' own metric classes under
synthetic traffic (live_metrics.py), with the shipped recording rules: every shipped panel is
drawn, the page renders in headless Chromium without a console message, and a broken panel
(a query Prometheus rejects, a metric that does not exist) is shown as such, never a blank page.
The stack agent serves the same page behind the stack's dashboards token."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from cli_runner import invoke
from dashboards.live_metrics import live_metrics
from dashboards.page_check import figures, undrawn
from headless_chromium import SIZE, shoot
from json_schema import assert_matches_schema

from sre_cli.commands.dashboards import app
from sre_cli.dashboards.engine import evaluate
from sre_cli.dashboards.spec import DEFAULT_DIR, load_dashboards
from sre_cli.prometheus import PrometheusClient
from sre_cli.stack.agent import Agent, agent_handler
from sre_cli.stack.spec import ComponentSpec, Ports, Probe, StackPlan, StateLayout
from sre_cli.stack.state import load_or_create_secrets

if TYPE_CHECKING:
    from sre_cli.infra.prometheus import PrometheusServer

pytestmark = pytest.mark.integration


def _panel_count() -> int:
    return sum(len(b.panels) for b in load_dashboards(DEFAULT_DIR))


@pytest.fixture(scope="module")
def prom_url(prometheus_factory: Callable[..., PrometheusServer]) -> Iterator[str]:
    with live_metrics() as live:
        url = str(prometheus_factory(live.prometheus_config()).url)
        boards = load_dashboards(DEFAULT_DIR)
        missing: list[str] = ["(not yet queried)"]
        deadline = time.monotonic() + 120
        with PrometheusClient(url) as prom:
            # Two scrapes and a rule evaluation after them: until then rates have no value.
            while missing and time.monotonic() < deadline:
                board = evaluate(boards, prom, end=time.time(), range_seconds=300)
                missing = [
                    p.panel.title for d in board.dashboards for p in d.panels if not p.has_data
                ]
                if missing:
                    threading.Event().wait(1.0)
        assert missing == [], f"panels without data after 120 s: {missing}"
        yield url


def _scraped_for(prom_url: str) -> int:
    """Whole seconds since Prometheus' first scrape: a chart over that window has its series
    from edge to edge, however soon after the first scrapes the test runs."""
    with PrometheusClient(prom_url) as prom:
        [first] = prom.query("min(min_over_time(timestamp(up)[10m:1s]))", time.time())
    return max(10, int(time.time() - first.value) + 1)


def test_every_shipped_panel_is_drawn_in_chromium(prom_url: str, tmp_path: Path) -> None:
    page = tmp_path / "dashboards.html"
    since = f"{_scraped_for(prom_url)}s"
    code, out = invoke(app, ["render", "--prometheus", prom_url, "--since", since, "-o", str(page)])
    assert code == 0, out
    text = page.read_text()
    assert "<script" not in text
    assert "http" not in text.replace("http://www.w3.org/2000/svg", "").replace(prom_url, "")
    assert len(figures(text)) == _panel_count()
    assert undrawn(text) == {}
    assert text.count("<polyline class='series'") >= 30
    assert "req/s" in text  # units from fieldConfig: reqps
    assert "%" in text  # percentunit
    shot = shoot(page, tmp_path)
    assert shot.console == []
    assert (shot.png.width, shot.png.height) == SIZE
    assert len(shot.png.colours()) > 50
    assert shot.png.near((0x09, 0x69, 0xDA), tolerance=10) > 300  # the first series' blue


def test_json_names_each_panel_its_series_and_queries(prom_url: str) -> None:
    code, out = invoke(
        app, ["render", "--prometheus", prom_url, "--since", "5m", "--format", "json"]
    )
    assert code == 0, out
    data = json.loads(out)
    assert_matches_schema("dashboards-render", data)
    [api] = [d for d in data["dashboards"] if d["uid"] == "aqua-api-red"]
    routes = next(p for p in api["panels"] if p["title"] == "Requests per second by route")
    assert routes["queries"] == ['sum by (route) (rate(http_requests_total{job="api"}[1m]))']
    assert {s["name"] for s in routes["series"]} == {
        "/api/v1/ponds",
        "/api/v1/ponds/{pond_id}/readings",
        "/api/v1/forecasts",
    }
    assert all(s["last"] > 0 for s in routes["series"])


def test_a_broken_panel_shows_its_error_and_the_checker_sees_it(
    prom_url: str, tmp_path: Path
) -> None:
    def panel(title: str, expr: str) -> dict[str, object]:
        return {"type": "timeseries", "title": title, "targets": [{"refId": "A", "expr": expr}]}

    board = {
        "uid": "broken",
        "title": "broken",
        "panels": [
            panel("fine", 'sum(rate(http_requests_total{job="$job"}[$__rate_interval]))'),
            panel("bad query", "sum(rate(http_requests_total[1m])"),
            panel("no such metric", "rate(no_such_metric_total[1m])"),
        ],
    }
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(board))
    page = tmp_path / "broken.html"
    argv = ["render", str(source), "--prometheus", prom_url, "--var", "job=api", "-o", str(page)]
    code, out = invoke(app, argv)
    assert code == 0, out
    text = page.read_text()
    assert undrawn(text) == {"bad query": "error", "no such metric": "nodata"}
    bad = text[text.index("<h3>bad query</h3>") :]
    assert "Prometheus rejected the query" in bad[: bad.index("</figure>")]
    shot = shoot(page, tmp_path)
    assert shot.console == []
    assert shot.png.near((0xCF, 0x22, 0x2E), tolerance=12) > 50  # the error in red


@pytest.fixture
def agent_url(prom_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    layout = StateLayout(tmp_path / "stack")
    layout.root.mkdir()
    port = int(prom_url.rsplit(":", 1)[1])
    prometheus = ComponentSpec(
        name="prometheus", kind="prometheus", port=port, url=prom_url, probe=Probe(kind="http")
    )
    plan = StackPlan(lite=True, api_replicas=1, workers=0, ports=Ports(), components=(prometheus,))
    layout.plan_file.write_text(plan.model_dump_json(), encoding="utf-8")
    token = load_or_create_secrets(layout.secrets_file).dashboards_token
    server = ThreadingHTTPServer(("127.0.0.1", 0), agent_handler(Agent(layout)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", token
    finally:
        server.shutdown()
        server.server_close()


def test_the_agent_serves_the_page_behind_the_token(agent_url: tuple[str, str]) -> None:
    url, token = agent_url
    assert token
    for path in ("/dashboards/", "/dashboards/?token=wrong"):
        r = httpx.get(url + path, timeout=30)
        assert r.status_code == 401
        assert "token" in r.text
    r = httpx.get(f"{url}/dashboards/?token={token}&since=5m", timeout=60)
    assert r.status_code == 200
    assert "HttpOnly" in r.headers["set-cookie"]
    assert undrawn(r.text) == {}
    assert len(figures(r.text)) == _panel_count()
    cookie = {"Cookie": f"aqua_dashboards={token}"}
    assert httpx.get(f"{url}/dashboards/", headers=cookie, timeout=60).status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{url}/dashboards", headers=bearer, timeout=60).status_code == 200
    bad = httpx.get(f"{url}/dashboards/?since=forever", headers=bearer, timeout=30)
    assert (bad.status_code, bad.text.startswith("since:")) == (400, True)
    assert httpx.get(f"{url}/dashboards/x", headers=bearer, timeout=30).status_code == 404

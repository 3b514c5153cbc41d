"""`aqua slo serve`: SLO results on /metrics, behind a bearer token, scraped by a real Prometheus.

The exporter runs as its own process against a Prometheus holding the time-slice history
(tests/slo/timeslice_history.py), evaluating at a fixed instant so the exported values can be
compared with the engine's; a second Prometheus scrapes it with the token from a file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import promtool_backfill
import pytest
from cli_runner import invoke
from slo.test_slo_timeslices import AT, SPECS
from slo.timeslice_history import blocks

from sre_cli.commands.slo import app
from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.batch import evaluate
from sre_cli.slo.loader import load_slos
from sre_cli.stack.configs import prometheus_yaml
from sre_cli.stack.spec import Ports, SLOServeTarget, StackPlan, StateLayout

if TYPE_CHECKING:
    from collections.abc import Callable

    from sre_cli.infra.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
TOKEN = "s3rve-t0ken-for-the-test"
SPEC = SPECS["sloth.yaml"]


def _poll(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


source = promtool_backfill.history_fixture(blocks, "serve-tsdb", name="source")


@pytest.fixture(scope="module")
def exporter(source: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, spec file) of a running `aqua slo serve`."""
    work = tmp_path_factory.mktemp("serve")
    spec, token = work / "slo.yaml", work / "token"
    spec.write_text(SPEC)
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    command = [
        sys.executable, "-m", "sre_cli", "slo", "serve", str(spec), "--prometheus", source,
        "--port", "0", "--token-file", str(token), "--at", str(AT), "--interval", "1",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)/metrics", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        url = match.group(1)
        _poll(lambda: httpx.get(f"{url}/ready").status_code == 200, "the first evaluation")
        yield url, spec
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in:\n{text}")


def test_metrics_need_the_token(exporter: tuple[str, Path]) -> None:
    url, _ = exporter
    assert httpx.get(f"{url}/live").status_code == 200
    refused = httpx.get(f"{url}/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="aqua slo serve"'
    wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "WWW-Authenticate" not in httpx.get(f"{url}/live").headers
    assert httpx.get(f"{url}/nothing").status_code == 404


def test_metrics_equal_the_engines_results(exporter: tuple[str, Path], source: str) -> None:
    url, spec = exporter
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    with PrometheusClient(source) as prom:
        results = {r.slo.id: r for r in evaluate(load_slos([spec]), prom, AT).results}
    for slo_id, result in results.items():
        assert result.sli is not None
        assert _metric(text, "aqua_slo_sli", sloth_id=slo_id) == result.sli
        assert _metric(
            text, "aqua_slo_error_budget_remaining_ratio", sloth_id=slo_id
        ) == pytest.approx(result.budget_remaining, rel=1e-12)
        rate = result.burn_rates["1h"]
        assert rate is not None
        assert _metric(text, "aqua_slo_burn_rate", sloth_id=slo_id, window="1h") == pytest.approx(
            rate, rel=1e-12
        )
        assert _metric(text, "aqua_slo_status", sloth_id=slo_id, status=result.status) == 1
    assert _metric(text, "aqua_slo_window_events", sloth_id="shop-slices", kind="total") > 1000
    assert "aqua_slo_evaluation_errors_total 0" in text


def test_prometheus_scrapes_it_with_the_token(
    exporter: tuple[str, Path],
    prometheus_factory: Callable[..., PrometheusServer],
    tmp_path: Path,
) -> None:
    """The stack's own Prometheus config (``aqua stack up --slo-serve PORT``) scrapes it."""
    url, _ = exporter
    token = tmp_path / "token"
    token.write_text(TOKEN)
    layout = StateLayout(tmp_path / "stack")
    layout.create()
    target = SLOServeTarget(port=int(url.rsplit(":", 1)[1]), token_file=token)
    plan = StackPlan(
        lite=True, api_replicas=0, workers=0, ports=Ports(), components=(), slo_serve=target
    )
    scraper = prometheus_factory(prometheus_yaml(plan, layout))
    found: list[float] = []

    def scraped() -> bool:
        with PrometheusClient(str(scraper.url)) as prom:
            samples = prom.query('aqua_slo_sli{job="slo",sloth_id="shop-slices"}', time.time())
        found[:] = [s.value for s in samples]
        return bool(found)

    _poll(scraped, "Prometheus to scrape aqua slo serve")
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert found == [_metric(text, "aqua_slo_sli", sloth_id="shop-slices")]


def test_serve_refuses_to_run_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "slo.yaml"
    spec.write_text(SPEC)
    monkeypatch.delenv("AQUA_SLO_SERVE_TOKEN", raising=False)
    monkeypatch.delenv("AQUA_SLO_SERVE_TOKEN_FILE", raising=False)
    code, out = invoke(app, ["serve", str(spec), "--prometheus", "http://127.0.0.1:9"])
    assert code == 2, out
    assert "bearer token is required" in out

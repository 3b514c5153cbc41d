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
import threading
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
from sre_cli.slo.engine import Report, SLOResult
from sre_cli.slo.loader import load_slos
from sre_cli.slo.serve import Exporter, render, serve
from sre_cli.slo.windows import load_tiers
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


# --- the exporter in this process: its figures, its own counters, the HTTP answers -----------


#: how long an in-process exporter may take to listen or evaluate (a few rounds of a second)
IN_PROCESS = 10.0


def _exporter(spec: Path, url: str) -> Exporter:
    return Exporter(
        load_slos([spec]), lambda: PrometheusClient(url), load_tiers(), token=TOKEN, at=AT
    )


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(SPEC)
    return path


def _own(text: str, name: str) -> float:
    [value] = [line.split()[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


def test_exporter_counts_its_rounds_and_keeps_the_last_good_one(
    source: str, spec_file: Path
) -> None:
    exporter = _exporter(spec_file, source)
    assert exporter.metrics_text().splitlines()[2::3] == [
        "aqua_slo_evaluations_total 0",
        "aqua_slo_evaluation_errors_total 0",
        "aqua_slo_last_evaluation_timestamp_seconds 0.0",
        "aqua_slo_evaluation_duration_seconds 0.0",
    ]
    assert not exporter.ready.is_set()
    wall, began = time.time(), time.monotonic()
    exporter.evaluate_once()
    took, ended = time.monotonic() - began, time.time()
    assert exporter.ready.is_set()
    text = exporter.metrics_text()
    assert (exporter.evaluations, exporter.errors) == (1, 0)
    assert "aqua_slo_evaluations_total 1\n" in text
    assert wall <= _own(text, "aqua_slo_last_evaluation_timestamp_seconds") <= ended
    assert 0 < _own(text, "aqua_slo_evaluation_duration_seconds") <= took
    with PrometheusClient(source) as prom:
        report = evaluate(load_slos([spec_file]), prom, AT, tiers=load_tiers())
    for result in report.results:
        slo_id = result.slo.id
        assert _metric(text, "aqua_slo_objective_ratio", sloth_id=slo_id) == (
            result.slo.objective / 100
        )
        for status in ("ok", "warning", "breached", "no_data"):
            expected = float(status == result.status)
            assert _metric(text, "aqua_slo_status", sloth_id=slo_id, status=status) == expected
        for severity, firing in result.alerts.items():
            value = _metric(text, "aqua_slo_alert_firing", sloth_id=slo_id, severity=severity)
            assert value == float(firing)
        bad = f'sloth_id="{slo_id}",sloth_service="shop",sloth_slo="{result.slo.name}",kind="bad"'
        if result.bad is None:  # a ratio of time slices counts no bad events
            assert f"aqua_slo_window_events{{{bad}}}" not in text
        else:
            assert f"aqua_slo_window_events{{{bad}}} {result.bad!r}\n" in text
    assert {r.status for r in report.results} == {"breached", "warning"}
    # Prometheus gone: the round is counted as failed and the last good figures stay.
    series = text.split("# HELP aqua_slo_evaluations_total")[0]
    exporter.client = lambda: PrometheusClient("http://127.0.0.1:9", timeout=2.0)
    exporter.evaluate_once()
    assert (exporter.evaluations, exporter.errors) == (2, 1)
    assert exporter.last_error
    after = exporter.metrics_text()
    assert after.startswith(series)
    assert "aqua_slo_evaluations_total 2\n" in after
    assert "aqua_slo_evaluation_errors_total 1\n" in after


def test_a_value_without_data_is_left_out(spec_file: Path) -> None:
    [slo] = load_slos([spec_file])[:1]
    empty = SLOResult(slo, AT - 86400, AT, None, None, None, None, {"1h": None}, {})
    lines = render(Report(AT, [empty]))
    samples = [line for line in lines if not line.startswith("#")]
    ids = f'sloth_id="{slo.id}",sloth_service="{slo.service}",sloth_slo="{slo.name}"'
    assert samples == [
        f"aqua_slo_objective_ratio{{{ids}}} {slo.objective / 100!r}",
        f'aqua_slo_alert_firing{{{ids},severity="page"}} 0.0',
        f'aqua_slo_alert_firing{{{ids},severity="ticket"}} 0.0',
        f'aqua_slo_status{{{ids},status="ok"}} 0.0',
        f'aqua_slo_status{{{ids},status="warning"}} 0.0',
        f'aqua_slo_status{{{ids},status="breached"}} 0.0',
        f'aqua_slo_status{{{ids},status="no_data"}} 1.0',
    ]
    assert lines[:2] == [
        "# HELP aqua_slo_sli Good share over the SLO window (0-1).",
        "# TYPE aqua_slo_sli gauge",
    ]


def test_the_token_check(spec_file: Path) -> None:
    with pytest.raises(ValueError, match="bearer token is required"):
        _exporter_with(spec_file, "")
    exporter = _exporter_with(spec_file, TOKEN)
    assert exporter.authorized(f"Bearer {TOKEN}")
    assert exporter.authorized(f"bearer {TOKEN} ")
    assert not exporter.authorized(None)
    assert not exporter.authorized("")
    assert not exporter.authorized(f"Basic {TOKEN}")
    assert not exporter.authorized("Bearer nope")
    assert not exporter.authorized(TOKEN)


def _exporter_with(spec: Path, token: str) -> Exporter:
    return Exporter(
        load_slos([spec]), lambda: PrometheusClient("http://127.0.0.1:9"), [], token=token
    )


def _serving(exporter: Exporter, interval: float) -> tuple[str, threading.Event, threading.Thread]:
    urls: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(exporter, "127.0.0.1", 0, interval),
        kwargs={"started": urls.append, "stop": stop}, daemon=True,
    )  # fmt: skip
    thread.start()
    _poll(lambda: bool(urls), "the exporter to listen", IN_PROCESS)
    return urls[0], stop, thread


def test_serve_answers_and_stops(source: str, spec_file: Path) -> None:
    exporter = _exporter(spec_file, source)
    url, stop, thread = _serving(exporter, 0.2)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        live = httpx.get(f"{url}/live?probe=1")
        assert (live.status_code, live.text) == (200, "ok\n")
        _poll(exporter.ready.is_set, "the first evaluation", IN_PROCESS)
        ready = httpx.get(f"{url}/ready")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        _poll(lambda: exporter.evaluations >= 2, "a second round", IN_PROCESS)  # on schedule
        good = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        assert good.headers["Content-Type"] == "text/plain; version=0.0.4"
        assert good.text.startswith("# HELP aqua_slo_sli ")
        refused = httpx.get(f"{url}/metrics")
        assert (refused.status_code, refused.text) == (401, "bearer token required\n")
        missing = httpx.get(f"{url}/metrics/x")
        assert (missing.status_code, missing.text) == (404, "not found: /metrics, /live, /ready\n")
    finally:
        stop.set()
        thread.join(timeout=IN_PROCESS)
    assert not thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/live")


def test_serve_is_not_ready_until_a_round_succeeds(spec_file: Path) -> None:
    exporter = _exporter_with(spec_file, TOKEN)  # its Prometheus refuses connections
    url, stop, thread = _serving(exporter, 0.1)
    try:
        _poll(lambda: exporter.errors >= 2, "two failed rounds", IN_PROCESS)
        ready = httpx.get(f"{url}/ready")
        assert (ready.status_code, ready.text) == (503, "no evaluation yet\n")
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        assert text.startswith("# HELP aqua_slo_evaluations_total")
    finally:
        stop.set()
        thread.join(timeout=IN_PROCESS)
    assert not thread.is_alive()

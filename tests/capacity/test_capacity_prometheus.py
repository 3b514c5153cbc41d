"""`aqua capacity forecast` against a real Prometheus holding backfilled history.

The history (tests/capacity/capacity_history.py) is a known curve: 100 + 5/day + a daily sine
of amplitude 10 peaking at 12:00 UTC, with noise. With the limit at 230 the curve first reaches
it on the tenth day after the history ends, on the rising side of a daily peak (the peak of the
day before stays 2.5 under the limit), so the forecast must name that day and time: the
tolerance is 15 minutes (the curve rises about 0.45 there, the noise's σ is 0.5; the forecast
is off by 2 min 10 s).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import promtool_backfill
import pytest
from capacity.capacity_history import AT, DAY, T0, blocks, first_reaching, free_truth, truth
from cli_runner import invoke
from json_schema import assert_matches_schema

from sre_cli.cli import build_app

if TYPE_CHECKING:
    from collections.abc import Callable

    from sre_cli.infra.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

LIMIT = 230.0
TOLERANCE = 900.0
KEYS = {
    "name",
    "labels",
    "current",
    "trend_per_day",
    "peak",
    "limit",
    "headroom",
    "headroom_pct",
    "exhausted_at",
    "status",
    "r2",
    "samples",
    "band",
    "exhausted",
    "model",
    "backtest_error",
    "backtest",
    "band_scale",
    "direction",
    "unit",
    "act",
    "act_at",
}
ROOT = Path(__file__).parents[2]
OVERLAYS = ROOT / "manifests" / "overlays"


prom_url = promtool_backfill.history_fixture(blocks, "capacity-tsdb")


@pytest.fixture(scope="module")
def expected() -> float:
    crossing = first_reaching(LIMIT, AT, AT + 30 * DAY)
    assert crossing is not None
    assert 9 * DAY < crossing - AT < 11 * DAY  # the fixture says what the docstring says
    return crossing


def _cli(*args: str) -> tuple[int, str]:
    """``aqua capacity forecast ARGS`` as the root CLI runs it: AquaError becomes its exit code."""
    argv = ["capacity", "forecast", *args]
    return invoke(build_app(argv), argv, width=250)


def _json(prom_url: str, *args: str) -> tuple[int, dict[str, Any]]:
    code, out = _cli("--prometheus", prom_url, "--at", str(AT), "--format", "json", *args)
    # The document, then perhaps the error message (which may hold braces of its own).
    data, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    assert_matches_schema("capacity-forecast", data)
    return code, data


def _time(text: object) -> float:
    assert isinstance(text, str)
    return datetime.fromisoformat(text).timestamp()


def test_growing_series_exhausts_on_the_expected_day_and_gates(
    prom_url: str, expected: float
) -> None:
    code, data = _json(prom_url, "--query", "capacity_test_load", "--limit", str(LIMIT))
    assert code == 1  # reached in ~10 days, inside the default --warn 14d
    assert data["at"] == datetime.fromtimestamp(AT, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    forecasts = data["forecasts"]
    assert isinstance(forecasts, list)
    assert [f["labels"]["instance"] for f in forecasts] == ["a", "b"]
    a, b = forecasts
    assert set(a) == KEYS
    assert set(b) == KEYS
    assert a["name"] == "capacity_test_load"
    assert a["status"] == "critical"
    assert abs(_time(a["exhausted_at"]) - expected) < TOLERANCE
    assert a["trend_per_day"] == pytest.approx(5.0, abs=0.1)
    assert a["current"] == pytest.approx(170 - 10, abs=2)  # 00:00 UTC: the sine's low
    assert a["limit"] == 230
    assert a["headroom"] == pytest.approx(230 - a["current"])
    assert a["headroom_pct"] == pytest.approx((230 - a["current"]) / 230 * 100)
    # Highest forecast in 30 days: the trend at 29.5 days plus the daily amplitude.
    assert a["peak"] == pytest.approx(170 + 5 * 29.5 + 10, abs=2)
    assert a["r2"] > 0.98
    assert a["samples"] == 14 * 24 + 1  # hourly over 14 days, both ends included
    # The flat series: never reaches the limit.
    assert b["status"] == "ok"
    assert b["exhausted_at"] is None
    assert b["current"] == 50
    assert b["trend_per_day"] == pytest.approx(0, abs=1e-9)
    # No noise, no uncertainty: the band is the line itself.
    assert b["band"] == {"lower": pytest.approx(50), "upper": pytest.approx(50)}
    assert b["exhausted"] == {"earliest": None, "likely": None, "latest": None}


def test_the_band_holds_the_known_crossing_and_the_peak(prom_url: str, expected: float) -> None:
    code, data = _json(prom_url, "--query", 'capacity_test_load{instance="a"}', "--limit", "230")
    assert code == 1
    [a] = data["forecasts"]
    assert a["model"] == "seasonal"  # the backtest sees the daily profile
    assert set(a["backtest"]) == {"linear", "seasonal", "holt-winters"}
    assert a["backtest_error"] == min(a["backtest"].values())
    assert a["backtest_error"] < 1  # percent: the held-out days are followed closely
    e = a["exhausted"]
    assert e["likely"] == a["exhausted_at"]
    earliest, likely, latest = (_time(e[k]) for k in ("earliest", "likely", "latest"))
    assert earliest <= expected <= latest
    assert earliest < likely < latest
    assert latest - earliest < DAY  # a band that still says which day
    # The true value at the forecast's peak lies inside the band there.
    peak_at = AT + 29.5 * DAY
    assert a["band"]["lower"] <= truth(peak_at) <= a["band"]["upper"]
    assert a["band"]["lower"] < a["peak"] < a["band"]["upper"]


def test_a_floor_is_reached_from_above(prom_url: str) -> None:
    crossing = first_reaching(-30, AT, AT + 30 * DAY, lambda t: -free_truth(t))
    assert crossing is not None
    code, data = _json(prom_url, "--query", "capacity_test_free", "--limit", "30", "--floor")
    assert code == 1
    [f] = data["forecasts"]
    assert f["direction"] == "floor"
    assert f["status"] == "critical"
    assert f["trend_per_day"] == pytest.approx(-2.5, abs=0.1)
    assert f["headroom"] == pytest.approx(f["current"] - 30)
    # The peak of a floor is its lowest forecast: the horizon's last daily trough.
    assert f["peak"] == pytest.approx(free_truth(AT + 30 * DAY), abs=1.5)
    e = f["exhausted"]
    assert _time(e["earliest"]) <= crossing <= _time(e["latest"])
    assert abs(_time(e["likely"]) - crossing) < TOLERANCE
    # As a ceiling at 100 the falling series never reaches its limit.
    code, data = _json(prom_url, "--query", "capacity_test_free", "--limit", "100")
    assert code == 0
    assert data["forecasts"][0]["exhausted_at"] is None


def test_what_if_10x_multiplies_the_traffic(prom_url: str) -> None:
    code, data = _json(
        prom_url,
        "--query",
        'capacity_test_load{instance="b"}',
        "--limit",
        "230",
        "--what-if",
        "10x",
    )
    assert code == 1  # 50 → 500: over the limit now
    assert data["what_if"] == 10
    [b] = data["forecasts"]
    assert b["current"] == 500
    assert b["exhausted_at"] == data["at"]


def _knee(tmp_path: Path, rps: float) -> Path:
    knee = tmp_path / "knee.json"
    knee.write_text(json.dumps({"per_replica_rps": rps, "replicas": 2, "total_rps": 2 * rps}))
    return knee


def _replica_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "load.yaml"
    spec.write_text(
        "forecasts:\n"
        "  - name: load\n"
        '    query: capacity_test_load{instance="a"}\n'
        "    limit: 1000\n"
        "    deployment: api-service\n"
    )
    return spec


def test_replicas_needed_at_the_horizon_against_the_hpa(prom_url: str, tmp_path: Path) -> None:
    spec, knee = str(_replica_spec(tmp_path)), str(_knee(tmp_path, 40))

    def against(overlay: str, *extra: str) -> list[str]:
        """The spec at 40 requests/s a replica, with the HPA of ``overlay``."""
        return [spec, "--knee", knee, *extra, "--manifests", str(OVERLAYS / overlay)]

    # Peak ~327 (upper edge a little higher): at 40/s a replica, 9 replicas + 1 spare.
    code, data = _json(prom_url, *against("prod"))
    assert code == 0
    [plan] = data["replicas"]
    assert plan["deployment"] == "api-service"
    assert plan["per_replica_rps"] == 40
    assert plan["peak_upper"] >= plan["peak"]
    assert plan["needed"] == math.ceil(plan["peak_upper"] / 40) + 1
    assert plan["needed"] == 10
    assert plan["max_replicas"] == 20
    assert plan["enough"] is True
    assert plan["hpa"].endswith("autoscaling.yaml")
    # The dev overlay caps the HPA at 3: not enough, exit 1 naming the deployment.
    code, out = _cli("--prometheus", prom_url, "--at", str(AT), *against("dev"))
    assert code == 1
    assert "api-service needs 10 replicas at the horizon, its HPA allows 3" in out
    assert "raise maxReplicas" in out
    # Ten times the traffic needs ten times the replicas (to the spare).
    code, data = _json(prom_url, *against("prod", "--what-if", "10x"))
    assert code == 1
    [plan10] = data["replicas"]
    assert plan10["needed"] == math.ceil(plan10["peak_upper"] / 40) + 1
    assert plan10["needed"] > 20
    assert plan10["enough"] is False


def test_chart_and_html(prom_url: str) -> None:
    args = ["--prometheus", prom_url, "--at", str(AT), "--query", "capacity_test_load"]
    code, out = _cli(*args, "--limit", "230", "--chart")
    assert code == 1
    assert "● history  ━ forecast  ░ 90% band  ┄ limit  │ now" in out
    chart = out[out.index("capacity_test_load instance=a") :]
    assert "━" in chart
    assert "░" in chart
    assert "┄" in chart
    code, page = _cli(*args, "--limit", "230", "--format", "html")
    assert code == 1
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 2
    for part in ("class='band'", "class='history'", "class='forecast'", "class='limit'"):
        assert part in page


def test_warn_decides_between_warning_and_critical(prom_url: str, expected: float) -> None:
    code, data = _json(
        prom_url, "--query", 'capacity_test_load{instance="a"}', "--limit", "230", "--warn", "7d"
    )
    assert code == 0
    [a] = data["forecasts"]
    assert a["status"] == "warning"
    assert abs(_time(a["exhausted_at"]) - expected) < TOLERANCE
    code, data = _json(
        prom_url,
        "--query",
        'capacity_test_load{instance="a"}',
        "--limit",
        "230",
        "--horizon",
        "7d",
    )
    assert code == 0
    [a] = data["forecasts"]
    assert (a["status"], a["exhausted_at"]) == ("ok", None)


def test_table_output_and_spec_files(prom_url: str, tmp_path: Path, expected: float) -> None:
    spec = tmp_path / "capacity.yaml"
    spec.write_text(
        "forecasts:\n"
        "  - name: load\n"
        "    query: capacity_test_load\n"
        "    limit: 230\n"
        "  - name: sparse\n"
        "    query: capacity_test_sparse\n"
        "    limit: 10\n"
        "  - name: nothing\n"
        "    query: capacity_no_such_metric\n"
        "    limit: 1\n"
        "    history: 2d\n"
    )
    code, out = _cli("--prometheus", prom_url, "--at", str(AT), str(spec))
    assert code == 1
    rows = {
        tuple(cell.strip() for cell in line.split("│")[1:3]): line
        for line in out.splitlines()
        if line.startswith("│ ")
    }
    assert set(rows) == {
        ("load", "instance=a"),
        ("load", "instance=b"),
        ("sparse", "instance=c"),
        ("nothing", "—"),
    }
    assert "critical" in rows["load", "instance=a"]
    day = datetime.fromtimestamp(expected, UTC).strftime("%Y-%m-%d")
    assert day in rows["load", "instance=a"]
    assert "not within horizon" in rows["load", "instance=b"]
    assert "no_data" in rows["sparse", "instance=c"]
    assert "no_data" in rows["nothing", "—"]
    assert "1 forecast(s) reach their limit within 14d: load" in out


def test_query_matching_nothing_is_no_data(prom_url: str) -> None:
    code, data = _json(prom_url, "--query", "capacity_no_such_metric", "--limit", "1")
    assert code == 0
    [f] = data["forecasts"]
    assert set(f) == KEYS
    assert f["status"] == "no_data"
    assert f["labels"] == {}
    assert (f["current"], f["exhausted_at"], f["r2"], f["samples"]) == (None, None, None, 0)


def test_a_query_prometheus_rejects_exits_2(prom_url: str) -> None:
    code, out = _cli("--prometheus", prom_url, "--at", str(AT), "--query", "sum(", "--limit", "1")
    assert code == 2
    assert "rejected the query" in out


def test_unreachable_prometheus_exits_2_without_traceback() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sre_cli",
            "capacity",
            "forecast",
            "--prometheus",
            "http://127.0.0.1:9",
            "--query",
            "up",
            "--limit",
            "1",
            "--at",
            str(T0),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Prometheus at http://127.0.0.1:9 did not answer" in proc.stderr


def test_shipped_examples_run_against_prometheus(prom_url: str) -> None:
    examples = ROOT / "sre_cli" / "capacity" / "examples"
    code, data = _json(prom_url, str(examples))
    assert code == 0  # Prometheus accepts every query; this history holds none of the metrics
    forecasts = data["forecasts"]
    assert isinstance(forecasts, list)
    assert [f["name"] for f in forecasts] == [
        "api-request-rate",
        "cpu-utilisation",
        "memory-utilisation",
        "prometheus-disk-free",
        "postgres-connections",
    ]
    assert {f["status"] for f in forecasts} == {"no_data"}
    # Without a spec or a query, the same view.
    code, default = _json(prom_url)
    assert code == 0
    assert default["forecasts"] == forecasts


def test_default_view_reads_what_a_live_prometheus_exports(
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    """The default view's disk forecast comes from metrics Prometheus really exports: a server
    scraping itself every second has the floor's series within seconds."""
    import time

    import httpx

    config = (
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: prometheus\n"
        "    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    server = prometheus_factory(lambda port: config.format(port=port))
    blocks_bytes = 'prometheus_tsdb_storage_blocks_bytes{job="prometheus"}'
    deadline = time.monotonic() + 60
    samples = 0
    while samples < 15 and time.monotonic() < deadline:
        body = httpx.get(
            f"{server.url}/api/v1/query",
            params={"query": f"count_over_time({blocks_bytes}[1m])"},
        ).json()
        result = body["data"]["result"]
        samples = int(float(result[0]["value"][1])) if result else 0
        time.sleep(0.5)
    assert samples >= 15, "Prometheus did not scrape itself"
    code, out = _cli(
        "--prometheus", str(server.url), "--history", "1m", "--step", "1s", "--format", "json"
    )
    assert code == 0, out
    data, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    by_name = {f["name"]: f for f in data["forecasts"]}
    disk = by_name["prometheus-disk-free"]
    assert disk["status"] == "ok"
    assert disk["direction"] == "floor"
    assert 99 < disk["current"] <= 100  # a fresh TSDB on a 10 GiB volume
    assert disk["samples"] >= 10
    # The services' process metrics are not scraped here (nor exported by the services yet).
    assert by_name["cpu-utilisation"]["status"] == "no_data"

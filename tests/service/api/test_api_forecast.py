"""On-demand forecasts: API → ML service round trip against a real ML service process, the
circuit breaker opening and closing as the service stops and returns, and 409s for ponds whose
readings cannot make a forecast."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api.api_harness import Api, metric, running_api, settings_for

from service.common.schedule import issue_time
from service.ml.devserver import MLServer, free_port
from service.ml.schemas import NIGHT_CLOCK

AERATE = {"name": "aerate", "aeration_kw_ha": [6.0] * 10}


def _zone_far_from_evening() -> str:
    """A zone where it is about 08:00 now: the forecast night (from 20:00 local) cannot change
    while a test runs."""
    offset = (8 - datetime.now(UTC).hour + 12) % 24 - 12  # hours east of UTC, -12..11
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-3 is UTC+3


def _diurnal(hours_before_issue: float) -> dict[str, float]:
    """Dissolved oxygen swinging 4-10 mg/L with the sun (low at dawn); water at 28 °C."""
    local_hour = (20 - hours_before_issue) % 24
    do = 7.0 + 3.0 * math.sin(2 * math.pi * (local_hour - 10) / 24)
    return {"dissolved_oxygen": round(do, 3), "temperature": 28.0}


def _history(issued: datetime, hours: float) -> list[dict[str, Any]]:
    """Readings every 30 min over the ``hours`` before the issue time."""
    out = []
    for half_hours in range(int(hours * 2)):
        h = half_hours / 2
        ts = (issued - timedelta(hours=h)).isoformat()
        out += [{"sensor": s, "ts": ts, "value": v} for s, v in _diurnal(h).items()]
    return out


def _pond(api: Api, name: str, tz: str, history_hours: float) -> tuple[int, datetime]:
    r = api.client.post(
        "/api/v1/farms", json={"name": f"farm-{name}", "timezone": tz}, headers=api.auth()
    )
    assert r.status_code == 201, r.text
    pond = api.pond(int(r.json()["id"]), name)
    issued = issue_time(datetime.now(UTC), tz)
    if history_hours:
        api.ingest(pond, _history(issued, history_hours))
    return pond, issued


def _forecast(api: Api, pond: int, body: dict[str, Any] | None = None, role: str = "viewer") -> Any:
    return api.client.post(
        f"/api/v1/ponds/{pond}/forecast",
        json=body,
        headers=api.auth(role),
    )


@pytest.fixture(scope="module")
def ml_server() -> Iterator[MLServer]:
    with MLServer() as srv:
        yield srv


@pytest.mark.integration
def test_round_trip_with_what_if(ml_server: MLServer, database_url: str) -> None:
    with running_api(settings_for(database_url, ml_url=ml_server.url)) as api:
        tz = _zone_far_from_evening()
        pond, issued = _pond(api, "P1", tz, history_hours=50)

        r = _forecast(api, pond, {"what_if": [AERATE]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["pond_id"] == pond
        assert datetime.fromisoformat(body["issued_at"]) == issued
        assert body["hours"] == list(NIGHT_CLOCK)
        assert body["model_version"] == httpx.get(f"{ml_server.url}/v1/model").json()["version"]
        got = body["pond"]
        assert got["pond_id"] == str(pond)
        assert got["threshold_mg_l"] == 3.0  # tilapia's default
        plan = got["forecast"]
        assert plan["aeration_kw_ha"] == [0.0] * 10  # no plan given: no aeration
        for path in ("p10", "p50", "p90"):
            assert len(plan[path]) == 10
        assert all(
            a <= b <= c for a, b, c in zip(plan["p10"], plan["p50"], plan["p90"], strict=True)
        )
        assert 0.0 < plan["night_min_mg_l"] < 30.0
        assert 0.0 <= plan["prob_below_threshold"] <= 1.0
        (aerated,) = got["what_if"]
        assert aerated["name"] == "aerate"
        assert aerated["aeration_kw_ha"] == [6.0] * 10
        # Aerating all night keeps more oxygen in the pond than not aerating.
        assert aerated["night_min_mg_l"] > plan["night_min_mg_l"] + 0.2
        assert aerated["p50"][-1] > plan["p50"][-1]
        assert aerated["prob_below_threshold"] <= plan["prob_below_threshold"]

        # The plan in the body is the main scenario: the same numbers as that what-if.
        planned = _forecast(api, pond, {"aeration_kw_ha": [6.0] * 10}, role="operator").json()
        assert planned["pond"]["forecast"]["p50"] == pytest.approx(aerated["p50"], abs=1e-6)
        # No body at all is tonight without aeration.
        bare = _forecast(api, pond)
        assert bare.status_code == 200, bare.text
        assert bare.json()["pond"]["forecast"]["p50"] == pytest.approx(plan["p50"], abs=1e-6)

        invalid: list[dict[str, Any]] = [
            {"aeration_kw_ha": [1.0] * 9},
            {"aeration_kw_ha": [50.0] * 10},
            {"what_if": [{"name": "x", "aeration_kw_ha": [-1.0] * 10}]},
            {"what_if": [AERATE] * 9},
            {"plan": []},
        ]
        for bad in invalid:
            r = _forecast(api, pond, bad)
            assert r.status_code == 422, (bad, r.text)
        assert _forecast(api, 987654).status_code == 404

        ready = api.client.get("/ready").json()
        assert ready["status"] == "ready"
        assert ready["checks"]["ml"]["status"] == "up"
        assert ready["checks"]["ml"]["circuit"] == "closed"
        assert ready["checks"]["ml"]["latency_ms"] > 0
        text = api.client.get("/metrics").text
        assert metric(text, 'forecast_requests_total{outcome="ok"}') == 3
        assert metric(text, 'circuit_breaker_state{dependency="ml",state="closed"}') == 1
        assert metric(text, 'dependency_up{dependency="ml"}') == 1
        assert metric(text, "ml_call_duration_seconds_count") == 3


@pytest.mark.integration
def test_too_little_history_is_409_with_the_reason(ml_server: MLServer, database_url: str) -> None:
    with running_api(settings_for(database_url, ml_url=ml_server.url)) as api:
        tz = _zone_far_from_evening()
        empty, _ = _pond(api, "empty", tz, history_hours=0)
        r = _forecast(api, empty)
        assert r.status_code == 409, r.text
        assert "no temperature readings in the 48 h before the issue time" in r.json()["detail"]

        # Six hours of readings: the 42 hours before them are a gap the model cannot bridge.
        short, _ = _pond(api, "short", tz, history_hours=6)
        r = _forecast(api, short)
        assert r.status_code == 409, r.text
        assert "gap longer than 2 h" in r.json()["detail"]
        text = api.client.get("/metrics").text
        assert metric(text, 'forecast_requests_total{outcome="not_enough_data"}') == 2
        assert metric(text, "ml_call_duration_seconds_count") == 0  # no ML call was made


def test_without_an_ml_service_forecasts_are_409_and_ready_says_disabled(sqlite_api: Api) -> None:
    pond = sqlite_api.pond(sqlite_api.farm())
    r = _forecast(sqlite_api, pond)
    assert r.status_code == 409
    assert r.json() == {"detail": "no ML service is configured (AQUA_ML_URL)"}
    ready = sqlite_api.client.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["ml"] == {
        "status": "disabled",
        "required": False,
        "latency_ms": None,
        "error": None,
        "circuit": None,
    }


@pytest.mark.integration
def test_ml_stopped_503_fast_breaker_opens_then_closes_when_it_returns(sqlite_url: str) -> None:
    port = free_port()
    srv = MLServer(port=port).start()
    settings = settings_for(
        sqlite_url,
        ml_url=srv.url,
        ml_retries=1,
        ml_breaker_failures=2,
        ml_breaker_reset_seconds=1.0,
    )
    try:
        with running_api(settings) as api:
            pond, _ = _pond(api, "P1", _zone_far_from_evening(), history_hours=50)
            assert _forecast(api, pond).status_code == 200

            srv.stop()
            r = _forecast(api, pond)  # connection refused twice, with a jittered pause between
            assert r.status_code == 503, r.text
            assert r.json() == {"detail": "ML service unavailable, retry later"}
            assert r.headers["retry-after"] == "1"  # when the breaker lets a trial through

            # Two failed attempts opened the breaker: calls are refused without trying.
            text = api.client.get("/metrics").text
            assert metric(text, 'circuit_breaker_state{dependency="ml",state="open"}') == 1
            assert metric(text, 'dependency_up{dependency="ml"}') == 0
            ready = api.client.get("/ready")
            assert ready.status_code == 200  # a soft dependency: reads still work
            assert ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["ml"]["status"] == "down"
            assert ready.json()["checks"]["ml"]["circuit"] in ("open", "half_open")

            for _ in range(10):
                r = _forecast(api, pond)
                assert r.status_code == 503, r.text
                assert r.headers["retry-after"] == "1"
                # Mostly refused at once; after 1 s the breaker lets one trial through, which
                # fails and opens it again.
            open_calls = metric(
                api.client.get("/metrics").text, 'forecast_requests_total{outcome="circuit_open"}'
            )
            assert open_calls >= 8

            srv = MLServer(port=port).start()  # same address
            # Refused while the breaker is open; once its 1 s is over, the trial call succeeds
            # and closes it.
            deadline = time.monotonic() + 30
            while (r := _forecast(api, pond)).status_code != 200:
                assert r.status_code == 503, r.text
                assert time.monotonic() < deadline, "the breaker never let a trial through"
                time.sleep(0.1)
            text = api.client.get("/metrics").text
            assert metric(text, 'circuit_breaker_state{dependency="ml",state="closed"}') == 1
            assert metric(text, 'dependency_up{dependency="ml"}') == 1
            assert _forecast(api, pond).status_code == 200
            ready = api.client.get("/ready").json()
            assert (ready["status"], ready["checks"]["ml"]["circuit"]) == ("ready", "closed")
    finally:
        srv.stop()


@pytest.mark.integration
def test_an_ml_service_that_never_answers_costs_the_deadline_not_a_hang(sqlite_url: str) -> None:
    # A socket that accepts connections (the kernel's backlog) but never reads or answers.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        settings = settings_for(
            sqlite_url,
            ml_url=f"http://127.0.0.1:{hung.getsockname()[1]}",
            ml_timeout_seconds=0.3,
            ml_deadline_seconds=0.8,
        )
        with running_api(settings) as api:
            pond, _ = _pond(api, "P1", _zone_far_from_evening(), history_hours=50)
            t0 = time.perf_counter()
            r = _forecast(api, pond)
            took = time.perf_counter() - t0
            assert r.status_code == 503, r.text
            assert int(r.headers["retry-after"]) >= 1
            # It answered (no hang), after retrying up to the deadline rather than at once. How
            # close to the deadline it answers is timing, not asserted on a shared machine.
            assert took >= 0.6, took
            text = api.client.get("/metrics").text
            assert metric(text, 'forecast_requests_total{outcome="unavailable"}') == 1
            ready = api.client.get("/ready").json()
            assert ready["checks"]["ml"]["status"] == "down"
            assert ready["status"] == "degraded"

"""Operability: probes, metrics, request ids and traces, JSON logs, errors, fault injection."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest
from api.api_harness import Api, running_api, settings_for

from service.common.logs import JsonFormatter

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_probes(api: Api) -> None:
    c = api.client
    assert c.get("/live").json() == {"status": "alive"}
    # The database probe has 1 s to answer; on a starved machine one try may miss it, and the
    # 503 is then right: poll until the probe reports ready.
    deadline = time.monotonic() + 30
    ready = c.get("/ready")
    while ready.status_code != 200 and time.monotonic() < deadline:
        assert ready.json()["checks"]["database"]["status"] != "up", ready.json()
        time.sleep(0.2)
        ready = c.get("/ready")
    assert ready.status_code == 200, ready.json()
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["redis"]["status"] == "disabled"
    health = c.get("/health").json()
    assert health["phase"] == "serving"
    assert health["service"] == "aqua-api"
    assert health["uptime_seconds"] >= 0


def test_draining_flips_readiness_first(sqlite_api: Api) -> None:
    runtime = sqlite_api.app.state.runtime
    runtime.lifecycle.begin_drain("test")
    r = sqlite_api.client.get("/ready")
    assert r.status_code == 503
    assert r.json()["status"] == "draining"
    # Still serving, but asking clients not to reuse the connection.
    farms = sqlite_api.client.get("/api/v1/farms", headers=sqlite_api.auth())
    assert farms.status_code == 200
    assert farms.headers["connection"] == "close"
    assert sqlite_api.client.get("/live").status_code == 200


def test_metrics_use_route_templates(sqlite_api: Api) -> None:
    c, h = sqlite_api.client, sqlite_api.auth()
    pond = sqlite_api.pond(sqlite_api.farm())
    for _ in range(3):
        c.get(f"/api/v1/ponds/{pond}", headers=h)
    c.get("/api/v1/ponds/999999", headers=h)
    c.get("/no/such/path/12345")
    text = c.get("/metrics").text
    assert (
        'http_requests_total{method="GET",route="/api/v1/ponds/{pond_id}",status="200"} 3.0' in text
    )
    assert (
        'http_requests_total{method="GET",route="/api/v1/ponds/{pond_id}",status="404"} 1.0' in text
    )
    assert 'route="<unmatched>",status="404"' in text
    assert "/no/such/path" not in text
    assert f"/ponds/{pond}" not in text
    bucket = (
        'http_request_duration_seconds_bucket{le="0.1",method="GET",'
        'route="/api/v1/ponds/{pond_id}"}'
    )
    assert f"{bucket} 4.0" in text
    for name in (
        "http_requests_in_flight",
        'dependency_up{dependency="database"} 1.0',
        "cache_hits_total",
        "cache_misses_total",
        'db_pool_connections{state="idle"}',
        "db_pool_size",
        "fault_injection_changes_total",
    ):
        assert name in text, name


def test_request_id_and_traceparent_propagate(sqlite_api: Api) -> None:
    incoming = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    r = sqlite_api.client.get("/live", headers={"X-Request-ID": "abc-123", "traceparent": incoming})
    assert r.headers["x-request-id"] == "abc-123"
    version, trace, span, flags = r.headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", TRACE_ID, "01")
    assert span != "00f067aa0ba902b7"
    fresh = sqlite_api.client.get(
        "/live", headers={"X-Request-ID": "bad id\nwith newline", "traceparent": "garbage"}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    assert fresh.headers["traceparent"].split("-")[1] != TRACE_ID


def test_json_access_log_fields(sqlite_api: Api) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("aqua-api"))
    logger = logging.getLogger("aqua.api.access")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        sqlite_api.client.get(
            "/api/v1/farms",
            headers={
                **sqlite_api.auth("viewer"),
                "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
            },
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert {
        "timestamp",
        "level",
        "service",
        "trace_id",
        "user_id",
        "endpoint",
        "status",
        "duration_ms",
    } <= set(line)
    assert line["trace_id"] == TRACE_ID
    assert line["endpoint"] == "/api/v1/farms"
    assert line["status"] == 200
    assert line["service"] == "aqua-api"
    me = sqlite_api.client.get("/api/v1/users/me", headers=sqlite_api.auth("viewer")).json()
    assert line["user_id"] == str(me["id"])
    assert line["timestamp"].endswith("Z")


def test_unhandled_error_is_a_bare_500(sqlite_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals at /srv/aqua/db.py line 42")

    sqlite_api.app.add_api_route("/boom", boom)
    with caplog.at_level(logging.ERROR, logger="aqua.api.errors"):
        r = sqlite_api.client.get("/boom")
    assert r.status_code == 500
    assert r.json()["detail"] == "internal server error"
    assert "secret internals" not in r.text
    assert "Traceback" not in r.text
    assert any("secret internals" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


def test_faults_are_off_by_default(sqlite_api: Api) -> None:
    c = sqlite_api.client
    assert c.get("/api/v1/admin/faults", headers=sqlite_api.auth()).json() == {
        "enabled": False,
        "rules": [],
    }
    r = c.put(
        "/api/v1/admin/faults",
        json={"route": "/live", "error_rate": 1.0},
        headers=sqlite_api.auth(),
    )
    assert r.status_code == 409
    assert c.get("/live").status_code == 200


def test_fault_injection_latency_errors_and_clear(sqlite_url: str) -> None:
    with running_api(settings_for(sqlite_url, faults_enabled=True)) as api:
        c, admin = api.client, api.auth()
        pond = api.pond(api.farm())
        route = "/api/v1/ponds/{pond_id}"
        assert (
            c.put("/api/v1/admin/faults", json={"route": "/api/v1/nope"}, headers=admin).status_code
            == 404
        )
        assert (
            c.put(
                "/api/v1/admin/faults",
                json={"route": route, "error_rate": 1.0},
                headers=api.auth("operator"),
            ).status_code
            == 403
        )
        r = c.put(
            "/api/v1/admin/faults",
            json={"route": route, "error_rate": 1.0, "error_status": 503, "latency_ms": 50},
            headers=admin,
        )
        assert r.status_code == 200
        assert r.json()["rules"][0]["route"] == route
        hit = c.get(f"/api/v1/ponds/{pond}", headers=api.auth("viewer"))
        assert hit.status_code == 503
        assert hit.json() == {"detail": "injected fault"}
        assert hit.elapsed.total_seconds() >= 0.05
        # Other routes are untouched; so are the fault endpoints themselves.
        assert c.get("/api/v1/farms", headers=api.auth("viewer")).status_code == 200
        metrics = c.get("/metrics").text
        assert f'fault_injection_rule{{kind="error_rate",route="{route}"}} 1.0' in metrics
        assert 'fault_injection_changes_total{action="set"} 1.0' in metrics
        assert f'fault_injection_injected_total{{kind="error",route="{route}"}} 1.0' in metrics

        cleared = c.delete("/api/v1/admin/faults", headers=admin)
        assert cleared.json()["rules"] == []
        assert c.get(f"/api/v1/ponds/{pond}", headers=api.auth("viewer")).status_code == 200
        metrics = c.get("/metrics").text
        assert "fault_injection_rule{" not in metrics
        assert 'fault_injection_changes_total{action="clear"} 1.0' in metrics


def test_a_leak_rule_keeps_memory_per_request_until_the_process_ends(sqlite_url: str) -> None:
    with running_api(settings_for(sqlite_url, faults_enabled=True)) as api:
        c, admin = api.client, api.auth()
        rule = {"route": "/live", "leak_kb": 256}
        assert c.put("/api/v1/admin/faults", json=rule, headers=admin).status_code == 200
        for _ in range(8):
            assert c.get("/live").status_code == 200
        leaked = api.app.state.runtime.faults.leaked
        assert sum(map(len, leaked)) == 8 * 256 * 1024
        metrics = c.get("/metrics").text
        assert 'fault_injection_injected_total{kind="leak",route="/live"} 8.0' in metrics
        assert 'fault_injection_rule{kind="leak_kb",route="/live"} 256.0' in metrics
        # clearing stops the leak; what leaked stays (a restart gives it back)
        c.delete("/api/v1/admin/faults", headers=admin)
        assert c.get("/live").status_code == 200
        assert sum(map(len, leaked)) == 8 * 256 * 1024

"""``aqua trace slowest`` and ``aqua trace show`` against a real Jaeger fed over OTLP."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from cli_runner import invoke
from json_schema import assert_matches_schema
from otlp_spans import SpanSpec, send, wait_for_trace

from sre_cli.commands.trace import app
from sre_cli.infra.jaeger import JaegerServer
from sre_cli.infra.process import free_port

pytestmark = pytest.mark.integration


def _request(service: str, route: str, query_ms: float) -> list[SpanSpec]:
    """A request to ``route``: authentication, a query of ``query_ms``, a call to the ML service."""
    total = 20 + query_ms + 30
    return [
        SpanSpec(service, f"GET {route}", 0, total, key="req", attributes={"http.route": route}),
        SpanSpec(service, "authenticate", 1, 4, parent="req"),
        SpanSpec(service, "SELECT aqua", 10, query_ms, key="q", parent="req"),
        SpanSpec(f"{service}-ml", "POST /v1/forecast", 15 + query_ms, 25, key="ml", parent="req"),
        SpanSpec(f"{service}-ml", "inference", 17 + query_ms, 20, parent="ml"),
    ]


@pytest.fixture
def service() -> str:
    """A service name of this test only: the session's Jaeger is shared."""
    return f"api-{secrets.token_hex(3)}"


def _run(jaeger: JaegerServer, *args: str) -> tuple[int, str]:
    return invoke(app, [*args, "--jaeger", jaeger.url])


def test_slowest_finds_the_slow_query_as_the_top_span(
    jaeger_server: JaegerServer, service: str
) -> None:
    fast = [send(jaeger_server.otlp_traces_url, _request(service, "/ponds", 5)) for _ in range(4)]
    slow_id, slow_spans = send(jaeger_server.otlp_traces_url, _request(service, "/ponds", 300))
    for trace_id, _ in [*fast, (slow_id, slow_spans)]:
        wait_for_trace(jaeger_server.url, trace_id, spans=5)

    code, out = _run(jaeger_server, "slowest", "--service", service, "-n", "2", "-f", "json")
    assert code == 0, out
    traces = json.loads(out)["traces"]
    assert_matches_schema("trace-slowest", json.loads(out))
    assert next(t["trace_id"] for t in traces) == slow_id
    assert len(traces) == 2
    top = traces[0]
    assert top["duration_ms"] == pytest.approx(350.0)
    assert top["services"] == [service, f"{service}-ml"]
    assert top["hotspot"] == slow_spans["q"]
    query = next(s for s in top["spans"] if s["span_id"] == slow_spans["q"])
    assert query["name"] == "SELECT aqua"
    assert query["share"] == pytest.approx(300 / 350, abs=1e-3)
    assert query["parent_id"] == top["spans"][0]["span_id"]

    code, text = _run(jaeger_server, "slowest", "--service", service, "-n", "1")
    assert code == 0, text
    assert f"most time in: {service} SELECT aqua (300.0 ms of its own, 86%)" in text


def test_slowest_filters_by_route_and_window(jaeger_server: JaegerServer, service: str) -> None:
    a, _ = send(jaeger_server.otlp_traces_url, _request(service, "/ponds", 50))
    b, _ = send(jaeger_server.otlp_traces_url, _request(service, "/farms", 80))
    old, _ = send(
        jaeger_server.otlp_traces_url,
        _request(service, "/ponds", 500),
        start_s=time.time() - 3600,
    )
    for trace_id in (a, b, old):
        wait_for_trace(jaeger_server.url, trace_id, spans=5)
    code, out = _run(
        jaeger_server, "slowest", "-s", service, "--route", "/ponds", "--since", "15m", "-f", "json"
    )
    assert code == 0, out
    assert [t["trace_id"] for t in json.loads(out)["traces"]] == [a]
    code, out = _run(jaeger_server, "slowest", "-s", service, "--since", "2h", "-f", "json")
    assert [t["trace_id"] for t in json.loads(out)["traces"]] == [old, b, a]


def test_show_prints_the_tree(jaeger_server: JaegerServer, service: str) -> None:
    trace_id, ids = send(jaeger_server.otlp_traces_url, _request(service, "/ponds", 100))
    wait_for_trace(jaeger_server.url, trace_id, spans=5)
    code, out = _run(jaeger_server, "show", trace_id.upper(), "--format", "json")
    assert code == 0, out
    [trace] = json.loads(out)["traces"]
    assert_matches_schema("trace-show", json.loads(out))
    parents = {s["name"]: s["parent_id"] for s in trace["spans"]}
    assert parents == {
        "GET /ponds": None,
        "authenticate": trace["spans"][0]["span_id"],
        "SELECT aqua": trace["spans"][0]["span_id"],
        "POST /v1/forecast": trace["spans"][0]["span_id"],
        "inference": ids["ml"],
    }
    code, text = _run(jaeger_server, "show", trace_id)
    assert code == 0
    assert "└ inference" in text
    assert f"{service}-ml" in text


def test_unknown_trace_service_and_bad_input_exit_2(
    jaeger_server: JaegerServer, service: str
) -> None:
    code, out = _run(jaeger_server, "show", secrets.token_hex(16))
    assert code == 2
    assert "has no trace" in out
    code, out = _run(jaeger_server, "slowest", "--service", service)
    assert code == 2
    assert f"no traces of service {service!r}" in out
    code, out = _run(jaeger_server, "show", "not-a-trace")
    assert code == 2
    assert "not a trace id" in out
    code, out = _run(jaeger_server, "slowest", "--since", "soon")
    assert code == 2
    assert "--since" in out


def test_unreachable_jaeger_exits_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out = invoke(app, ["show", "ab" * 16, "--jaeger", url])
    assert code == 2
    assert "did not answer" in out
    code, out = invoke(app, ["slowest", "--state-dir", str(tmp_path), "--jaeger", url])
    assert code == 2
    assert "did not answer" in out

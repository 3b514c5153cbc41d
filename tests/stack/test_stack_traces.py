"""Traces on the full stack: one request through nginx, the API, Kafka, the worker, the ML
service and PostgreSQL is one trace in the stack's Jaeger, and ``aqua trace slowest`` finds an
injected database delay as the span where the time went."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cli_runner import invoke
from stack.stack_harness import Stack, make_stack, require_full_stack

from sre_cli.commands.trace import app as trace_app
from sre_cli.errors import Unavailable
from sre_cli.trace import JaegerClient, Span, Trace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_full_stack()
    for s in make_stack(tmp_path_factory.mktemp("traces")):
        s.up("--api-replicas", "1", "--faults")
        s.aqua("seed", "--farms", "1", "--ponds", "1", "--hours", "60", timeout=300)
        yield s


@pytest.fixture(scope="module")
def entry(stack: Stack) -> str:
    return str(stack.plan()["entry_url"])


@pytest.fixture(scope="module")
def jaeger(stack: Stack) -> str:
    [component] = [c for c in stack.plan()["components"] if c["kind"] == "jaeger"]
    return str(component["url"])


@pytest.fixture(scope="module")
def headers(stack: Stack, entry: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token(entry)}"}


@pytest.fixture(scope="module")
def pond(entry: str, headers: dict[str, str]) -> int:
    ponds = httpx.get(f"{entry}/api/v1/ponds", headers=headers, timeout=30).json()
    return int(ponds["items"][0]["id"])


def _traced(method: str, url: str, headers: dict[str, str]) -> tuple[str, str, httpx.Response]:
    """``method url`` from a client that starts a sampled trace: the trace id, the client's
    span id and the response."""
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{client_span}-01"
    r = httpx.request(method, url, headers={**headers, "traceparent": traceparent}, timeout=30)
    return trace_id, client_span, r


def _wait_trace(jaeger: str, trace_id: str, done: Any, timeout: float = 60.0) -> Trace:
    """Poll Jaeger until ``done(trace)``: spans arrive in batches from several processes."""
    deadline = time.monotonic() + timeout
    last: Trace | None = None
    with JaegerClient(jaeger) as client:
        while time.monotonic() < deadline:
            try:
                last = client.trace(trace_id)
            except Unavailable:  # not stored yet
                last = None
            if last is not None and done(last):
                return last
            time.sleep(0.5)
    names = [(s.service, s.name) for s in last.spans] if last else []
    raise AssertionError(f"trace {trace_id} incomplete after {timeout} s: {names}")


def _one(trace: Trace, service: str, name: str) -> Span:
    found = [s for s in trace.spans if s.service == service and s.name == name]
    assert len(found) == 1, [(s.service, s.name) for s in trace.spans]
    return found[0]


def _under(trace: Trace, span: Span, ancestor: Span) -> bool:
    while span.parent_id is not None:
        if span.parent_id == ancestor.span_id:
            return True
        span = trace.span(span.parent_id)
    return False


def _raw_parent(jaeger: str, trace_id: str, span_id: str) -> str | None:
    body = httpx.get(f"{jaeger}/api/traces/{trace_id}", timeout=10).json()
    [raw] = [s for s in body["data"][0]["spans"] if s["spanID"] == span_id]
    refs = raw["references"]
    return str(refs[0]["spanID"]) if refs else None


def test_a_forecast_job_is_one_trace_from_nginx_to_the_database(
    entry: str, jaeger: str, headers: dict[str, str], pond: int
) -> None:
    trace_id, client_span, r = _traced(
        "POST", f"{entry}/api/v1/ponds/{pond}/forecast/async", headers
    )
    assert r.status_code == 202, r.text
    # The response names the same trace, with the API's own span as the new parent.
    assert r.headers["traceparent"].split("-")[1] == trace_id

    def complete(t: Trace) -> bool:
        names = {(s.service, s.name) for s in t.spans}
        # Each process exports its spans in its own batches: wait for every one named below.
        return {
            ("aqua-api", "POST /api/v1/ponds/{pond_id}/forecast/async"),
            ("aqua-api", "authenticate"),
            ("aqua-api", "forecast-requests publish"),
            ("aqua-worker", "forecast-requests process"),
            ("aqua-worker", "ml forecast"),
            ("aqua-ml", "POST /v1/forecast"),
            ("aqua-ml", "inference"),
        } <= names and any(
            s.service == "aqua-worker"
            and str(s.attributes.get("db.statement", "")).startswith("UPDATE")
            for s in t.spans
        )

    trace = _wait_trace(jaeger, trace_id, complete)
    request = _one(trace, "aqua-api", "POST /api/v1/ponds/{pond_id}/forecast/async")
    # nginx passed the caller's traceparent: the API's span is the child of the client's.
    assert _raw_parent(jaeger, trace_id, request.span_id) == client_span
    assert request.attributes["http.response.status_code"] == 202

    auth = _one(trace, "aqua-api", "authenticate")
    assert auth.parent_id == request.span_id
    api_queries = [
        s for s in trace.spans if s.service == "aqua-api" and "db.statement" in s.attributes
    ]
    assert api_queries
    assert all(_under(trace, q, request) for q in api_queries)
    assert any(str(q.attributes["db.statement"]).startswith("INSERT") for q in api_queries)

    publish = _one(trace, "aqua-api", "forecast-requests publish")
    assert publish.parent_id == request.span_id
    consume = _one(trace, "aqua-worker", "forecast-requests process")
    assert consume.parent_id == publish.span_id  # the context rode in the message headers

    ml_call = _one(trace, "aqua-worker", "ml forecast")
    assert _under(trace, ml_call, consume)
    ml_server = _one(trace, "aqua-ml", "POST /v1/forecast")
    assert ml_server.parent_id == ml_call.span_id
    inference = _one(trace, "aqua-ml", "inference")
    assert inference.parent_id == ml_server.span_id

    writes = [
        s
        for s in trace.spans
        if s.service == "aqua-worker"
        and str(s.attributes.get("db.statement", "")).startswith("UPDATE")
    ]
    assert writes
    assert all(_under(trace, w, consume) for w in writes)
    assert trace.services[:1] == ("aqua-api",)
    assert set(trace.services) == {"aqua-api", "aqua-worker", "aqua-ml"}


def test_cache_lookup_and_redis_spans(
    entry: str, jaeger: str, headers: dict[str, str], pond: int
) -> None:
    trace_id, _, r = _traced("GET", f"{entry}/api/v1/ponds/{pond}/summary", headers)
    assert r.status_code == 200, r.text

    def complete(t: Trace) -> bool:
        # The request's own span ends last, so it may come in a later batch than its children.
        names = {(s.service, s.name) for s in t.spans}
        return {
            ("aqua-api", "GET /api/v1/ponds/{pond_id}/summary"),
            ("aqua-api", "cache lookup"),
        } <= names

    trace = _wait_trace(jaeger, trace_id, complete)
    request = _one(trace, "aqua-api", "GET /api/v1/ponds/{pond_id}/summary")
    lookup = _one(trace, "aqua-api", "cache lookup")
    assert _under(trace, lookup, request)
    redis = [s for s in trace.children(lookup) if s.attributes.get("db.system") == "redis"]
    assert [s.name for s in redis] == ["GET"]


def test_slowest_finds_an_injected_database_delay(
    stack: Stack, entry: str, jaeger: str, headers: dict[str, str], pond: int
) -> None:
    route = "/api/v1/ponds/{pond_id}"
    put = httpx.put(
        f"{entry}/api/v1/admin/faults",
        json={"route": route, "db_latency_ms": 300},
        headers=headers,
        timeout=30,
    )
    assert put.status_code == 200, put.text
    slow_ids = []
    try:
        for _ in range(2):
            trace_id, _, r = _traced("GET", f"{entry}/api/v1/ponds/{pond}", headers)
            assert r.status_code == 200, r.text
            slow_ids.append(trace_id)
    finally:
        httpx.delete(f"{entry}/api/v1/admin/faults", headers=headers, timeout=30)
    for trace_id in slow_ids:
        _wait_trace(
            jaeger,
            trace_id,
            lambda t: (
                any("pg_sleep" in str(s.attributes) for s in t.spans)
                and any(s.name == f"GET {route}" for s in t.spans)
            ),
        )

    code, out = invoke(
        trace_app,
        [
            *("slowest", "--service", "aqua-api", "--route", route, "--since", "10m", "-n", "1"),
            *("--jaeger", jaeger, "--format", "json"),
        ],
    )
    assert code == 0, out
    [top] = json.loads(out)["traces"]
    assert top["trace_id"] in slow_ids
    assert top["duration_ms"] >= 300
    hot = next(s for s in top["spans"] if s["span_id"] == top["hotspot"])
    assert hot["service"] == "aqua-api"
    assert hot["name"].startswith("SELECT")  # the database, not the handler around it
    assert hot["self_ms"] >= 295
    assert hot["share"] > 0.5

    code, text = invoke(
        trace_app,
        ["slowest", "-s", "aqua-api", "-r", route, "-n", "1", "--jaeger", jaeger],
    )
    assert code == 0, text
    assert "most time in: aqua-api SELECT" in text


def test_latency_buckets_carry_trace_ids_as_exemplars(
    stack: Stack, entry: str, jaeger: str, headers: dict[str, str]
) -> None:
    trace_id, _, r = _traced("GET", f"{entry}/api/v1/farms", headers)
    assert r.status_code == 200
    [prom] = [c for c in stack.plan()["components"] if c["kind"] == "prometheus"]
    query = 'http_request_duration_seconds_bucket{route="/api/v1/farms"}'
    deadline = time.monotonic() + 60
    seen: set[str] = set()
    while time.monotonic() < deadline and trace_id not in seen:
        body = httpx.get(
            f"{prom['url']}/api/v1/query_exemplars",
            params={"query": query, "start": time.time() - 600, "end": time.time() + 60},
            timeout=10,
        ).json()
        assert body["status"] == "success", body
        seen = {
            e["labels"].get("trace_id", "") for series in body["data"] for e in series["exemplars"]
        }
        time.sleep(1)
    assert trace_id in seen, seen
    # The exemplar leads to the trace (once the request's span has been exported: the
    # exemplar is recorded before the span ends).
    _wait_trace(jaeger, trace_id, lambda t: any(s.name == "GET /api/v1/farms" for s in t.spans))
    code, out = invoke(trace_app, ["show", trace_id, "--jaeger", jaeger, "--format", "json"])
    assert code == 0, out
    assert json.loads(out)["traces"][0]["root"] == "GET /api/v1/farms"

"""The ``traces`` runbook step against a real Jaeger fed over OTLP: requests of the last
minutes whose database query takes 300 ms more than in the hour before → the step of
runbooks/latency-spike.md names the database span as the one that grew."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
from otlp_spans import SpanSpec, send, wait_for_trace

from sre_cli.errors import Unavailable
from sre_cli.infra.jaeger import JaegerServer
from sre_cli.ops.context import RunContext
from sre_cli.ops.operations import TracesOp
from sre_cli.runbook.loader import load_runbook
from sre_cli.runbook.params import fill

pytestmark = pytest.mark.integration

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "latency-spike.md"


def _request(service: str, query_ms: float) -> list[SpanSpec]:
    """Authentication, a cache lookup (Redis), a query, the ML call: only the query varies."""
    total = 10 + query_ms + 30
    route = {"http.route": "/api/v1/ponds/{pond_id}"}
    return [
        SpanSpec(service, "GET /api/v1/ponds/{pond_id}", 0, total, key="req", attributes=route),
        SpanSpec(service, "authenticate", 1, 3, parent="req"),
        SpanSpec(service, "cache lookup", 4, 2, key="c", parent="req"),
        SpanSpec(service, "GET", 4.5, 1, parent="c", attributes={"db.system": "redis"}),
        SpanSpec(
            service,
            "SELECT aqua",
            8,
            query_ms,
            parent="req",
            attributes={"db.system": "postgresql"},
        ),
        SpanSpec(service, "ml forecast", 10 + query_ms, 25, parent="req"),
    ]


def _latency_spike_step() -> TracesOp:
    book = load_runbook(RUNBOOK)
    [step] = [s for s in book.steps if s.body.key == "traces"]
    body = fill(step, {"route": ""}, str(RUNBOOK))
    assert isinstance(body.op, TracesOp)
    return body.op


def test_the_step_names_the_database_span_that_grew(jaeger_server: JaegerServer) -> None:
    service = f"api-{secrets.token_hex(3)}"
    now = time.time()
    sent = [
        send(jaeger_server.otlp_traces_url, _request(service, 5), start_s=now - 3000 + 300 * i)
        for i in range(6)
    ]
    sent += [
        send(jaeger_server.otlp_traces_url, _request(service, 305), start_s=now - 120 + 30 * i)
        for i in range(3)
    ]
    for trace_id, _ in sent:
        wait_for_trace(jaeger_server.url, trace_id, spans=6)
    op = _latency_spike_step().model_copy(update={"service": service})
    ctx = RunContext("stack", jaeger_url=jaeger_server.url)
    seen = ctx.observe(op)
    assert seen.ok is None  # a diagnostic
    assert seen.summary.startswith(f'the database span "SELECT aqua" ({service}) grew most')
    assert "5.0 → 305.0 ms per request (+300.0 ms;" in seen.summary
    assert "3 traces in the last 5m, 6 in the 1h before" in seen.summary
    assert "database" in seen.details[0]
    assert len(seen.details) == 5

    checked = ctx.observe(op.model_copy(update={"max_growth": 0.05}))
    assert checked.ok is False
    relaxed = ctx.observe(op.model_copy(update={"max_growth": 0.5}))
    assert relaxed.ok is True


def test_when_nothing_grew_the_step_says_so(jaeger_server: JaegerServer) -> None:
    service = f"api-{secrets.token_hex(3)}"
    now = time.time()
    sent = [
        send(jaeger_server.otlp_traces_url, _request(service, 5), start_s=start)
        for start in (now - 2000, now - 1000, now - 60)
    ]
    for trace_id, _ in sent:
        wait_for_trace(jaeger_server.url, trace_id, spans=6)
    ctx = RunContext("stack", jaeger_url=jaeger_server.url)
    calm = ctx.observe(_latency_spike_step().model_copy(update={"service": service}))
    assert calm.ok is None
    assert calm.summary == (
        f"no span of {service} grew (1 traces in the last 5m, 2 in the 1h before)"
    )


def test_without_jaeger_the_step_says_how_to_get_one() -> None:
    with pytest.raises(Unavailable, match="asks Jaeger") as raised:
        RunContext("kubernetes").observe(TracesOp())
    assert "--jaeger" in str(raised.value.hint)

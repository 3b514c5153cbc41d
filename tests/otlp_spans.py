"""Send hand-made spans to a real Jaeger over OTLP/HTTP (JSON encoding) and wait for them.

The tests decide every id and time, so what Jaeger stores can be compared exactly::

    trace_id = send(jaeger.otlp_traces_url, [SpanSpec("api", "GET /x", 0, 50)])
    wait_for_trace(jaeger.url, trace_id, spans=1)
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sre_cli.infra.http import http_request


@dataclass(frozen=True)
class SpanSpec:
    service: str
    name: str
    start_ms: float
    duration_ms: float
    key: str = ""  #: how other specs name this one as their parent
    parent: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


def send(
    otlp_traces_url: str, specs: Sequence[SpanSpec], *, start_s: float | None = None
) -> tuple[str, dict[str, str]]:
    """Post one trace; returns its id and the span id of each keyed spec."""
    trace_id = secrets.token_hex(16)
    ids = {spec.key or f"#{i}": secrets.token_hex(8) for i, spec in enumerate(specs)}
    base_ns = int((time.time() if start_s is None else start_s) * 1e9)
    by_service: dict[str, list[dict[str, object]]] = {}
    for i, spec in enumerate(specs):
        start = base_ns + int(spec.start_ms * 1e6)
        by_service.setdefault(spec.service, []).append(
            {
                "traceId": trace_id,
                "spanId": ids[spec.key or f"#{i}"],
                "parentSpanId": ids[spec.parent] if spec.parent else "",
                "name": spec.name,
                "kind": 2 if not spec.parent else 1,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + int(spec.duration_ms * 1e6)),
                "attributes": [
                    {"key": k, "value": {"stringValue": v}} for k, v in spec.attributes.items()
                ],
            }
        )
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"scope": {"name": "aqua-tests"}, "spans": spans}],
            }
            for service, spans in by_service.items()
        ]
    }
    status, answer = http_request(
        otlp_traces_url,
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200, answer
    return trace_id, {k: v for k, v in ids.items() if not k.startswith("#")}


def wait_for_trace(query_url: str, trace_id: str, spans: int, timeout: float = 20.0) -> None:
    """Poll Jaeger until the trace has ``spans`` spans (the batch processor flushes them)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        status, body = http_request(f"{query_url}/api/traces/{trace_id}")
        if status == 200:
            seen = len(json.loads(body)["data"][0]["spans"])
            if seen >= spans:
                return
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id}: {seen} of {spans} spans in Jaeger after {timeout} s")

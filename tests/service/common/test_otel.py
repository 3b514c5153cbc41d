"""The services' tracing hooks against a real Jaeger: sampling decided at the entry, children
and Kafka consumers under the right parents, nothing from a request that is not kept.

The tracer provider is process-wide, so the traced code runs in a child interpreter."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sre_cli.infra.http import http_request
from sre_cli.infra.jaeger import JaegerServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from service.common import otel
    from service.common.tracing import TraceContext

    endpoint, service, ratio, kept_trace, parent_span = sys.argv[1:6]
    assert otel.configure(service, endpoint, ratio=float(ratio))
    out = {}
    # A request that starts a trace at ratio 0: no span, unsampled ids, children dropped.
    with otel.server_span("GET /dropped", None) as (span, ids):
        out["dropped"] = {"span": span is None, "sampled": ids.sampled, "trace_id": ids.trace_id}
        with otel.span("child") as child:
            out["dropped"]["child"] = child is None
    # A caller's sampled traceparent is followed whatever the ratio.
    parent = TraceContext(trace_id=kept_trace, span_id=parent_span, sampled=True)
    with otel.server_span("POST /kept", parent) as (span, ids):
        out["kept"] = {"trace_id": ids.trace_id, "span_id": ids.span_id, "sampled": ids.sampled}
        otel.finish_server_span(span, "POST", "/kept", 202)
        with otel.span("authenticate"):
            pass
        with otel.span("jobs publish", kind="producer"):
            headers = otel.kafka_headers()
            out["exemplar"] = otel.exemplar()
    out["headers"] = [[k, v.decode()] for k, v in headers]
    # The worker's side: the message's headers make the consumer span a child of the publish.
    with otel.consumed([headers, []], "jobs"):
        with otel.span("ml forecast", kind="client"):
            out["http"] = otel.inject({})
    otel.shutdown()
    print(json.dumps(out))
    """
)


def _run(jaeger: JaegerServer, service: str, trace_id: str, parent: str) -> dict[str, Any]:
    return _script(SCRIPT, jaeger.otlp_http_url, service, "0", trace_id, parent)


def _script(script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter; the JSON object on its last line of output."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _spans(jaeger: JaegerServer, trace_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    spans: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        status, body = http_request(f"{jaeger.url}/api/traces/{trace_id}")
        if status == 200:
            spans = json.loads(body)["data"][0]["spans"]
            if len(spans) >= count:
                return spans
        time.sleep(0.1)
    raise AssertionError(f"{len(spans)} of {count} spans of {trace_id} in Jaeger")


def test_sampling_parents_and_propagation(jaeger_server: JaegerServer) -> None:
    service = f"otel-{secrets.token_hex(3)}"
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    out = _run(jaeger_server, service, trace_id, parent)

    dropped = out["dropped"]
    assert dropped == {
        "span": True,
        "sampled": False,
        "trace_id": dropped["trace_id"],
        "child": True,
    }
    kept = out["kept"]
    assert kept["trace_id"] == trace_id
    assert kept["sampled"] is True
    assert out["exemplar"] == {"trace_id": trace_id}
    [[name, value]] = out["headers"]
    assert name == "traceparent"
    assert value.startswith(f"00-{trace_id}-")
    assert value.endswith("-01")
    assert out["http"]["traceparent"].split("-")[1] == trace_id

    spans = {s["operationName"]: s for s in _spans(jaeger_server, trace_id, 5)}
    assert set(spans) == {
        "POST /kept",
        "authenticate",
        "jobs publish",
        "jobs process",
        "ml forecast",
    }

    def parent_of(name: str) -> str:
        refs = spans[name]["references"]
        assert isinstance(refs, list)
        return str(refs[0]["spanID"])

    assert parent_of("POST /kept") == parent
    request_id = str(kept["span_id"])
    assert parent_of("authenticate") == request_id
    assert parent_of("jobs publish") == request_id
    assert parent_of("jobs process") == str(spans["jobs publish"]["spanID"])
    assert parent_of("ml forecast") == str(spans["jobs process"]["spanID"])
    tags = {t["key"]: t["value"] for t in spans["POST /kept"]["tags"]}
    assert tags["http.route"] == "/kept"
    assert tags["http.response.status_code"] == 202

    # Nothing of the request that was not kept reached Jaeger.
    status, _ = http_request(f"{jaeger_server.url}/api/traces/{dropped['trace_id']}")
    assert status == 404


TAIL_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from service.common import otel

    endpoint, service = sys.argv[1:3]
    # Ratio 0: no request is sampled; errors and requests of 150 ms or more are kept anyway.
    assert otel.configure(service, endpoint, ratio=0.0, keep_errors=True, keep_slow_ms=150)
    out = {}
    for name, status, query_s in [("fine", 200, 0.0), ("error", 500, 0.0), ("slow", 200, 0.3)]:
        with otel.server_span(f"GET /{name}", None) as (span, ids):
            with otel.span("SELECT aqua", {"db.system": "postgresql"}):
                time.sleep(query_s)  # the request's slow query
            otel.finish_server_span(span, "GET", f"/{name}", status)
            out[name] = {
                "trace_id": ids.trace_id,
                "sampled": ids.sampled,
                "traceparent": otel.inject({})["traceparent"],
                "exemplar": otel.exemplar_of(ids),
            }
    otel.shutdown()
    print(json.dumps(out))
    """
)


def test_errors_and_slow_requests_are_kept_at_ratio_0(jaeger_server: JaegerServer) -> None:
    """A 500 and a slow request reach Jaeger with their spans; a normal one does not, and the
    services called were told none was sampled."""
    service = f"otel-tail-{secrets.token_hex(3)}"
    out = _script(TAIL_SCRIPT, jaeger_server.otlp_http_url, service)
    for name in ("fine", "error", "slow"):
        assert out[name]["sampled"] is False
        flags = int(out[name]["traceparent"].rsplit("-", 1)[1], 16)
        assert flags & 1 == 0  # the sampled bit is off: the callee records nothing
        assert out[name]["exemplar"] is None
    for name, reason in [("error", "error"), ("slow", "slow")]:
        spans = {s["operationName"]: s for s in _spans(jaeger_server, out[name]["trace_id"], 2)}
        assert set(spans) == {f"GET /{name}", "SELECT aqua"}
        root = {t["key"]: t["value"] for t in spans[f"GET /{name}"]["tags"]}
        assert root["aqua.trace.kept"] == reason
        query = spans["SELECT aqua"]
        assert query["references"][0]["spanID"] == spans[f"GET /{name}"]["spanID"]
    # Exported in the same flush as the two kept ones (shutdown flushed before exit): absent.
    status, _ = http_request(f"{jaeger_server.url}/api/traces/{out['fine']['trace_id']}")
    assert status == 404

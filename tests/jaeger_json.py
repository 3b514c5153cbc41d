"""Traces as Jaeger's query API returns them, built by hand: every id and time is the test's.

Spans of processes ``p1`` and ``p2`` (services ``api`` and ``ml`` unless told), times in µs
from :data:`T0`::

    doc = document(span("a1", "GET /x", 0, 400_000), span("b2", "SELECT", 20_000, 300_000, "a1"))
    Trace.from_jaeger(doc)
"""

from __future__ import annotations

from typing import Any

T0 = 1_700_000_000_000_000  # µs
TRACE_ID = "ab" * 16


def span(
    span_id: str, name: str, start: int, duration: int, parent: str | None = None, proc: str = "p1"
) -> dict[str, Any]:
    refs = [{"refType": "CHILD_OF", "traceID": TRACE_ID, "spanID": parent}] if parent else []
    return {
        "traceID": TRACE_ID,
        "spanID": span_id,
        "operationName": name,
        "references": refs,
        "startTime": T0 + start,
        "duration": duration,
        "tags": [{"key": "span.kind", "type": "string", "value": "server"}],
        "processID": proc,
    }


def document(*spans: dict[str, Any], services: tuple[str, str] = ("api", "ml")) -> dict[str, Any]:
    return {
        "traceID": TRACE_ID,
        "spans": list(spans),
        "processes": {"p1": {"serviceName": services[0]}, "p2": {"serviceName": services[1]}},
    }

"""The span tree, shares and self time computed from Jaeger's trace JSON, and their rendering."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from jaeger_json import document, span
from rich.console import Console

from sre_cli.errors import Unavailable, UsageError
from sre_cli.trace import Trace, TraceList, check_trace_id
from sre_cli.trace.render import draw

# A request of 400 ms: auth 10 ms, a query that waits 300 ms, then an ML call of 60 ms in
# another service, whose own inference span takes 50 ms of it.
REQUEST = document(
    span("a1", "GET /api/v1/ponds/{pond_id}/summary", 0, 400_000),
    span("b2", "authenticate", 5_000, 10_000, "a1"),
    span("c3", "SELECT aqua", 20_000, 300_000, "a1"),
    span("d4", "POST /v1/forecast", 330_000, 60_000, "a1", proc="p2"),
    span("e5", "inference", 335_000, 50_000, "d4", proc="p2"),
)


def test_tree_order_depth_and_parents() -> None:
    trace = Trace.from_jaeger(REQUEST)
    assert [(depth, span.name) for depth, span in trace.walk()] == [
        (0, "GET /api/v1/ponds/{pond_id}/summary"),
        (1, "authenticate"),
        (1, "SELECT aqua"),
        (1, "POST /v1/forecast"),
        (2, "inference"),
    ]
    assert trace.root.span_id == "a1"
    assert trace.span("e5").parent_id == "d4"
    assert trace.services == ("api", "ml")
    assert trace.duration_ms == 400.0


def test_share_self_time_and_hotspot() -> None:
    trace = Trace.from_jaeger(REQUEST)
    assert trace.share(trace.span("c3")) == pytest.approx(0.75)
    assert trace.self_us(trace.root) == 400_000 - 10_000 - 300_000 - 60_000
    assert trace.self_us(trace.span("d4")) == 10_000
    assert trace.hotspot().name == "SELECT aqua"


def test_overlapping_children_are_counted_once() -> None:
    trace = Trace.from_jaeger(
        document(
            span("a1", "batch", 0, 100_000),
            span("b2", "q1", 10_000, 50_000, "a1"),
            span("c3", "q2", 40_000, 50_000, "a1"),  # overlaps q1 by 20 ms
            span("d4", "late", 90_000, 30_000, "a1"),  # runs past its parent: clipped
        )
    )
    assert trace.self_us(trace.root) == 100_000 - (90_000 - 10_000) - (100_000 - 90_000)
    assert trace.duration_us == 120_000


def test_a_span_whose_parent_is_missing_becomes_a_root() -> None:
    trace = Trace.from_jaeger(document(span("a1", "consume", 0, 5_000, parent="ffffffffffffffff")))
    assert trace.root.parent_id is None
    assert len(trace.roots) == 1


def test_json_has_the_documented_fields() -> None:
    payload: dict[str, Any] = TraceList((Trace.from_jaeger(REQUEST),)).to_json()
    json.dumps(payload)  # serialisable
    [trace] = payload["traces"]
    assert trace["trace_id"] == "ab" * 16
    assert trace["duration_ms"] == 400.0
    assert trace["root"] == "GET /api/v1/ponds/{pond_id}/summary"
    assert trace["services"] == ["api", "ml"]
    assert trace["hotspot"] == "c3"
    spans = {s["span_id"]: s for s in trace["spans"]}
    assert set(spans["c3"]) == {
        "span_id",
        "parent_id",
        "service",
        "name",
        "duration_ms",
        "self_ms",
        "share",
    }
    assert spans["c3"] == {
        "span_id": "c3",
        "parent_id": "a1",
        "service": "api",
        "name": "SELECT aqua",
        "duration_ms": 300.0,
        "self_ms": 300.0,
        "share": 0.75,
    }
    assert spans["a1"]["parent_id"] is None
    assert Trace.from_jaeger(REQUEST).to_json() == trace


def test_terminal_tree_names_the_hotspot() -> None:
    out = io.StringIO()
    Console(file=out, width=140, color_system=None).print(
        draw(TraceList((Trace.from_jaeger(REQUEST),), "slowest"))
    )
    text = out.getvalue()
    assert "most time in: api SELECT aqua (300.0 ms of its own, 75%)" in text
    lines = text.splitlines()
    inference = next(line for line in lines if "inference" in line)
    assert "  └ inference" in inference
    assert "ml" in inference
    assert "50.0" in inference
    assert "12%" in inference


def test_malformed_documents_are_unavailable_not_tracebacks() -> None:
    with pytest.raises(Unavailable, match="cannot read"):
        Trace.from_jaeger({"traceID": "ab", "spans": [{"spanID": "x"}]})
    with pytest.raises(Unavailable, match="without spans"):
        Trace.from_jaeger({"traceID": "ab", "spans": []})


@pytest.mark.parametrize("bad", ["", "xyz", "g" * 32, "a" * 33, "4bf9-2f35"])
def test_trace_ids_are_checked(bad: str) -> None:
    with pytest.raises(UsageError, match="not a trace id"):
        check_trace_id(bad)


def test_trace_ids_are_normalised() -> None:
    assert check_trace_id(" ABC ") == "0" * 29 + "abc"

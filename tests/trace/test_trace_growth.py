"""Which span grew: self time per request by span name, recent window against baseline."""

from __future__ import annotations

import pytest

from sre_cli.ops.operations import TracesOp
from sre_cli.trace.growth import span_growth, span_kind
from sre_cli.trace.model import Span, Trace


def _trace(trace_id: str, query_ms: float, cache_ms: float = 2.0) -> Trace:
    """A request: a cache lookup, then a query; the request's own time is 3 ms."""
    us = 1000
    total = 3 + cache_ms + query_ms
    return Trace(
        trace_id,
        (
            Span("r", None, "aqua-api", "GET /ponds", 0, int(total * us)),
            Span("c", "r", "aqua-api", "cache lookup", 1 * us, int(cache_ms * us)),
            Span(
                "q",
                "r",
                "aqua-api",
                "SELECT aqua",
                int((1 + cache_ms) * us),
                int(query_ms * us),
                attributes={"db.system": "postgresql"},
            ),
        ),
    )


def test_the_span_that_grew_is_the_query_not_the_request_around_it() -> None:
    baseline = [_trace(f"b{i}", 5.0) for i in range(4)]
    recent = [_trace(f"r{i}", 305.0) for i in range(2)]
    rows = span_growth(baseline, recent)
    top = rows[0]
    assert (top.name, top.kind) == ("SELECT aqua", "database")
    assert top.baseline_ms == pytest.approx(5.0)
    assert top.recent_ms == pytest.approx(305.0)
    assert top.growth_ms == pytest.approx(300.0)
    request = next(r for r in rows if r.name == "GET /ponds")
    assert request.growth_ms == pytest.approx(0.0, abs=1e-6)
    assert top.label == 'the database span "SELECT aqua" (aqua-api)'


def test_a_span_only_some_requests_make_counts_per_request() -> None:
    baseline = [_trace("b", 5.0, cache_ms=40.0), _trace("b2", 5.0, cache_ms=0.0)]
    recent = [_trace("r", 5.0, cache_ms=40.0)]
    [top, *_] = span_growth(baseline, recent)
    assert (top.name, top.kind) == ("cache lookup", "cache")
    assert top.growth_ms == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("service", "name", "attributes", "kind"),
    [
        ("aqua-api", "GET aqua", {"db.system": "redis"}, "cache"),
        ("aqua-api", "SELECT aqua", {"db.system": "postgresql"}, "database"),
        ("aqua-api", "ml forecast", {}, "ML"),
        ("aqua-ml", "POST /v1/forecast", {}, "ML"),
        ("aqua-api", "readings publish", {"messaging.system": "kafka"}, "queue"),
        ("aqua-api", "authenticate", {}, ""),
    ],
)
def test_span_kind(service: str, name: str, attributes: dict[str, object], kind: str) -> None:
    assert span_kind(Span("s", None, service, name, 0, 1, attributes)) == kind


def test_the_operation_reads_and_checks_only_with_max_growth() -> None:
    op = TracesOp.model_validate({"service": "api", "window": "5m", "baseline": "1h"})
    assert (op.window, op.baseline, op.risk, op.mutates, op.checks) == (
        300.0,
        3600.0,
        "read",
        False,
        False,
    )
    assert op.describe() == "which span of api grew: the last 5m against the 1h before"
    limited = TracesOp.model_validate({"max_growth": "50ms"})
    assert limited.checks
    assert "(none by more than 50 ms)" in limited.describe()
    with pytest.raises(ValueError, match="window"):
        TracesOp.model_validate({"window": "-1m"})

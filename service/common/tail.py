"""Errors and slow requests kept whatever the sampling ratio: a span processor that decides at
the end of a request's span.

With ``AQUA_TRACE_KEEP_ERRORS`` or ``AQUA_TRACE_KEEP_SLOW_MS`` set, a request the ratio does
not sample is still *recorded* (its spans are built, not sampled), and :class:`TailKeeper`
holds them until the request's own span ends. Then it exports them only if that span failed
(status ERROR: a 5xx answer) or lasted at least the threshold; otherwise they are dropped.
Sampled spans pass straight through. The services a kept request called were told it was not
sampled (``traceparent`` flags 00), so its trace holds this service's spans only::

    provider.add_span_processor(TailKeeper(BatchSpanProcessor(exporter), True, 500.0))

At most :data:`MAX_PENDING` requests are held at once; beyond that a new request's spans are
not held (it cannot be kept), so memory stays bounded under any load.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Span

__all__ = ["KEPT_ATTRIBUTE", "MAX_PENDING", "TailKeeper"]

MAX_PENDING = 4096
#: on the request's span of a kept trace: why it was kept (error or slow)
KEPT_ATTRIBUTE = "aqua.trace.kept"


def _sampled(span: ReadableSpan, reason: str | None = None) -> ReadableSpan:
    """A copy of ``span`` flagged sampled (what the batch processor exports)."""
    c = span.context
    assert c is not None
    context = SpanContext(c.trace_id, c.span_id, c.is_remote, TraceFlags(1), c.trace_state)
    attributes = dict(span.attributes or {})
    if reason is not None:
        attributes[KEPT_ATTRIBUTE] = reason
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class TailKeeper(SpanProcessor):
    """Passes sampled spans to ``inner``; holds a recorded request's spans until its span ends
    and passes them on only if it failed (``keep_errors``) or took ``slow_ms`` or longer."""

    def __init__(self, inner: SpanProcessor, keep_errors: bool, slow_ms: float | None) -> None:
        self.inner = inner
        self.keep_errors = keep_errors
        self.slow_ns = None if slow_ms is None else int(slow_ms * 1_000_000)
        self.pending: dict[int, list[ReadableSpan]] = {}
        self.lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.inner.on_start(span, parent_context)

    def _reason(self, root: ReadableSpan) -> str | None:
        if self.keep_errors and root.status.status_code is StatusCode.ERROR:
            return "error"
        took = (root.end_time or 0) - (root.start_time or 0)
        if self.slow_ns is not None and took >= self.slow_ns:
            return "slow"
        return None

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        if context.trace_flags.sampled:
            self.inner.on_end(span)
            return
        request_span = span.parent is None or span.parent.is_remote
        with self.lock:
            if not request_span:
                held = self.pending.get(context.trace_id)
                if held is None and len(self.pending) >= MAX_PENDING:
                    return
                self.pending.setdefault(context.trace_id, []).append(span)
                return
            children = self.pending.pop(context.trace_id, [])
        reason = self._reason(span)
        if reason is None:
            return
        for child in children:
            self.inner.on_end(_sampled(child))
        self.inner.on_end(_sampled(span, reason))

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        done: Any = self.inner.force_flush(timeout_millis)
        return bool(done)

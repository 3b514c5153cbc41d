"""OpenTelemetry spans for the services, exported over OTLP/HTTP to the stack's Jaeger.

Off unless ``AQUA_OTLP_ENDPOINT`` is set: then :func:`configure` installs a tracer provider
with parent-based ratio sampling (``AQUA_TRACE_SAMPLE_RATIO`` of new traces; a caller's
sampling decision in ``traceparent`` is kept) and a batching exporter. Call sites use small
hooks that cost one attribute read when tracing is off::

    configure("aqua-api", "http://127.0.0.1:4318", ratio=0.05)
    with span("authenticate"):
        ...
    headers = kafka_headers()                 # traceparent for a Kafka message
    with consumed(envelope.headers, "readings"):
        ...                                   # a child of the producer's span

SQLAlchemy engines and Redis clients are instrumented by their OpenTelemetry packages
(:func:`instrument_engine`, :func:`instrument_redis`).
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from service.common.tracing import TraceContext

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("aqua.tracing")

__all__ = [
    "configure",
    "consumed",
    "current_ids",
    "enabled",
    "exemplar",
    "exemplar_of",
    "finish_server_span",
    "inject",
    "instrument_engine",
    "instrument_redis",
    "kafka_headers",
    "request_span",
    "server_span",
    "shutdown",
    "span",
]


class _State:
    tracer: Tracer | None = None
    provider: Any = None
    ratio = 0.0
    # The opentelemetry.context and opentelemetry.trace modules, once tracing is on: the
    # per-request path uses them without an import statement each time.
    context: Any = None
    trace: Any = None
    redis_done = False
    tail = False  # requests the ratio does not keep are recorded for the tail decision


_state = _State()
_rng = random.Random()  # noqa: S311 - sampling, not secrecy


def enabled() -> bool:
    return _state.tracer is not None


def configure(
    service_name: str,
    endpoint: str | None,
    *,
    ratio: float,
    keep_errors: bool = False,
    keep_slow_ms: float | None = None,
) -> bool:
    """Install the tracer provider of this process (once); False when tracing stays off.

    With ``keep_errors`` or ``keep_slow_ms``, a request the ratio does not sample is recorded
    anyway and exported only if it failed or was that slow (:mod:`service.common.tail`)."""
    if _state.tracer is not None:
        return True
    if not endpoint:
        return False
    from opentelemetry import context, trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    tail = keep_errors or keep_slow_ms is not None
    # Under a request that is only recorded, children are recorded too (not sampled).
    unsampled = _record_only() if tail else ALWAYS_OFF
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(
            root=_entry_points(),
            remote_parent_not_sampled=unsampled,
            local_parent_not_sampled=unsampled,
        ),
    )
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)
    # Spans leave in batches from a background thread; a slow or absent Jaeger drops spans,
    # it never slows a request.
    batch = BatchSpanProcessor(exporter, schedule_delay_millis=500)
    if tail:
        from service.common.tail import TailKeeper

        provider.add_span_processor(TailKeeper(batch, keep_errors, keep_slow_ms))
    else:
        provider.add_span_processor(batch)
    _state.tail = tail
    trace.set_tracer_provider(provider)
    _state.provider = provider
    _state.ratio = ratio
    _state.context = context
    _state.trace = trace
    _state.tracer = provider.get_tracer("aqua")
    log.info(
        "tracing on",
        extra={
            "otlp_endpoint": endpoint,
            "sample_ratio": ratio,
            "keep_errors": keep_errors,
            "keep_slow_ms": keep_slow_ms,
        },
    )
    return True


_ENTRY = "aqua.entry"
#: a request the ratio did not keep, recorded for the tail decision (errors, slow requests)
_RECORDED = "aqua.recorded"


def _record_only() -> Any:
    """Record, do not sample: the span is built, and exported only if the tail decides so."""
    return _sampler("RecordOnly", record_only=True)


def _entry_points() -> Any:
    """The root sampler: a trace starts only where a request enters (:func:`server_span`
    decided to keep it), so a background query or Redis call starts no trace of its own."""
    return _sampler("EntryPoints", record_only=False)


def _sampler(description: str, *, record_only: bool) -> Any:
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class AquaSampler(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: Any = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if record_only or (attributes and attributes.get(_RECORDED)):
                return SamplingResult(Decision.RECORD_ONLY, attributes, trace_state)
            if attributes and attributes.get(_ENTRY):
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
            return SamplingResult(Decision.DROP, None, trace_state)

        def get_description(self) -> str:
            return description

    return AquaSampler()


def shutdown() -> None:
    """Flush and stop the exporter (at process exit)."""
    if _state.provider is not None:
        with contextlib.suppress(Exception):
            _state.provider.shutdown()


def _remote_parent(parent: TraceContext | None) -> Any:
    """An OpenTelemetry context whose current span is the caller's (from ``traceparent``)."""
    if parent is None:
        return None
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    remote = SpanContext(
        trace_id=int(parent.trace_id, 16),
        span_id=int(parent.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if parent.sampled else TraceFlags.DEFAULT),
    )
    return trace.set_span_in_context(NonRecordingSpan(remote))


def _ids(current: Span) -> TraceContext:
    ctx = current.get_span_context()
    return TraceContext(
        trace_id=f"{ctx.trace_id:032x}",
        span_id=f"{ctx.span_id:016x}",
        sampled=ctx.trace_flags.sampled,
    )


@contextlib.contextmanager
def server_span(
    name: str, parent: TraceContext | None
) -> Iterator[tuple[Span | None, TraceContext]]:
    """The span of one incoming request, child of the caller's; yields it and its ids.

    The span is current inside the block, so database, cache and ML spans hang under it. The
    sampling decision is made here, first: the caller's flag, else ``AQUA_TRACE_SAMPLE_RATIO``.
    A request that is not kept gets its ids and no span (``None``): the SDK does no work for it,
    unless errors or slow requests are kept (``configure(keep_errors=…, keep_slow_ms=…)``):
    then it gets a recorded, unsampled span whose tree is exported only if it fails or drags.
    Only call when :func:`enabled`.
    """
    keep = parent.sampled if parent is not None else _rng.random() < _state.ratio
    if not keep and not _state.tail:
        # No OpenTelemetry span at all: the spans below find no recording parent and are
        # dropped, and calls onwards carry this request's unsampled traceparent (inject).
        yield None, TraceContext.child_of(parent)
        return
    context, trace = _state.context, _state.trace
    assert _state.tracer is not None
    # Not kept but recorded (errors and slow requests are kept): the span and its children
    # are built unsampled, and the tail processor exports them if the request fails or drags.
    attributes = {_ENTRY if keep else _RECORDED: True}
    current = _state.tracer.start_span(
        name, _remote_parent(parent), kind=trace.SpanKind.SERVER, attributes=attributes
    )
    token = context.attach(trace.set_span_in_context(current))
    try:
        yield current, _ids(current)
    finally:
        context.detach(token)
        current.end()


@contextlib.contextmanager
def span(
    name: str, attributes: dict[str, Any] | None = None, *, kind: str = "internal"
) -> Iterator[Any]:
    """A child span of the current one; nothing when tracing is off or the trace is not kept
    (nor outside a request: a background task starts no trace)."""
    if _state.tracer is None or not _state.trace.get_current_span().is_recording():
        yield None
        return
    from opentelemetry.trace import SpanKind

    with _state.tracer.start_as_current_span(
        name, attributes=attributes, kind=SpanKind[kind.upper()]
    ) as current:
        yield current


def _traceparent() -> dict[str, str]:
    """The current span's ``traceparent``, else the unsampled one of the current request."""
    carrier: dict[str, str] = {}
    if _state.trace.get_current_span().get_span_context().is_valid:
        from opentelemetry.propagate import inject as otel_inject

        otel_inject(carrier)
    else:
        from service.common.tracing import current_request

        ctx = current_request.get()
        if ctx is not None:
            carrier["traceparent"] = ctx.trace.traceparent
    return carrier


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add ``traceparent`` to outgoing HTTP headers, so the callee continues (or, for a trace
    that is not kept, also drops) this trace."""
    if _state.tracer is not None:
        headers.update(_traceparent())
    return headers


def kafka_headers() -> list[tuple[str, bytes]]:
    """``traceparent`` as Kafka message headers (empty when tracing is off)."""
    if _state.tracer is None:
        return []
    return [(k, v.encode()) for k, v in _traceparent().items()]


def _extract(headers: Sequence[tuple[str, bytes]]) -> Any:
    from opentelemetry.propagate import extract

    carrier = {k: v.decode("latin-1") for k, v in headers if k in ("traceparent", "tracestate")}
    return extract(carrier) if carrier else None


@contextlib.contextmanager
def consumed(batch_headers: Sequence[Sequence[tuple[str, bytes]]], topic: str) -> Iterator[Any]:
    """The worker's handling of a batch: a child of the first message's producer span, linked
    to the others' (a batch mixes traces); what it calls (ML, database) hangs under it."""
    if _state.tracer is None or not batch_headers:
        yield None
        return
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind

    contexts = [_extract(h) for h in batch_headers]
    parents = [trace.get_current_span(c).get_span_context() for c in contexts if c is not None]
    links = [Link(p) for p in parents[1:] if p.is_valid]
    with _state.tracer.start_as_current_span(
        f"{topic} process",
        context=contexts[0],
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.batch.message_count": len(batch_headers),
            # A message published without tracing starts its own trace, at the ratio.
            _ENTRY: contexts[0] is None and _rng.random() < _state.ratio,
        },
    ) as current:
        yield current


def current_ids() -> TraceContext | None:
    """Trace and span id of the current span, when tracing is on and one is recording."""
    if _state.tracer is None:
        return None
    from opentelemetry import trace

    current = trace.get_current_span()
    if not current.get_span_context().is_valid:
        return None
    return _ids(current)


def exemplar_of(ids: TraceContext) -> dict[str, str] | None:
    """``{"trace_id": ...}`` when the request's trace is kept, for its histogram observation."""
    return {"trace_id": ids.trace_id} if ids.sampled else None


def exemplar() -> dict[str, str] | None:
    """``{"trace_id": ...}`` of the current sampled span, for a histogram observation."""
    if _state.tracer is None:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not (ctx.is_valid and ctx.trace_flags.sampled):
        return None
    return {"trace_id": f"{ctx.trace_id:032x}"}


def instrument_engine(engine: Any) -> None:
    """Spans for every statement of a SQLAlchemy (async) engine."""
    if _state.tracer is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    sync_engine = getattr(engine, "sync_engine", engine)
    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        # Instrumenting wraps create_engine too: engines made since then are traced already.
        return
    # skip_dep_check: the package declares SQLAlchemy < 2.1, but the cursor events it listens
    # to are unchanged in 2.1 (the integration tests check the spans).
    instrumentor.instrument(
        engine=sync_engine,
        tracer_provider=_state.provider,
        enable_commenter=False,
        skip_dep_check=True,
    )


def instrument_redis() -> None:
    """Spans for every Redis command of this process (redis-py, sync and asyncio)."""
    if _state.tracer is None or _state.redis_done:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument(tracer_provider=_state.provider)
    _state.redis_done = True


def finish_server_span(current: Any, method: str, route: str, status: int) -> None:
    """Name the request's span after its route template and record the outcome."""
    if not current.is_recording():
        return
    from opentelemetry.trace import StatusCode

    current.update_name(f"{method} {route}")
    current.set_attribute("http.request.method", method)
    current.set_attribute("http.route", route)
    current.set_attribute("http.response.status_code", status)
    if status >= 500:
        current.set_status(StatusCode.ERROR)


@contextlib.contextmanager
def request_span(name: str, headers: Sequence[tuple[bytes, bytes]]) -> Iterator[Any]:
    """A server span for an ASGI request (``scope["headers"]``); nothing when tracing is off."""
    if _state.tracer is None:
        yield None
        return
    from service.common.tracing import parse_traceparent

    raw = next((v.decode("latin-1") for k, v in headers if k == b"traceparent"), None)
    with server_span(name, parse_traceparent(raw)) as (current, _):
        yield current

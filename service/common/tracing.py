"""W3C trace context and the per-request context that logs read.

A request either continues the caller's trace (a valid ``traceparent`` header) or starts a new
one; either way this service gets its own span id and hands ``traceparent`` back so the caller
can correlate::

    parent = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    ctx = TraceContext.child_of(parent)
    ctx.trace_id == parent.trace_id and ctx.span_id != parent.span_id

The request context is a mutable object in a ContextVar: inner layers (authentication) fill in
``user_id`` and the outer middleware, which logs the access line, sees it.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar
from dataclasses import dataclass, field

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def _random_hex(bits: int) -> str:
    # Identifiers, not secrets: the Mersenne Twister is enough and avoids a syscall each.
    while True:
        value = random.getrandbits(bits)
        if value:
            return f"{value:0{bits // 4}x}"


def _new_span_id() -> str:
    return _random_hex(64)


@dataclass(frozen=True, slots=True)
class TraceContext:
    """One span's identity in a W3C trace."""

    trace_id: str
    span_id: str
    sampled: bool = False
    parent_span_id: str | None = None

    @classmethod
    def new(cls) -> TraceContext:
        return cls(trace_id=_random_hex(128), span_id=_new_span_id())

    @classmethod
    def child_of(cls, parent: TraceContext | None) -> TraceContext:
        if parent is None:
            return cls.new()
        return cls(
            trace_id=parent.trace_id,
            span_id=_new_span_id(),
            sampled=parent.sampled,
            parent_span_id=parent.span_id,
        )

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse_traceparent(value: str | None) -> TraceContext | None:
    """Parse a ``traceparent`` header; ``None`` for anything the spec says to ignore."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceContext(trace_id=trace_id, span_id=span_id, sampled=bool(int(flags, 16) & 1))


def clean_request_id(value: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is safe to log, else a fresh one."""
    if value and _REQUEST_ID.match(value):
        return value
    return _random_hex(128)


@dataclass(slots=True)
class RequestContext:
    """What the logs of one request carry; filled in as the request goes deeper."""

    request_id: str
    trace: TraceContext
    method: str = ""
    endpoint: str | None = None
    user_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


current_request: ContextVar[RequestContext | None] = ContextVar(
    "aqua_current_request", default=None
)

"""Traces as aqua sees them: spans with parents, durations and their share of the whole.

A :class:`Trace` is built from the Jaeger query API's JSON (``/api/traces``), whose times are
microseconds since the epoch and whose parent link is a ``CHILD_OF`` reference::

    trace = Trace.from_jaeger(document["data"][0])
    trace.root.name, trace.duration_ms, trace.hotspot().name

A span's *share* is its duration over the trace's; its *self time* is the part of its
duration that no child covers, so the span that did the waiting (a slow query, not the request
around it) is the :meth:`Trace.hotspot`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sre_cli.errors import Unavailable

__all__ = ["Span", "Trace", "TraceList"]


@dataclass(frozen=True)
class Span:
    """One span; times in microseconds since the epoch, as Jaeger reports them."""

    span_id: str
    parent_id: str | None
    service: str
    name: str
    start_us: int
    duration_us: int
    attributes: Mapping[str, object] = field(default_factory=dict)
    error: bool = False

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us

    @property
    def duration_ms(self) -> float:
        return self.duration_us / 1000.0


def _attributes(tags: object) -> dict[str, object]:
    out: dict[str, object] = {}
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and isinstance(tag.get("key"), str):
                out[tag["key"]] = tag.get("value")
    return out


def _parent(span: Mapping[str, Any]) -> str | None:
    refs = span.get("references") or []
    for ref in refs:
        if isinstance(ref, dict) and ref.get("refType") == "CHILD_OF":
            return str(ref.get("spanID"))
    for ref in refs:  # a span that only follows from another (a link) hangs under it too
        if isinstance(ref, dict) and ref.get("spanID"):
            return str(ref["spanID"])
    return None


def _is_error(attributes: Mapping[str, object]) -> bool:
    return (
        attributes.get("error") in (True, "true") or attributes.get("otel.status_code") == "ERROR"
    )


@dataclass(frozen=True)
class Trace:
    """The spans of one trace, with the tree and the shares computed from them."""

    trace_id: str
    spans: tuple[Span, ...]

    @classmethod
    def from_jaeger(cls, document: Mapping[str, Any]) -> Trace:
        """One element of ``data`` in a ``/api/traces`` answer."""
        try:
            processes = document.get("processes") or {}
            spans = []
            for raw in document["spans"]:
                process = processes.get(raw.get("processID"), {})
                attributes = _attributes(raw.get("tags"))
                spans.append(
                    Span(
                        span_id=str(raw["spanID"]),
                        parent_id=_parent(raw),
                        service=str(process.get("serviceName", "?")),
                        name=str(raw["operationName"]),
                        start_us=int(raw["startTime"]),
                        duration_us=int(raw["duration"]),
                        attributes=attributes,
                        error=_is_error(attributes),
                    )
                )
            trace_id = str(document["traceID"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Unavailable(f"Jaeger returned a trace aqua cannot read: {exc!r}") from exc
        if not spans:
            raise Unavailable(f"Jaeger returned trace {trace_id} without spans")
        spans.sort(key=lambda s: (s.start_us, -s.duration_us))
        known = {s.span_id for s in spans}
        # A parent that is not in the trace (not sampled, not yet flushed) makes a root.
        fixed = tuple(
            s if s.parent_id is None or s.parent_id in known else _orphan(s) for s in spans
        )
        return cls(trace_id=trace_id, spans=fixed)

    # -- structure ---------------------------------------------------------------------------

    @property
    def start_us(self) -> int:
        return min(s.start_us for s in self.spans)

    @property
    def duration_us(self) -> int:
        return max(s.end_us for s in self.spans) - self.start_us

    @property
    def duration_ms(self) -> float:
        return self.duration_us / 1000.0

    @property
    def roots(self) -> tuple[Span, ...]:
        return tuple(s for s in self.spans if s.parent_id is None)

    @property
    def root(self) -> Span:
        """The earliest span without a parent (the longest one if several start together)."""
        return self.roots[0]

    @property
    def services(self) -> tuple[str, ...]:
        """Services in the order they first appear."""
        return tuple(dict.fromkeys(s.service for s in self.spans))

    def span(self, span_id: str) -> Span:
        for s in self.spans:
            if s.span_id == span_id:
                return s
        raise KeyError(span_id)

    def children(self, span: Span) -> tuple[Span, ...]:
        return tuple(s for s in self.spans if s.parent_id == span.span_id)

    def walk(self) -> Iterator[tuple[int, Span]]:
        """Depth-first, children by start time: (depth, span)."""

        def visit(span: Span, depth: int) -> Iterator[tuple[int, Span]]:
            yield depth, span
            for child in self.children(span):
                yield from visit(child, depth + 1)

        for root in self.roots:
            yield from visit(root, 0)

    # -- measures ----------------------------------------------------------------------------

    def share(self, span: Span) -> float:
        """The span's duration as a fraction of the trace's."""
        total = self.duration_us
        return span.duration_us / total if total else 1.0

    def self_us(self, span: Span) -> int:
        """The part of ``span`` no child covers (children clipped to it, overlaps merged)."""
        return span.duration_us - _covered(span, self.children(span))

    def hotspot(self) -> Span:
        """The span with the most self time: where the trace spent its time."""
        return max(self.spans, key=lambda s: (self.self_us(s), -s.start_us))

    def to_json(self) -> dict[str, object]:
        """The trace as ``aqua trace --format json`` prints it (milliseconds, spans in tree
        order)."""
        return {
            "trace_id": self.trace_id,
            "duration_ms": _ms(self.duration_us),
            "root": self.root.name,
            "services": list(self.services),
            "hotspot": self.hotspot().span_id,
            "spans": [
                {
                    "span_id": span.span_id,
                    "parent_id": span.parent_id,
                    "service": span.service,
                    "name": span.name,
                    "duration_ms": _ms(span.duration_us),
                    "self_ms": _ms(self.self_us(span)),
                    "share": round(self.share(span), 4),
                }
                for _, span in self.walk()
            ],
        }


@dataclass(frozen=True)
class TraceList:
    """What ``aqua trace`` reports: traces, and what they are (the search, or nothing)."""

    traces: tuple[Trace, ...]
    title: str = ""

    def to_json(self) -> dict[str, object]:
        return {"traces": [t.to_json() for t in self.traces]}


def _ms(us: int) -> float:
    return round(us / 1000.0, 3)


def _orphan(span: Span) -> Span:
    return dataclasses.replace(span, parent_id=None)


def _covered(span: Span, children: Sequence[Span]) -> int:
    intervals = sorted(
        (max(c.start_us, span.start_us), min(c.end_us, span.end_us)) for c in children
    )
    covered, reach = 0, span.start_us
    for start, end in intervals:
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    return covered

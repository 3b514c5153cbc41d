"""Which span grew: span time per request by span name, in a recent window against a baseline.

A span's time here is its *self time* (what no child covers), so a slow query grows its own
row and not the request around it. Per window, each (service, span name) gets the mean self
time per trace of the window (a trace without that span counts 0: "time per request spent
there"); the rows are ranked by how much that grew::

    rows = span_growth(baseline_traces, recent_traces)
    rows[0].name, rows[0].kind, rows[0].growth_ms      # 'SELECT aqua', 'database', 296.0

:func:`span_kind` names what a span waits on (database, cache, ML, queue) from its
OpenTelemetry attributes and name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sre_cli.trace.model import Span, Trace

__all__ = ["SpanGrowth", "span_growth", "span_kind"]


def span_kind(span: Span) -> str:
    """database, cache, ML, queue or "" (the request itself, authentication, …)."""
    system = str(span.attributes.get("db.system", "") or "")
    name = span.name.lower()
    if system == "redis" or "cache" in name:
        return "cache"
    if system:
        return "database"
    if span.attributes.get("messaging.system"):
        return "queue"
    if span.service.endswith("-ml") or name.startswith(("ml ", "inference")) or "forecast" in name:
        return "ML"
    return ""


@dataclass(frozen=True)
class SpanGrowth:
    """One (service, span name): mean self time per trace before and now, in milliseconds."""

    service: str
    name: str
    kind: str
    baseline_ms: float
    recent_ms: float

    @property
    def growth_ms(self) -> float:
        return self.recent_ms - self.baseline_ms

    @property
    def label(self) -> str:
        """``the database span "SELECT aqua" (aqua-api)``"""
        kind = f"{self.kind} " if self.kind else ""
        return f'the {kind}span "{self.name}" ({self.service})'

    def to_json(self) -> dict[str, object]:
        return {
            "service": self.service,
            "name": self.name,
            "kind": self.kind,
            "baseline_ms": round(self.baseline_ms, 3),
            "recent_ms": round(self.recent_ms, 3),
            "growth_ms": round(self.growth_ms, 3),
        }


def _per_trace(traces: Sequence[Trace]) -> tuple[dict[tuple[str, str], float], dict[str, str]]:
    """Mean self time (ms) per trace of each (service, name), and each one's kind."""
    totals: dict[tuple[str, str], float] = {}
    kinds: dict[str, str] = {}
    for trace in traces:
        for span in trace.spans:
            key = (span.service, span.name)
            totals[key] = totals.get(key, 0.0) + trace.self_us(span) / 1000.0
            kinds.setdefault(f"{span.service}\0{span.name}", span_kind(span))
    count = len(traces) or 1
    return {k: v / count for k, v in totals.items()}, kinds


def span_growth(baseline: Sequence[Trace], recent: Sequence[Trace]) -> list[SpanGrowth]:
    """Every span name of either window, the one that grew most first (ties by name)."""
    before, kinds = _per_trace(baseline)
    now, recent_kinds = _per_trace(recent)
    kinds.update(recent_kinds)
    rows = [
        SpanGrowth(
            service, name, kinds[f"{service}\0{name}"], before.get(key, 0.0), now.get(key, 0.0)
        )
        for key in sorted(set(before) | set(now))
        for service, name in [key]
    ]
    rows.sort(key=lambda r: (-r.growth_ms, r.service, r.name))
    return rows

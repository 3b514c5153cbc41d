"""Traces for people and for programs: a tree of spans in the terminal, JSON otherwise.

The terminal shows each trace as the tree of its spans with their start offset, duration,
share of the whole and a bar, and names the span with the most self time. JSON::

    {"traces": [{"trace_id": "...", "duration_ms": 312.4, "root": "GET /api/v1/ponds",
                 "services": ["api"], "hotspot": "b7ad6b7169203331",
                 "spans": [{"span_id": "...", "parent_id": null, "service": "api",
                            "name": "GET /api/v1/ponds", "duration_ms": 312.4,
                            "self_ms": 5.1, "share": 1.0}]}]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from sre_cli.trace.model import Span, Trace

__all__ = ["TraceReport", "trace_json"]

_BAR = 20


def _ms(us: int) -> float:
    return round(us / 1000.0, 3)


def trace_json(trace: Trace) -> dict[str, object]:
    return {
        "trace_id": trace.trace_id,
        "duration_ms": _ms(trace.duration_us),
        "root": trace.root.name,
        "services": list(trace.services),
        "hotspot": trace.hotspot().span_id,
        "spans": [
            {
                "span_id": span.span_id,
                "parent_id": span.parent_id,
                "service": span.service,
                "name": span.name,
                "duration_ms": _ms(span.duration_us),
                "self_ms": _ms(trace.self_us(span)),
                "share": round(trace.share(span), 4),
            }
            for _, span in trace.walk()
        ],
    }


def _bar(trace: Trace, span: Span) -> Text:
    """Where the span sits in the trace's timeline, ``_BAR`` cells wide."""
    total = trace.duration_us or 1
    start = round((span.start_us - trace.start_us) / total * _BAR)
    width = max(1, round(span.duration_us / total * _BAR))
    start = min(start, _BAR - width)
    return Text("·" * start + "█" * width + "·" * (_BAR - start - width), style="cyan")


def _table(trace: Trace) -> Table:
    hot = trace.hotspot()
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("span", overflow="fold")
    table.add_column("service")
    table.add_column("start ms", justify="right")
    table.add_column("duration ms", justify="right")
    table.add_column("share", justify="right")
    table.add_column("timeline", no_wrap=True)
    for depth, span in trace.walk():
        name = Text("  " * depth + ("└ " if depth else "") + span.name)
        if span is hot:
            name.stylize("bold yellow")
        if span.error:
            name.append(" (error)", style="red")
        table.add_row(
            name,
            span.service,
            f"+{(span.start_us - trace.start_us) / 1000:.1f}",
            f"{span.duration_ms:.1f}",
            f"{trace.share(span):.0%}",
            _bar(trace, span),
        )
    return table


def _heading(trace: Trace) -> Text:
    hot = trace.hotspot()
    text = Text()
    text.append(f"trace {trace.trace_id}", style="bold")
    text.append(f"  {trace.root.name}  {trace.duration_ms:.1f} ms, ")
    text.append(f"{len(trace.spans)} spans in {', '.join(trace.services)}\n")
    text.append("most time in: ")
    text.append(f"{hot.service} {hot.name}", style="bold yellow")
    text.append(f" ({trace.self_us(hot) / 1000:.1f} ms of its own, {trace.share(hot):.0%})")
    return text


@dataclass(frozen=True)
class TraceReport:
    """Traces to print; ``title`` says what they are (the search, or the id asked for)."""

    traces: Sequence[Trace]
    title: str = ""

    def to_json(self) -> dict[str, object]:
        return {"traces": [trace_json(t) for t in self.traces]}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.title:
            yield Text(self.title, style="dim")
        for index, trace in enumerate(self.traces):
            if index or self.title:
                yield Text("")
            yield _heading(trace)
            yield _table(trace)

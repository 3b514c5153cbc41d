"""Traces in the terminal: each one as the tree of its spans.

Per span its start offset, duration, share of the whole and a timeline bar; per trace the
span with the most time of its own. (JSON is the result's own ``to_json``: :mod:`.model`)::

    emit(TraceList(traces, "title"), fmt, draw)
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from sre_cli.table import FitTable
from sre_cli.trace.model import Span, Trace, TraceList

__all__ = ["draw"]

_BAR = 20


def _bar(trace: Trace, span: Span) -> Text:
    """Where the span sits in the trace's timeline, ``_BAR`` cells wide."""
    total = trace.duration_us or 1
    start = round((span.start_us - trace.start_us) / total * _BAR)
    width = max(1, round(span.duration_us / total * _BAR))
    start = min(start, _BAR - width)
    return Text("·" * start + "█" * width + "·" * (_BAR - start - width), style="cyan")


def _table(trace: Trace) -> FitTable:
    hot = trace.hotspot()
    table = FitTable(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("span")
    table.add_column("service")
    table.add_column("start ms", justify="right")
    table.add_column("duration ms", justify="right")
    table.add_column("share", justify="right")
    table.add_column("timeline")
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


def draw(result: TraceList) -> RenderableType:
    """The title (dim), then each trace's heading and span tree."""
    parts: list[RenderableType] = []
    if result.title:
        parts.append(Text(result.title, style="dim"))
    for index, trace in enumerate(result.traces):
        if index or result.title:
            parts.append(Text(""))
        parts += [_heading(trace), _table(trace)]
    return Group(*parts)

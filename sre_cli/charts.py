"""The one chart module of aqua's HTML pages (the SLO report, the dashboards): inline SVG line
charts over time and the standalone page shell with its stylesheet. No scripts and no external
resources, so a page is one file that opens anywhere::

    svg = line_chart([Line("p99", points)], Frame(t0, t1), fmt=lambda v: f"{v:g} s")
    text = document("title", "<h1>…</h1>" + svg)
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["CSS", "PALETTE", "Frame", "Line", "Rule", "document", "line_chart", "stamp"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1f2328;
background:#fff;max-width:1200px}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:0}
.sub{color:#57606a;margin:0 0 1.5rem}
section{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.25rem;margin:0 0 1.25rem}
.head{display:flex;gap:.75rem;align-items:baseline;flex-wrap:wrap;margin-bottom:.75rem}
.badge{font-size:.8rem;font-weight:600;padding:.1rem .5rem;border-radius:1rem;color:#fff}
.facts{color:#57606a;font-size:.9rem}
.grid{display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse;font-size:.85rem}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right}
th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}
caption{text-align:left;font-weight:600;padding:0 0 .25rem}
svg text{font-family:inherit;font-size:11px;fill:#57606a}
"""

#: line colours in order (Grafana's classic palette, readable on white)
PALETTE = (
    "#0969da",
    "#1a7f37",
    "#bf8700",
    "#cf222e",
    "#8250df",
    "#1b7c83",
    "#bc4c00",
    "#57606a",
)


def stamp(ts: float, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """A Unix time as UTC text (the x-axis ends, page headlines)."""
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


@dataclass(frozen=True)
class Line:
    """One series: ``points`` are (unix time, value); NaN values break the line."""

    name: str
    points: Sequence[tuple[float, float]]
    colour: str = PALETTE[0]
    css_class: str = "series"
    fill: bool = False  # shade the area between the line and zero


@dataclass(frozen=True)
class Rule:
    """A horizontal line across the plot at ``value`` (a zero line, a threshold)."""

    value: float
    colour: str = "#cf222e"
    dashed: bool = True


@dataclass(frozen=True)
class Frame:
    """The time range on the x-axis and, optionally, a fixed value range and its ticks."""

    t0: float
    t1: float
    low: float | None = None  # None: from the data
    high: float | None = None
    ticks: Sequence[float] = field(default_factory=tuple)  # empty: low, middle, high


def _finite(lines: Sequence[Line]) -> list[float]:
    return [v for line in lines for _, v in line.points if math.isfinite(v)]


def _segments(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """The runs of finite values: a gap (NaN) in the data is a gap in the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in points:
        if math.isfinite(v):
            runs[-1].append((t, v))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def line_chart(
    lines: Sequence[Line],
    frame: Frame,
    *,
    fmt: Callable[[float], str],
    rules: Sequence[Rule] = (),
    width: int = 520,
    height: int = 200,
    label: str = "chart",
) -> str:
    """An SVG element: the lines over ``frame``, y ticks written with ``fmt``, the rules, and
    the range's ends under the x-axis. The caller says what to show when there is no data."""
    left, right, top, bottom = 72, 10, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    values = _finite(lines) + [r.value for r in rules]
    low = frame.low if frame.low is not None else min(values, default=0.0)
    high = frame.high if frame.high is not None else max(values, default=1.0)
    if frame.low is None and low > 0 and low < high * 0.5:
        low = 0.0  # a rate or latency reads best from zero
    if high == low:
        high, low = high + (abs(high) or 1.0) * 0.5, low - (abs(low) or 1.0) * 0.5
    t0, t1 = frame.t0, max(frame.t1, frame.t0 + 1)
    span_t, span_v = t1 - t0, high - low

    def x(t: float) -> float:
        return left + (t - t0) / span_t * plot_w

    def y(v: float) -> float:
        return top + (high - v) / span_v * plot_h

    ticks = frame.ticks or (high, (high + low) / 2, low)
    grid = "".join(
        f"<line x1='{left}' x2='{left + plot_w}' y1='{y(v):.1f}' y2='{y(v):.1f}' "
        f"stroke='#eaeef2'/><text x='{left - 6}' y='{y(v) + 4:.1f}' text-anchor='end'>"
        f"{html.escape(fmt(v))}</text>"
        for v in ticks
    )
    drawn = []
    for line in lines:
        for run in _segments(line.points):
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            if line.fill:
                zero = y(min(max(0.0, low), high))
                area = f"{x(run[0][0]):.1f},{zero:.1f} {coords} {x(run[-1][0]):.1f},{zero:.1f}"
                drawn.append(f"<polygon points='{area}' fill='{line.colour}' fill-opacity='0.12'/>")
            if len(run) == 1:  # one sample: a dot, or it would be invisible
                (t, v) = run[0]
                drawn.append(
                    f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='2' fill='{line.colour}'/>"
                )
                continue
            drawn.append(
                f"<polyline class='{line.css_class}' fill='none' stroke='{line.colour}' "
                f"stroke-width='2' points='{coords}'/>"
            )
    dash = " stroke-dasharray='4 3'"
    ruled = "".join(
        f"<line x1='{left}' x2='{left + plot_w}' y1='{y(r.value):.1f}' y2='{y(r.value):.1f}' "
        f"stroke='{r.colour}'{dash if r.dashed else ''}/>"
        for r in rules
        if low <= r.value <= high
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{html.escape(label)}'>"
        f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='#fbfcfd' "
        "stroke='#d0d7de'/>"
        f"{grid}{''.join(drawn)}{ruled}"
        f"<text x='{left}' y='{height - 6}'>{stamp(t0)}</text>"
        f"<text x='{left + plot_w}' y='{height - 6}' text-anchor='end'>{stamp(t1)}</text></svg>"
    )


def document(title: str, body: str, css: str = "", refresh: int | None = None) -> str:
    """A standalone HTML document: the shared stylesheet plus ``css``, then ``body``; reloaded
    every ``refresh`` seconds when given (a served page that follows the data)."""
    reload = f"<meta http-equiv='refresh' content='{refresh}'>" if refresh else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'>{reload}"
        f"<title>{html.escape(title)}</title><style>{CSS}{css}</style></head><body>"
        f"{body}</body></html>\n"
    )

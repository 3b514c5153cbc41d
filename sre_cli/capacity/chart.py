"""A forecast as a picture: history, forecast, band and limit, in text or as SVG.

The terminal chart is a grid of characters, one column per time slot::

    ● history   ━ forecast   ░ band   ┄ limit   │ now

``text_chart`` returns plain lines (no markup), ``svg_chart`` a standalone ``<svg>`` element;
both draw from the forecast's stored ``history`` and ``path`` only.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from sre_cli.capacity.units import number

if TYPE_CHECKING:
    from sre_cli.capacity.forecast import Forecast

__all__ = ["svg_chart", "text_chart"]


def _extent(f: Forecast) -> tuple[float, float, float, float]:
    times = [t for t, _ in f.history] + [p[0] for p in f.path]
    values = [v for _, v in f.history] + [x for p in f.path for x in p[1:]] + [f.limit]
    if f.target.act is not None:
        values.append(f.target.act)
    low, high = min(values), max(values)
    if high == low:
        high, low = high + 1, low - 1
    return min(times), max(times), low, high


def text_chart(f: Forecast, width: int = 72, height: int = 12) -> list[str]:
    """The chart as ``height`` + 2 lines of at most ``width`` + 10 characters."""
    if not f.history or not f.path:
        return []
    t0, t1, low, high = _extent(f)
    cells = [[" "] * width for _ in range(height)]

    def col(t: float) -> int:
        return min(width - 1, max(0, round((t - t0) / (t1 - t0 or 1) * (width - 1))))

    def row(v: float) -> int:
        return min(height - 1, max(0, round((high - v) / (high - low) * (height - 1))))

    for t, _, lower, upper in f.path:
        for r in range(row(upper), row(lower) + 1):
            cells[r][col(t)] = "░"
    for c in range(width):
        if cells[row(f.limit)][c] == " ":
            cells[row(f.limit)][c] = "┄"
    now = col(f.at)
    for r in range(height):
        if cells[r][now] in {" ", "┄"}:
            cells[r][now] = "│"
    for t, v in f.history:
        cells[row(v)][col(t)] = "●"
    for t, mean, _, _ in f.path:
        cells[row(mean)][col(t)] = "━"
    labels = {0: number(high), row(f.limit): number(f.limit), height - 1: number(low)}
    lines = [f"{labels.get(r, ''):>8} {''.join(cells[r])}" for r in range(height)]
    axis = [" "] * width
    for start, text in (
        (0, f"-{(f.at - t0) / 86400:.0f}d"),
        (max(0, now - 1), "now"),
        (width - 4, f"+{(t1 - f.at) / 86400:.0f}d"),
    ):
        axis[start : start + len(text)] = text
    lines.append(f"{'':>8} {''.join(axis)[: width + 4]}")
    lines.append(f"{'':>8} ● history  ━ forecast  ░ 90% band  ┄ limit  │ now")
    return lines


def svg_chart(f: Forecast, width: int = 480, height: int = 160) -> str:
    """History (blue), forecast (dark), band (shaded), limit (red dashes), now (grey)."""
    if not f.history or not f.path:
        return "<svg width='0' height='0'></svg>"
    t0, t1, low, high = _extent(f)
    pad = 4

    def x(t: float) -> float:
        return pad + (t - t0) / (t1 - t0 or 1) * (width - 2 * pad)

    def y(v: float) -> float:
        return pad + (high - v) / (high - low) * (height - 2 * pad)

    def points(pairs: list[tuple[float, float]]) -> str:
        return " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pairs)

    band = [(t, u) for t, _, _, u in f.path] + [(t, lo) for t, _, lo, _ in reversed(f.path)]
    title = html.escape(f"{f.target.name}: history, forecast, 90% band and limit")
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img'><title>{title}</title>"
        f"<polygon class='band' fill='#90caf9' fill-opacity='0.5' points='{points(band)}'/>"
        f"<polyline class='history' fill='none' stroke='#1565c0' stroke-width='1.5' "
        f"points='{points(list(f.history))}'/>"
        f"<polyline class='forecast' fill='none' stroke='#263238' stroke-width='2' "
        f"points='{points([(t, m) for t, m, _, _ in f.path])}'/>"
        f"<line class='limit' x1='{pad}' x2='{width - pad}' y1='{y(f.limit):.1f}' "
        f"y2='{y(f.limit):.1f}' stroke='#c62828' stroke-dasharray='6 4'/>"
        f"<line class='now' x1='{x(f.at):.1f}' x2='{x(f.at):.1f}' y1='{pad}' "
        f"y2='{height - pad}' stroke='#9e9e9e'/></svg>"
    )

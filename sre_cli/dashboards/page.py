"""The dashboards as one self-contained HTML page (inline CSS and SVG, no scripts): per
dashboard a section, per panel a card: a time series as lines with a legend, a stat or gauge
as its last value coloured by the panel's thresholds, a table as a table. A panel whose query
failed shows the error; one whose query found nothing says "no data"::

    text = page(board)          # board = engine.evaluate(...)
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

from sre_cli.charts import PALETTE, Frame, Line, document, line_chart, stamp

if TYPE_CHECKING:
    from sre_cli.dashboards.engine import Board, DashboardResult, PanelResult
    from sre_cli.dashboards.spec import Threshold

__all__ = ["format_value", "page", "panel_html"]

_CSS = """
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:1rem}
.panel{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .75rem;margin:0}
.panel h3{font-size:.95rem;margin:0 0 .4rem}
.legend{display:flex;flex-wrap:wrap;gap:.25rem .9rem;font-size:.8rem;color:#1f2328;margin:.25rem 0}
.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
.stats{display:flex;flex-wrap:wrap;gap:1rem;padding:.5rem 0}
.stat{font-size:2.2rem;font-weight:600}.stat small{display:block;font-size:.8rem;font-weight:400;
color:#57606a}
.error{color:#cf222e;background:#ffebe9;border-radius:4px;padding:.4rem .6rem;font-size:.85rem;
white-space:pre-wrap;margin:.25rem 0}
.nodata{color:#57606a;font-style:italic;padding:2rem 0;text-align:center}
nav a{margin-right:1rem}
"""

#: Grafana's named colours used in thresholds, as this page draws them
_COLOURS = {
    "green": "#1a7f37",
    "red": "#cf222e",
    "yellow": "#bf8700",
    "orange": "#bc4c00",
    "blue": "#0969da",
    "purple": "#8250df",
    "text": "#1f2328",
}

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_BYTES = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def _number(value: float, decimals: int | None) -> str:
    if decimals is not None:
        return f"{value:.{decimals}f}"
    magnitude = abs(value)
    if magnitude == 0 or magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.2f}"
    return f"{value:.2g}"


def _scaled(value: float, steps: tuple[tuple[float, str], ...], decimals: int | None) -> str:
    for size, suffix in steps:
        if abs(value) >= size:
            return f"{_number(value / size, decimals)} {suffix}"
    return _number(value, decimals)


def _seconds(value: float, decimals: int | None) -> str:
    magnitude = abs(value)
    if magnitude == 0:
        return "0 s"
    if magnitude < 1e-3:
        return f"{_number(value * 1e6, decimals)} µs"
    if magnitude < 1:
        return f"{_number(value * 1e3, decimals)} ms"
    if magnitude < 120:
        return f"{_number(value, decimals)} s"
    if magnitude < 7200:
        return f"{_number(value / 60, decimals)} min"
    return f"{_number(value / 3600, decimals)} h"


def format_value(value: float | None, unit: str, decimals: int | None = None) -> str:
    """``value`` in Grafana's ``unit`` (fieldConfig.defaults.unit): ``percentunit`` 0.42 →
    "42.0%", ``s`` 0.0123 → "12.3 ms", ``reqps`` → "req/s", ``bytes`` binary prefixes,
    ``short`` and unknown units with SI prefixes."""
    if value is None or not math.isfinite(value):
        return "—"
    if unit == "percentunit":
        return f"{_number(value * 100, decimals if decimals is not None else 1)}%"
    if unit == "percent":
        return f"{_number(value, decimals if decimals is not None else 1)}%"
    if unit == "s":
        return _seconds(value, decimals)
    if unit == "ms":
        return _seconds(value / 1e3, decimals)
    if unit in ("bytes", "decbytes"):
        return _scaled(value, _BYTES, decimals) + ("" if abs(value) >= 1024 else " B")
    suffix = {"reqps": " req/s", "ops": " ops/s", "rps": " req/s", "cps": " /s"}.get(unit, "")
    return _scaled(value, _SI, decimals) + suffix


def _threshold_colour(value: float | None, thresholds: tuple[Threshold, ...]) -> str:
    """The colour of the highest step ``value`` reaches (Grafana's absolute thresholds)."""
    colour = "#1f2328"
    if value is None:
        return colour
    for step in thresholds:
        if step.value is None or value >= step.value:
            colour = _COLOURS.get(
                step.colour, step.colour if step.colour.startswith("#") else colour
            )
    return colour


def _errors(result: PanelResult) -> str:
    return "".join(f"<p class='error'>{html.escape(e)}</p>" for e in result.errors)


def _timeseries(result: PanelResult, board: Board, index: int) -> str:
    panel = result.panel
    lines = [Line(s.name, s.points, PALETTE[i % len(PALETTE)]) for i, s in enumerate(result.series)]
    svg = line_chart(
        lines,
        Frame(board.start, board.end),
        fmt=lambda v: format_value(v, panel.unit, panel.decimals),
        width=520,
        height=190,
        label=panel.title,
    )
    legend = "".join(
        f"<span><i style='background:{line.colour}'></i>{html.escape(line.name)} "
        f"<b>{html.escape(format_value(s.last, panel.unit, panel.decimals))}</b></span>"
        for line, s in zip(lines, result.series, strict=True)
    )
    return f"{svg}<div class='legend'>{legend}</div>"


def _stats(result: PanelResult) -> str:
    panel = result.panel
    cells = []
    for s in result.series:
        value = s.last
        colour = _threshold_colour(value, panel.thresholds)
        text = html.escape(format_value(value, panel.unit, panel.decimals))
        name = html.escape(s.name) if len(result.series) > 1 else ""
        cells.append(f"<div class='stat' style='color:{colour}'>{text}<small>{name}</small></div>")
    return f"<div class='stats'>{''.join(cells)}</div>"


def _table(result: PanelResult) -> str:
    panel = result.panel
    keys = sorted({k for s in result.series for k in s.labels if k != "__name__"})
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "<th>value</th>"
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(s.labels.get(k, ''))}</td>" for k in keys)
        + f"<td>{html.escape(format_value(s.last, panel.unit, panel.decimals))}</td></tr>"
        for s in result.series
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def panel_html(result: PanelResult, board: Board, index: int = 0) -> str:
    """One panel as a ``<figure>``: its errors, then its drawing or "no data"."""
    panel = result.panel
    title = f"<h3>{html.escape(panel.title)}</h3>"
    state = "error" if result.errors else "data" if result.has_data else "nodata"
    body = _errors(result)
    if not result.has_data:
        if not result.errors:
            body += "<p class='nodata'>no data</p>"
    elif panel.kind in ("stat", "gauge", "bargauge"):
        body += _stats(result)
    elif panel.kind == "table":
        body += _table(result)
    else:
        body += _timeseries(result, board, index)
    tip = f" title='{html.escape(panel.description)}'" if panel.description else ""
    kind = html.escape(panel.kind)
    return f"<figure class='panel {state}' data-kind='{kind}'{tip}>{title}{body}</figure>"


def _section(result: DashboardResult, board: Board) -> str:
    d = result.dashboard
    about = f"<p class='facts'>{html.escape(d.description)}</p>" if d.description else ""
    panels = "".join(panel_html(p, board, i) for i, p in enumerate(result.panels))
    return (
        f"<section id='{html.escape(d.uid)}'><div class='head'><h2>{html.escape(d.title)}</h2>"
        f"</div>{about}<div class='panels'>{panels}</div></section>"
    )


def page(board: Board, title: str = "aqua dashboards", refresh: int | None = None) -> str:
    """Every dashboard of ``board`` as one standalone HTML document (reloading itself every
    ``refresh`` seconds when served)."""
    span = f"{stamp(board.start)} – {stamp(board.end)}"
    nav = "".join(
        f"<a href='#{html.escape(d.dashboard.uid)}'>{html.escape(d.dashboard.title)}</a>"
        for d in board.dashboards
    )
    body = "".join(_section(d, board) for d in board.dashboards)
    head = (
        f"<h1>{html.escape(title)}</h1><p class='sub'>{span} · step {board.step:g} s · "
        f"from {html.escape(board.prometheus)}</p><nav>{nav}</nav><p></p>"
    )
    return document(f"{title} {stamp(board.end)}", head + body, _CSS, refresh)

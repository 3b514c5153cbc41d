"""``aqua slo report --format html``: one self-contained page (inline CSS and SVG, no scripts,
no external resources). Per SLO: a headline with status and alert state, the error-budget
burn-down over the window as SVG, and the burn-rate windows table (every alert tier's short and
long window, its threshold, and whether it fires)::

    text = page(report, load_tiers())
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sre_cli.charts import Frame, Line, Rule, document, line_chart, stamp
from sre_cli.slo.windows import BURN_RATE_WINDOWS
from sre_cli.timespec import format_duration

if TYPE_CHECKING:
    from sre_cli.slo.engine import Report, SLOResult
    from sre_cli.slo.windows import Tier

__all__ = ["burn_down_svg", "page"]

#: what the SLO report adds to the shared stylesheet of :mod:`sre_cli.charts`
_CSS = """
section.breached{border-left:6px solid #cf222e}section.warning{border-left:6px solid #bf8700}
section.ok{border-left:6px solid #1a7f37}section.no_data{border-left:6px solid #8c959f}
.b-ok{background:#1a7f37}.b-warning{background:#9a6700}.b-breached{background:#cf222e}
.b-no_data{background:#6e7781}.b-firing{background:#cf222e}.b-quiet{background:#8c959f}
tr.firing td{background:#ffebe9;font-weight:600}
table.rates{margin-top:1rem}
"""


def _pct(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def burn_down_svg(r: SLOResult, width: int = 520, height: int = 200) -> str:
    """The budget left over the window so far: a line from the window start to now, the zero
    line dashed red; an SVG element with axes labels, or a note when there are no points."""
    points = r.burn_down
    if len(points) < 2:
        return "<p class='facts'>No burn-down: too few points in the window.</p>"
    colour = {"breached": "#cf222e", "warning": "#9a6700"}.get(r.status, "#0969da")
    frame = Frame(
        r.window_start,
        max(points[-1][0], r.window_start + 1),
        low=min(0.0, *(v for _, v in points)),
        high=max(1.0, *(v for _, v in points)),
        ticks=(1.0, 0.5, 0.0),
    )
    return line_chart(
        [Line("budget left", points, colour, css_class="burn-down", fill=True)],
        frame,
        fmt=lambda v: f"{v * 100:.0f}%",
        rules=[Rule(0.0)],
        width=width,
        height=height,
        label=f"error budget burn-down of {r.slo.service}/{r.slo.name}",
    )


def _windows_table(r: SLOResult, tiers: Sequence[Tier]) -> str:
    """Each tier: its windows' burn rates against its threshold, and whether it fires."""
    rows = []
    for tier in tiers:
        factor = tier.factor(r.slo.window.nominal)
        short, long = format_duration(tier.short), format_duration(tier.long)
        firing = r.tiers.get(tier.name, False)
        cells = [
            tier.name,
            f"{short} / {long}",
            f"{factor:g}×",
            _rate(r.burn_rates.get(short)),
            _rate(r.burn_rates.get(long)),
            "firing" if firing else "quiet",
        ]
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        rows.append(f"<tr class='{'firing' if firing else 'quiet'}'>{tds}</tr>")
    head = ["tier", "short / long", "threshold", "burn short", "burn long", "state"]
    ths = "".join(f"<th>{h}</th>" for h in head)
    windows = "".join(f"<th>{w}</th>" for w in BURN_RATE_WINDOWS)
    rates = "".join(f"<td>{_rate(r.burn_rates.get(w))}</td>" for w in BURN_RATE_WINDOWS)
    return (
        f"<table class='tiers'><caption>Burn-rate alert tiers</caption><thead><tr>{ths}</tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        "<table class='rates'><caption>Burn rate by window</caption><thead><tr><th>window</th>"
        f"{windows}</tr></thead><tbody><tr><td>burn rate</td>{rates}</tr></tbody></table>"
    )


def _section(r: SLOResult, tiers: Sequence[Tier]) -> str:
    alerts = "".join(
        f"<span class='badge b-{'firing' if on else 'quiet'}'>{sev}: "
        f"{'firing' if on else 'quiet'}</span>"
        for sev, on in r.alerts.items()
    )
    left = r.remaining_minutes
    facts = [
        f"objective {r.slo.objective:g}% over {r.slo.window.label}",
        f"SLI {_pct(r.sli)}",
        f"budget left {_pct(r.budget_remaining, 1)}"
        + ("" if left is None else f" ({left:,.1f} min)"),
    ]
    if r.total is not None:
        facts.append(f"bad / total {r.bad or 0:,.0f} / {r.total:,.0f}")
    caption = (
        "<figcaption class='facts'>Error budget left over the window</figcaption>"
        if len(r.burn_down) >= 2
        else ""
    )
    return (
        f"<section class='{r.status}' id='{html.escape(r.slo.id)}'><div class='head'>"
        f"<h2>{html.escape(f'{r.slo.service}/{r.slo.name}')}</h2>"
        f"<span class='badge b-{r.status}'>{r.status}</span>{alerts}</div>"
        f"<p class='facts'>{html.escape(' · '.join(facts))}</p>"
        f"<div class='grid'><figure style='margin:0'>{burn_down_svg(r)}{caption}</figure>"
        f"<div>{_windows_table(r, tiers)}</div></div></section>"
    )


def page(report: Report, tiers: Sequence[Tier]) -> str:
    """The whole report as one standalone HTML document."""
    when = stamp(report.evaluated_at)
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no SLOs"
    body = "".join(_section(r, tiers) for r in report.results)
    return document(
        f"SLO report {when}",
        f"<h1>SLO report</h1><p class='sub'>Evaluated at {when} · {summary}</p>{body}",
        _CSS,
    )

"""Forecasts drawn: a rich table, replica plans, and an HTML page with SVG charts.

The JSON contract is :meth:`sre_cli.capacity.report.CapacityReport.to_json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sre_cli.capacity.units import number
from sre_cli.timespec import rfc3339

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.text import Text

    from sre_cli.capacity.forecast import Forecast
    from sre_cli.capacity.replicas import ReplicaPlan
    from sre_cli.capacity.report import CapacityReport
    from sre_cli.table import FitTable

__all__ = [
    "html_page",
    "labels_text",
    "number",
    "replicas_table",
    "report_view",
    "rfc3339",
    "table",
]

_STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "no_data": "dim"}


def _days(f: Forecast, at: float | None) -> str:
    return "—" if at is None else f"{(at - f.at) / 86400:.1f}d"


def _span(seconds: float) -> str:
    """A short duration: 25m, 5.1h, 2.3d."""
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _when(f: Forecast) -> str:
    if f.status == "no_data":
        return "—"
    e = f.exhausted
    if e.likely is None:
        if e.earliest is None:
            return "not within horizon"
        return f"band reaches it in {_days(f, e.earliest)}"
    early = "—" if e.earliest is None else f"-{_span(e.likely - e.earliest)}"
    late = "beyond horizon" if e.latest is None else f"+{_span(e.latest - e.likely)}"
    return f"{rfc3339(e.likely)} (in {_days(f, e.likely)}; band {early} {late})"


def _model(f: Forecast) -> str:
    if f.model is None:
        return "—"
    error = f.backtest_error
    return f.model if error is None else f"{f.model} {error:.2g}%"


def labels_text(labels: dict[str, str]) -> str:
    shown = {k: v for k, v in sorted(labels.items()) if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "—"


def table(at: float, forecasts: Sequence[Forecast]) -> FitTable:
    """One row per forecast; labels and the exhaustion date wrap between words, and at 80
    columns what does not fit beside the forecast's name goes under it."""
    from rich.text import Text

    from sre_cli.table import FitTable

    t = FitTable(title=f"Capacity forecast at {rfc3339(at)}", title_justify="left")
    for column, justify in (
        ("forecast", "left"),
        ("series", "left"),
        ("current", "right"),
        ("trend/day", "right"),
        ("peak [band]", "right"),
        ("limit", "right"),
        ("headroom", "right"),
        ("exhausted", "left"),
        ("status", "left"),
        ("model, error", "left"),
        ("samples", "right"),
    ):
        wrap = column in {"series", "exhausted"}
        t.add_column(column, justify=justify, wrap=wrap)  # type: ignore[arg-type]
    for f in forecasts:
        pct = f.headroom_pct
        headroom = number(f.headroom) + ("" if pct is None else f" ({pct:.0f}%)")
        style = _STYLE[f.status]
        t.add_row(
            f.target.name,
            labels_text(f.labels),
            number(f.current),
            number(f.trend_per_day, signed=True),
            _peak(f),
            ("≥ " if f.direction == "floor" else "") + number(f.limit) + f.target.unit,
            headroom if f.headroom is not None else "—",
            _when(f),
            Text(f.status, style),
            _model(f),
            str(f.samples),
        )
    return t


def _peak(f: Forecast) -> str:
    if f.band is None:
        return number(f.peak)
    return f"{number(f.peak)} [{number(f.band.lower)}…{number(f.band.upper)}]"


def replicas_table(plans: Sequence[ReplicaPlan]) -> FitTable:
    from rich.text import Text

    from sre_cli.table import FitTable

    t = FitTable(title="Replicas at the horizon (N+1)", title_justify="left")
    for column in ("deployment", "series", "per replica", "peak [upper]", "needed", "HPA max"):
        left = column in {"deployment", "series"}
        t.add_column(column, justify="left" if left else "right", wrap=column == "series")
    t.add_column("verdict")
    for r in plans:
        verdict = (
            Text("HPA unknown", "dim")
            if r.enough is None
            else Text("enough", "green")
            if r.enough
            else Text("raise maxReplicas", "bold red")
        )
        t.add_row(
            r.deployment,
            labels_text(r.labels),
            f"{number(r.per_replica)}/s",
            f"{number(r.peak)} [{number(r.peak_upper)}]",
            f"{r.needed} ({r.needed_likely} likely)",
            "—" if r.max_replicas is None else str(r.max_replicas),
            verdict,
        )
    return t


def html_page(
    at: float,
    forecasts: Sequence[Forecast],
    replicas: Sequence[ReplicaPlan] = (),
    what_if: float = 1.0,
) -> str:
    """A standalone HTML page: one row per forecast with its SVG chart, then the replicas."""
    import html

    from sre_cli.capacity.chart import svg_chart

    head = ["forecast", "series", "current", "peak [band]", "limit", "exhausted", "model"]
    head += ["status", "chart"]
    rows = []
    for f in forecasts:
        cells = [
            f.target.name,
            labels_text(f.labels),
            number(f.current),
            _peak(f),
            ("≥ " if f.direction == "floor" else "") + number(f.limit),
            _when(f),
            _model(f),
            f.status,
        ]
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        rows.append(f"<tr class='{f.status}'>{tds}<td>{svg_chart(f)}</td></tr>")
    plan_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in (
                r.deployment,
                labels_text(r.labels),
                f"{number(r.per_replica)}/s",
                f"{number(r.peak)} [{number(r.peak_upper)}]",
                str(r.needed),
                "—" if r.max_replicas is None else str(r.max_replicas),
                "HPA unknown"
                if r.enough is None
                else "enough"
                if r.enough
                else "raise maxReplicas",
            )
        )
        + "</tr>"
        for r in replicas
    )
    plans = (
        "<h2>Replicas at the horizon (N+1)</h2><table><thead><tr><th>deployment</th><th>series</th>"
        "<th>per replica</th><th>peak [upper]</th><th>needed</th><th>HPA max</th>"
        f"<th>verdict</th></tr></thead><tbody>{plan_rows}</tbody></table>"
        if replicas
        else ""
    )
    ths = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    when = rfc3339(at)
    scenario = f" (what if traffic × {what_if:g})" if what_if != 1 else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Capacity forecast {when}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child{text-align:left}"
        ".critical td{background:#fdecea}.warning td{background:#fff8e1}.no_data td{color:#888}"
        f"</style></head><body><h1>Capacity forecast at {when}{html.escape(scenario)}</h1>"
        f"<table><thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"{plans}</body></html>\n"
    )


class _Chart:
    """A forecast's text chart as wide as the console allows: a chart line is its plot plus
    13 columns of labels, and the plot takes at most 72."""

    def __init__(self, forecast: Forecast) -> None:
        self.forecast = forecast

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        from rich.text import Text

        from sre_cli.capacity.chart import text_chart
        from sre_cli.table import wrap_words

        f = self.forecast
        lines = text_chart(f, width=max(20, min(72, options.max_width - 13)))
        if lines:
            yield wrap_words(Text(f"{f.target.name} {labels_text(f.labels)}"), options.max_width)
            yield Text("\n".join(lines), no_wrap=True, overflow="ignore")


def report_view(report: CapacityReport, chart: bool = False) -> RenderableType:
    """The terminal form of a run: the what-if factor, the table, each forecast's chart when
    asked, then the replica plans."""
    from rich.console import Group
    from rich.text import Text

    parts: list[RenderableType] = []
    if report.what_if != 1:
        parts.append(Text(f"what if: traffic × {report.what_if:g} (series marked traffic: true)"))
    parts.append(table(report.at, report.forecasts))
    if chart:
        parts.extend(_Chart(f) for f in report.forecasts)
    if report.replicas:
        parts.append(replicas_table(report.replicas))
    return Group(*parts)

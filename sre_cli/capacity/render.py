"""Forecasts as a rich table, JSON (the documented contract, README "Capacity forecasts") or an
HTML page with SVG charts::

    {"at": "2024-03-15T00:00:00Z", "band_coverage": 0.9, "what_if": 1,
     "forecasts": [{"name": "api-rps", "labels": {"instance": "a"}, "current": 170.2,
       "trend_per_day": 5.0, "peak": 239.9, "limit": 230, "headroom": 59.8,
       "headroom_pct": 26.0, "exhausted_at": "2024-03-24T17:02:11Z", "status": "critical",
       "r2": 0.998, "samples": 337, "band": {"lower": 238.9, "upper": 240.8},
       "exhausted": {"earliest": "2024-03-24T16:30:02Z", "likely": "2024-03-24T17:02:11Z",
                     "latest": "2024-03-24T17:30:40Z"},
       "model": "seasonal", "backtest_error": 0.27, "backtest": {"linear": 3.96, ...},
       "band_scale": 1, "direction": "ceiling", "unit": "", "act": null, "act_at": null}],
     "replicas": []}

Times are RFC 3339 in UTC; ``exhausted_at`` (= ``exhausted.likely``) is null when the forecast
stays under the limit within the horizon; every number is null for ``no_data``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sre_cli.capacity.units import number, rfc3339

if TYPE_CHECKING:
    from rich.table import Table

    from sre_cli.capacity.forecast import Forecast
    from sre_cli.capacity.replicas import ReplicaPlan

__all__ = [
    "forecast_dict",
    "html_page",
    "labels_text",
    "number",
    "replicas_dict",
    "replicas_table",
    "rfc3339",
    "table",
    "to_json",
]

_STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "no_data": "dim"}


def _num(value: float | None) -> float | int | None:
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def forecast_dict(f: Forecast) -> dict[str, Any]:
    """One forecast in the JSON contract."""
    return {
        "name": f.target.name,
        "labels": dict(sorted(f.labels.items())),
        "current": _num(f.current),
        "trend_per_day": _num(f.trend_per_day),
        "peak": _num(f.peak),
        "limit": _num(f.limit),
        "headroom": _num(f.headroom),
        "headroom_pct": _num(f.headroom_pct),
        "exhausted_at": rfc3339(f.exhausted_at),
        "status": f.status,
        "r2": _num(f.r2),
        "samples": f.samples,
        "band": None
        if f.band is None
        else {"lower": _num(f.band.lower), "upper": _num(f.band.upper)},
        "exhausted": {
            "earliest": rfc3339(f.exhausted.earliest),
            "likely": rfc3339(f.exhausted.likely),
            "latest": rfc3339(f.exhausted.latest),
        },
        "model": f.model,
        "backtest_error": _num(f.backtest_error),
        "backtest": {name: _num(error) for name, error in f.backtest.items()},
        "band_scale": _num(f.band_scale) if f.status != "no_data" else None,
        "direction": f.direction,
        "unit": f.target.unit,
        "act": _num(f.target.act),
        "act_at": rfc3339(f.act_at),
    }


def replicas_dict(r: ReplicaPlan) -> dict[str, Any]:
    return {
        "deployment": r.deployment,
        "forecast": r.forecast,
        "labels": dict(sorted(r.labels.items())),
        "per_replica_rps": _num(r.per_replica),
        "peak": _num(r.peak),
        "peak_upper": _num(r.peak_upper),
        "needed": r.needed,
        "needed_likely": r.needed_likely,
        "max_replicas": r.max_replicas,
        "hpa": r.source,
        "enough": r.enough,
    }


def to_json(
    at: float,
    forecasts: Sequence[Forecast],
    replicas: Sequence[ReplicaPlan] = (),
    what_if: float = 1.0,
) -> str:
    from sre_cli.capacity.forecast import BAND

    data = {
        "at": rfc3339(at),
        "band_coverage": BAND,
        "what_if": _num(what_if),
        "forecasts": [forecast_dict(f) for f in forecasts],
        "replicas": [replicas_dict(r) for r in replicas],
    }
    return json.dumps(data, indent=2, allow_nan=False)


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


def table(at: float, forecasts: Sequence[Forecast]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"Capacity forecast at {rfc3339(at)}", title_justify="left")
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
        t.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in forecasts:
        pct = f.headroom_pct
        headroom = number(f.headroom) + ("" if pct is None else f" ({pct:.0f}%)")
        style = _STYLE[f.status]
        t.add_row(
            escape(f.target.name),
            escape(labels_text(f.labels)),
            number(f.current),
            number(f.trend_per_day, signed=True),
            _peak(f),
            ("≥ " if f.direction == "floor" else "") + number(f.limit) + f.target.unit,
            headroom if f.headroom is not None else "—",
            _when(f),
            f"[{style}]{f.status}[/]",
            _model(f),
            str(f.samples),
        )
    return t


def _peak(f: Forecast) -> str:
    if f.band is None:
        return number(f.peak)
    return f"{number(f.peak)} [{number(f.band.lower)}…{number(f.band.upper)}]"


def replicas_table(plans: Sequence[ReplicaPlan]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="Replicas at the horizon (N+1)", title_justify="left")
    for column in ("deployment", "series", "per replica", "peak [upper]", "needed", "HPA max"):
        t.add_column(column, justify="left" if column in {"deployment", "series"} else "right")
    t.add_column("verdict")
    for r in plans:
        verdict = (
            "[dim]HPA unknown[/]"
            if r.enough is None
            else "[green]enough[/]"
            if r.enough
            else "[bold red]raise maxReplicas[/]"
        )
        t.add_row(
            escape(r.deployment),
            escape(labels_text(r.labels)),
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

"""Forecasts as a rich table or as JSON (the documented contract, README "Capacity forecasts")::

    {"at": "2024-03-15T00:00:00Z",
     "forecasts": [{"name": "api-rps", "labels": {"instance": "a"}, "current": 170.2,
       "trend_per_day": 5.0, "peak": 239.9, "limit": 230, "headroom": 59.8,
       "headroom_pct": 26.0, "exhausted_at": "2024-03-24T17:02:11Z", "status": "critical",
       "r2": 0.998, "samples": 337}]}

Times are RFC 3339 in UTC; ``exhausted_at`` is null when the forecast stays under the limit
within the horizon; every number is null for ``no_data``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from sre_cli.capacity.forecast import Forecast

__all__ = ["forecast_dict", "number", "rfc3339", "table", "to_json"]

_STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "no_data": "dim"}


def rfc3339(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(round(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    }


def to_json(at: float, forecasts: Sequence[Forecast]) -> str:
    data = {"at": rfc3339(at), "forecasts": [forecast_dict(f) for f in forecasts]}
    return json.dumps(data, indent=2, allow_nan=False)


def number(value: float | None, signed: bool = False) -> str:
    """Compact: 3 significant digits, SI suffixes from 10 000 (1.23M, 45.6k)."""
    if value is None:
        return "—"
    sign = "+" if signed and value > 0 else ""
    size = abs(value)
    for threshold, divisor, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "G"), (1e6, 1e6, "M")):
        if size >= threshold:
            return f"{sign}{value / divisor:.3g}{suffix}"
    if size >= 1e4:
        return f"{sign}{value / 1e3:.3g}k"
    if size >= 100 or value == 0:
        return f"{sign}{value:.0f}"
    return f"{sign}{value:.3g}"


def _when(f: Forecast) -> str:
    if f.status == "no_data":
        return "—"
    if f.exhausted_at is None:
        return "not within horizon"
    days = (f.exhausted_at - f.at) / 86400
    return f"{rfc3339(f.exhausted_at)} (in {days:.1f}d)"


def _labels(labels: dict[str, str]) -> str:
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
        ("peak", "right"),
        ("limit", "right"),
        ("headroom", "right"),
        ("exhausted", "left"),
        ("status", "left"),
        ("R²", "right"),
        ("samples", "right"),
    ):
        t.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in forecasts:
        pct = f.headroom_pct
        headroom = number(f.headroom) + ("" if pct is None else f" ({pct:.0f}%)")
        style = _STYLE[f.status]
        t.add_row(
            escape(f.target.name),
            escape(_labels(f.labels)),
            number(f.current),
            number(f.trend_per_day, signed=True),
            number(f.peak),
            number(f.limit),
            headroom if f.headroom is not None else "—",
            _when(f),
            f"[{style}]{f.status}[/]",
            "—" if f.r2 is None else f"{f.r2:.2f}",
            str(f.samples),
        )
    return t

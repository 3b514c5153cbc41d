"""Reports as a rich table (with a burn-down sparkline), JSON and markdown (HTML: html_report).

The JSON shape is a documented contract (``slo/README.md``); ``Report.to_json`` builds it::

    {"evaluated_at": "2024-03-01T00:00:00Z", "slos": [{"service": "api", "name": "availability",
      "objective": 99.9, "window": "30d", "sli": 0.99962,
      "budget": {"consumed": 0.38, "remaining": 0.62}, "events": {"total": 1e6, "bad": 380},
      "burn_rates": {"5m": 0.0, "30m": ..., "3d": 0.4}, "alerts": {"page": false, "ticket": false},
      "status": "ok"}]}
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sre_cli.slo.windows import BURN_RATE_WINDOWS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console, ConsoleOptions

    from sre_cli.slo.engine import Report, SLOResult
    from sre_cli.slo.gate import Verdict
    from sre_cli.table import FitTable

__all__ = ["ReportView", "gate_summary", "json_text", "markdown", "sparkline", "table"]

_BARS = "▁▂▃▄▅▆▇█"
_STYLE = {"ok": "green", "warning": "yellow", "breached": "bold red", "no_data": "dim"}


def json_text(data: dict[str, Any]) -> str:
    """A report's (or gate verdict's) JSON contract as text; no NaN, which JSON has not."""
    return json.dumps(data, indent=2, allow_nan=False)


def gate_summary(verdict: Verdict) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: the verdict, its reasons, then the report."""
    head = {0: "✅ SLO gate passed", 1: "❌ SLO gate failed", 2: "⚠️ SLO gate could not decide"}
    lines = [f"## {head[verdict.exit_code]}", ""]
    lines += [f"- **{v.service}/{v.name}**: {v.reason}" for v in verdict.violations]
    tail = "\n\n" if verdict.violations else "\n"
    return "\n".join(lines) + tail + markdown(verdict.report)


# --- formatting -----------------------------------------------------------------------------


def _pct(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "∞"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days}d{hours}h" if days else f"{hours}h{mins:02d}m"


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _alerts(r: SLOResult) -> str:
    return ",".join(k for k, v in r.alerts.items() if v) or "-"


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sparkline(points: list[tuple[float, float]], width: int = 24) -> str:
    """Budget remaining over time as block characters (full block = whole budget left)."""
    if len(points) < 2:
        return ""
    values = [v for _, v in points]
    step = max(1, len(values) // width)
    picked = [*values[::step][: width - 1], values[-1]]
    low = min(0.0, *picked)
    scale = (1.0 - low) or 1.0
    return "".join(
        _BARS[round(max(0.0, min(1.0, (v - low) / scale)) * (len(_BARS) - 1))] for v in picked
    )


# --- terminal -------------------------------------------------------------------------------


class ReportView:
    """The terminal report of :func:`table`, as wide as the console it is printed on."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[FitTable]:
        yield table(self.report, options.max_width)


def table(report: Report, width: int = 200) -> FitTable:
    """The terminal report: one row per SLO. Below 140 columns it drops the bad / total,
    burn 6h, minutes-left and burn-down columns (a short sparkline goes under the budget);
    at 80 the columns that do not fit beside the SLO's name go under it. Names stay whole."""
    from rich import box
    from rich.text import Text

    from sre_cli.table import FitTable

    wide = width >= 140
    grid = FitTable(
        title=f"SLOs at {_stamp(report.evaluated_at)}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    with_burn_down = wide and any(r.burn_down for r in report.results)
    columns = [("SLO", "left"), ("SLI", "right"), ("budget left" if wide else "budget", "right")]
    if wide:
        columns += [("bad / total", "right"), ("burn 1h", "right"), ("burn 6h", "right")]
    else:
        columns += [("burn 1h", "right")]
    columns += [("alerts", "left"), ("exhausts in" if wide else "exhausts", "right")]
    columns += [("status", "left")]
    if with_burn_down:
        columns.append(("burn-down", "left"))
    for name, justify in columns:
        grid.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in report.results:
        left = r.remaining_minutes
        minutes = "" if left is None or not wide else f"\n{left:,.1f} min"
        if not wide and len(r.burn_down) >= 2:
            # Narrow terminals have no burn-down column: a short sparkline under the budget.
            minutes = f"\n{sparkline(r.burn_down, width=8)}"
        cells: list[str | Text] = [
            Text.assemble(
                f"{r.slo.service}/{r.slo.name}\n",
                (f"{r.slo.objective:g}% / {r.slo.window.label}", "dim"),
            ),
            _pct(r.sli),
            _pct(r.budget_remaining, 1) + minutes,
        ]
        if wide:
            cells += [
                f"{_count(r.bad)} / {_count(r.total)}",
                _rate(r.burn_rates.get("1h")),
                _rate(r.burn_rates.get("6h")),
            ]
        else:
            cells.append(_rate(r.burn_rates.get("1h")))
        cells += [
            _alerts(r),
            _span(r.time_to_exhaustion) if r.budget_remaining is not None else "—",
            Text(r.status, _STYLE[r.status]),
        ]
        if with_burn_down:
            cells.append(sparkline(r.burn_down))
        grid.add_row(*cells)
    note = sources_note(report)
    if note:
        grid.options.update(caption=note, caption_justify="left")
    return grid


# --- markdown -------------------------------------------------------------------------------


def sources_note(report: Report) -> str | None:
    """Where the window counts and burn rates come from, when recordings were asked for."""
    from sre_cli.slo.recorded import describe, describe_burn_rates

    notes = (
        describe([r.source for r in report.results]),
        describe_burn_rates([r.burn_rates_at for r in report.results], report.evaluated_at),
    )
    return "; ".join(n for n in notes if n) or None


def markdown(report: Report, title: str = "SLO report") -> str:
    """A GitHub-flavoured markdown table (also the gate's step summary)."""
    head = ["SLO", "objective", "window", "SLI", "budget left", "minutes left", "bad / total"]
    head += [f"burn {w}" for w in BURN_RATE_WINDOWS] + ["alerts", "status"]
    lines = [f"### {title} at {_stamp(report.evaluated_at)}", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report.results:
        left = r.remaining_minutes
        cells = [
            f"`{r.slo.service}/{r.slo.name}`",
            f"{r.slo.objective:g}%",
            r.slo.window.label,
            _pct(r.sli),
            _pct(r.budget_remaining, 1),
            "—" if left is None else f"{left:.1f}",
            f"{_count(r.bad)} / {_count(r.total)}",
            *(_rate(r.burn_rates.get(w)) for w in BURN_RATE_WINDOWS),
            _alerts(r),
            f"**{r.status}**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    note = sources_note(report)
    return "\n".join(lines + ([f"\n_{note}_"] if note else [])) + "\n"

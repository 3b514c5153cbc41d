"""Run every panel's queries over a time range: one Prometheus range query per target, with
Grafana's template variables substituted, into plain results the page draws. A query that
fails is kept as that panel's error; it never stops the other panels::

    board = evaluate(load_dashboards(DEFAULT_DIR), prom, end=time.time())
    board.dashboards[0].panels[0].series[0].name      # "/ponds" (legendFormat "{{route}}")
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sre_cli.errors import AquaError
from sre_cli.timespec import format_duration

if TYPE_CHECKING:
    from sre_cli.dashboards.spec import Dashboard, Panel
    from sre_cli.prometheus import PrometheusClient

__all__ = [
    "Board",
    "DashboardResult",
    "PanelResult",
    "SeriesData",
    "evaluate",
    "legend",
    "step_for",
    "substitute",
]

#: points a line gets over the page's range, about one per two pixels of a panel
POINTS = 240
#: the scrape interval $__rate_interval assumes (the stack's Prometheus scrapes every 15 s)
SCRAPE_SECONDS = 15.0

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def step_for(range_seconds: float) -> float:
    """The range query step: :data:`POINTS` points over the range, whole seconds, at least 1."""
    return float(max(1, math.ceil(range_seconds / POINTS)))


def _span(seconds: float) -> str:
    return format_duration(timedelta(seconds=max(1, math.ceil(seconds))))


def substitute(
    expr: str, *, step: float, range_seconds: float, variables: Mapping[str, str] | None = None
) -> str:
    """Grafana's built-in and dashboard variables in ``expr``, as Grafana fills them in:
    ``$__interval``/``$interval`` the step, ``$__rate_interval`` max(step + scrape interval,
    4 × scrape interval), ``$__range`` the page's range; a dashboard variable its current
    value, and one without a value ``.*`` (Grafana's "All")."""
    builtins = {
        "__interval": _span(step),
        "interval": _span(step),
        "__rate_interval": _span(max(step + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)),
        "__range": _span(range_seconds),
        "__range_s": str(int(range_seconds)),
        "__interval_ms": str(int(step * 1000)),
    }
    known = {**builtins, **(variables or {})}

    def fill(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(2) or found.group(3)
        return known.get(name, ".*")

    return _VARIABLE.sub(fill, expr)


def legend(template: str, labels: Mapping[str, str], fallback: str) -> str:
    """A series' name from Grafana's legendFormat: ``{{route}}`` is its ``route`` label; no
    template names it by its labels (or ``fallback`` when it has none)."""
    if template:
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), template)
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not shown:
        return fallback
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items()))
    return f"{labels.get('__name__', '')}{{{inner}}}"


@dataclass(frozen=True)
class SeriesData:
    name: str
    labels: dict[str, str]
    points: list[tuple[float, float]]

    @property
    def last(self) -> float | None:
        """The last finite value (Grafana's "lastNotNull", what a stat panel shows)."""
        for _, v in reversed(self.points):
            if math.isfinite(v):
                return v
        return None


@dataclass(frozen=True)
class PanelResult:
    panel: Panel
    series: list[SeriesData] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one per failed target: "A: message"
    queries: list[str] = field(default_factory=list)  # as sent, after substitution

    @property
    def has_data(self) -> bool:
        return any(s.last is not None for s in self.series)

    def to_json(self) -> dict[str, object]:
        return {
            "title": self.panel.title,
            "type": self.panel.kind,
            "unit": self.panel.unit,
            "queries": self.queries,
            "errors": self.errors,
            "series": [{"name": s.name, "labels": s.labels, "last": s.last} for s in self.series],
        }


@dataclass(frozen=True)
class DashboardResult:
    dashboard: Dashboard
    panels: list[PanelResult]


@dataclass(frozen=True)
class Board:
    """Every dashboard's panels over [start, end]."""

    start: float
    end: float
    step: float
    prometheus: str
    dashboards: list[DashboardResult]

    def to_json(self) -> dict[str, object]:
        scalars = ("start", "end", "step", "prometheus")
        return {
            **{name: getattr(self, name) for name in scalars},
            "dashboards": [
                {
                    "uid": d.dashboard.uid,
                    "title": d.dashboard.title,
                    "panels": [p.to_json() for p in d.panels],
                }
                for d in self.dashboards
            ],
        }


def _panel(
    panel: Panel,
    prom: PrometheusClient,
    start: float,
    end: float,
    step: float,
    variables: Mapping[str, str],
) -> PanelResult:
    result = PanelResult(panel)
    for target in panel.targets:
        expr = substitute(
            expr=target.expr, step=step, range_seconds=end - start, variables=variables
        )
        result.queries.append(expr)
        try:
            found = prom.query_range(expr, start, end, step)
        except AquaError as exc:  # a bad query or an unreachable server: shown in the panel
            result.errors.append(f"{target.ref_id or 'query'}: {exc}")
            continue
        fallback = target.legend or target.ref_id or expr
        result.series.extend(
            SeriesData(
                legend(target.legend, s.labels, fallback),
                dict(s.labels),
                list(zip(s.times, s.values, strict=True)),
            )
            for s in found
        )
    return result


def evaluate(
    dashboards: Sequence[Dashboard],
    prom: PrometheusClient,
    *,
    end: float,
    range_seconds: float | None = None,
    variables: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Board:
    """Every panel of ``dashboards`` over ``range_seconds`` (default: the first dashboard's own
    range) up to ``end``; ``variables`` win over the dashboards' current values."""
    span = range_seconds or (dashboards[0].range_seconds if dashboards else 1800.0)
    start, step = end - span, step_for(span)
    out = []
    for board in dashboards:
        if progress is not None:
            progress(board.title)
        chosen = {**board.variables, **(variables or {})}
        panels = [_panel(p, prom, start, end, step, chosen) for p in board.panels]
        out.append(DashboardResult(board, panels))
    return Board(start, end, step, prom.url, out)

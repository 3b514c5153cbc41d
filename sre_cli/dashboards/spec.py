"""Grafana dashboard JSON, read into what aqua draws: panels, their PromQL targets, units and
thresholds. Only the parts a panel needs are read; other keys are ignored, so any dashboard
exported from Grafana (schema 16 or later) loads::

    boards = load_dashboards(DEFAULT_DIR)      # manifests/monitoring/dashboards/*.json
    boards[0].panels[0].targets[0].expr        # 'sum by (route) (rate(...[1m]))'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sre_cli.errors import ConfigError
from sre_cli.timespec import parse_duration

__all__ = [
    "DEFAULT_DIR",
    "DRAWN_KINDS",
    "Dashboard",
    "Panel",
    "Target",
    "Threshold",
    "load_dashboard",
    "load_dashboards",
]

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "manifests" / "monitoring" / "dashboards"

#: panel types drawn as lines; "stat" and "gauge" are one number, "table" a table
DRAWN_KINDS = ("timeseries", "graph", "stat", "gauge", "bargauge", "table")


@dataclass(frozen=True)
class Target:
    ref_id: str
    expr: str
    legend: str = ""  # Grafana's legendFormat: "{{route}}" names a series by its labels


@dataclass(frozen=True)
class Threshold:
    """From ``value`` up (None: from minus infinity) a value is drawn in ``colour``."""

    value: float | None
    colour: str


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str
    targets: tuple[Target, ...]
    unit: str = "short"
    decimals: int | None = None
    thresholds: tuple[Threshold, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    description: str = ""
    #: the dashboard's default range ("now-30m" -> 1800 s)
    range_seconds: float = 1800.0
    #: template variables with a current value ($job -> "api")
    variables: dict[str, str] = field(default_factory=dict)
    source: Path | None = None


def _fail(source: Path, message: str) -> ConfigError:
    return ConfigError(f"{source}: {message}")


def _thresholds(config: dict[str, Any]) -> tuple[Threshold, ...]:
    steps = config.get("thresholds", {}).get("steps", [])
    return tuple(
        Threshold(
            None if s.get("value") is None else float(s["value"]), str(s.get("color", "green"))
        )
        for s in steps
        if isinstance(s, dict)
    )


def _panel(raw: dict[str, Any], source: Path) -> Panel:
    defaults = raw.get("fieldConfig", {}).get("defaults", {}) or {}
    targets = tuple(
        Target(str(t.get("refId", "")), str(t["expr"]), str(t.get("legendFormat", "") or ""))
        for t in raw.get("targets", [])
        if isinstance(t, dict) and t.get("expr")
    )
    decimals = defaults.get("decimals")
    return Panel(
        title=str(raw.get("title", "")),
        kind=str(raw.get("type", "timeseries")),
        targets=targets,
        unit=str(defaults.get("unit") or "short"),
        decimals=int(decimals) if isinstance(decimals, int | float) else None,
        thresholds=_thresholds(defaults),
        description=str(raw.get("description", "")),
    )


def _panels(raw: list[Any], source: Path) -> list[Panel]:
    """Every panel, rows flattened (a collapsed row keeps its panels inside it)."""
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise _fail(source, "a panel is not an object")
        if item.get("type") == "row":
            out += _panels(item.get("panels", []), source)
        else:
            out.append(_panel(item, source))
    return out


def _range(raw: dict[str, Any]) -> float:
    start = str(raw.get("time", {}).get("from", "now-30m"))
    found = re.fullmatch(r"now-(\w+)", start)
    if found is None:
        return 1800.0
    try:
        return parse_duration(found.group(1)).total_seconds()
    except ValueError:
        return 1800.0


def _variables(raw: dict[str, Any]) -> dict[str, str]:
    out = {}
    for var in raw.get("templating", {}).get("list", []):
        if not isinstance(var, dict) or var.get("type") in ("datasource", "interval"):
            continue
        current = (
            var.get("current", {}).get("value") if isinstance(var.get("current"), dict) else None
        )
        if isinstance(current, list):
            current = "|".join(str(c) for c in current)
        if current not in (None, "", "$__all"):
            out[str(var.get("name"))] = str(current)
    return out


def load_dashboard(path: Path) -> Dashboard:
    """One dashboard file; a file that is not a Grafana dashboard is a :class:`ConfigError`."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror}") from exc
    except ValueError as exc:
        raise _fail(path, f"not JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("panels"), list):
        raise _fail(path, "not a Grafana dashboard (no panels list)")
    try:
        panels = _panels(raw["panels"], path)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"malformed panel: {exc}") from exc
    return Dashboard(
        uid=str(raw.get("uid") or path.stem),
        title=str(raw.get("title") or path.stem),
        panels=tuple(panels),
        description=str(raw.get("description", "")),
        range_seconds=_range(raw),
        variables=_variables(raw),
        source=path,
    )


def load_dashboards(where: Path) -> list[Dashboard]:
    """A file, or every ``*.json`` in a folder (sorted by name)."""
    if where.is_dir():
        files = sorted(where.glob("*.json"))
        if not files:
            raise ConfigError(f"{where}: no dashboard (*.json) in it")
        return [load_dashboard(f) for f in files]
    if not where.exists():
        raise ConfigError(f"{where}: no such file or folder")
    return [load_dashboard(where)]

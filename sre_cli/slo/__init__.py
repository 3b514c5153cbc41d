"""Service level objectives: specs, error budgets from Prometheus, a CI gate, rules, backtests.

Specs (Sloth ``prometheus/v1`` and its Kubernetes resource, OpenSLO v1 and v1alpha) load into
:class:`SLO`; :func:`evaluate` turns them into a :class:`Report` using a
:class:`PrometheusClient` (queries batched across SLOs); :func:`judge` applies the budget
policy; :func:`rules_yaml` writes Prometheus rules; ``aqua slo serve`` exports results::

    from sre_cli.slo import PrometheusClient, evaluate, judge, load_slos

    with PrometheusClient("http://127.0.0.1:9090") as prom:
        verdict = judge(evaluate(load_slos([Path("slo")]), prom), min_budget_remaining=0.2)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sre_cli.slo.backtest import Backtest, backtest
    from sre_cli.slo.engine import Report, SLOResult, evaluate, parse_instant
    from sre_cli.slo.gate import Verdict, Violation, judge
    from sre_cli.slo.loader import Problem, check_paths, load_slos
    from sre_cli.slo.prometheus import PrometheusClient, QueryError
    from sre_cli.slo.rules import inhibit_rules, rules_yaml
    from sre_cli.slo.spec import SLI, SLO, LatencySLI, Policy
    from sre_cli.slo.windows import Tier, Window, load_tiers

_HOMES = {
    "Backtest": "backtest",
    "backtest": "backtest",
    "Report": "engine",
    "SLOResult": "engine",
    "evaluate": "engine",
    "parse_instant": "engine",
    "Verdict": "gate",
    "Violation": "gate",
    "judge": "gate",
    "Problem": "loader",
    "check_paths": "loader",
    "load_slos": "loader",
    "PrometheusClient": "prometheus",
    "QueryError": "prometheus",
    "inhibit_rules": "rules",
    "rules_yaml": "rules",
    "SLI": "spec",
    "SLO": "spec",
    "LatencySLI": "spec",
    "Policy": "spec",
    "Tier": "windows",
    "Window": "windows",
    "load_tiers": "windows",
}


def __getattr__(name: str) -> object:
    # Imported on first use: the command group loads only the modules a command needs.
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "SLI",
    "SLO",
    "Backtest",
    "LatencySLI",
    "Policy",
    "Problem",
    "PrometheusClient",
    "QueryError",
    "Report",
    "SLOResult",
    "Tier",
    "Verdict",
    "Violation",
    "Window",
    "backtest",
    "check_paths",
    "evaluate",
    "inhibit_rules",
    "judge",
    "load_slos",
    "load_tiers",
    "parse_instant",
    "rules_yaml",
]

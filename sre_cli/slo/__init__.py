"""Service level objectives: specs, error budgets from Prometheus, a CI gate, rules, backtests.

Specs (Sloth ``prometheus/v1`` or OpenSLO v1) load into :class:`SLO`; :func:`evaluate` turns
them into a :class:`Report` using a :class:`PrometheusClient`; :func:`judge` applies the
budget policy; :func:`rules_yaml` writes Prometheus rules::

    from sre_cli.slo import PrometheusClient, evaluate, judge, load_slos

    with PrometheusClient("http://127.0.0.1:9090") as prom:
        verdict = judge(evaluate(load_slos([Path("slo")]), prom), min_budget_remaining=0.2)
"""

from sre_cli.slo.backtest import Backtest, backtest
from sre_cli.slo.engine import Report, SLOResult, evaluate, parse_instant
from sre_cli.slo.gate import Verdict, Violation, judge
from sre_cli.slo.loader import Problem, check_paths, load_slos
from sre_cli.slo.prometheus import PrometheusClient, QueryError
from sre_cli.slo.rules import inhibit_rules, rules_yaml
from sre_cli.slo.spec import SLI, SLO, LatencySLI, Policy
from sre_cli.slo.windows import Tier, Window, load_tiers

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

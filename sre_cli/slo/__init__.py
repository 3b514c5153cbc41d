"""Service level objectives: specs, error budgets from Prometheus, a CI gate, rules, backtests.

Specs (Sloth ``prometheus/v1`` and its Kubernetes resource, OpenSLO v1 and v1alpha) load into
:class:`SLO`; :func:`evaluate` turns them into a :class:`Report` using a
:class:`PrometheusClient` (queries batched across SLOs); :func:`judge` applies the budget
policy; :func:`rules_yaml` writes Prometheus rules; ``aqua slo serve`` exports results::

    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.batch import evaluate
    from sre_cli.slo.gate import judge
    from sre_cli.slo.loader import load_slos

    with PrometheusClient("http://127.0.0.1:9090") as prom:
        verdict = judge(evaluate(load_slos([Path("slo")]), prom), min_budget_remaining=0.2)

The package exports nothing itself: import from the module that holds a name.
"""

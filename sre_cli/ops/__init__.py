"""The operations layer runbooks and chaos experiments both stand on.

- :mod:`.operations`: the declarative operations (http, prometheus, stack, k8s, wait), each
  with its verdict, whether it mutates and its risk level;
- :mod:`.context`: where a run acts (the local stack or a Kubernetes namespace, plus
  Prometheus) and the routing of each operation to its provider;
- :mod:`.providers`: one module per backend (http, prometheus, stack, kubernetes);
- :mod:`.outcome`: observations, action plans, step records and how a run ended;
- :mod:`.transcript`: the JSON-lines journal of a run.

Nothing here imports :mod:`sre_cli.runbook` or :mod:`sre_cli.chaos`.
"""

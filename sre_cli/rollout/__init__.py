"""``aqua rollout``: progressive delivery on Kubernetes, judged by the SLO files.

A canary Deployment runs beside the stable one behind the same Service; its share of the
traffic is its share of the Ready pods (kube-proxy picks an endpoint per connection). At each
step the canary's own SLIs (the ``track`` label Prometheus copies from the pod) are judged
with the SLO engine's budget arithmetic over the step's window, against a burn-rate ceiling
and against the stable pods' figures over the same window. Blue-green runs a full-size green
Deployment, judges it the same way on synthetic load of its own before any Service moves, and
only then switches the Services' selectors. Modules:

- :mod:`.plan`: steps, replica counts, the plan ``--dry-run`` prints;
- :mod:`.promql`: SLO queries scoped to one track;
- :mod:`.analysis`: one step's verdict with its figures;
- :mod:`.workloads`: the Deployments and Services, through the Kubernetes API;
- :mod:`.preview`: blue-green's synthetic load at the green pods' own addresses;
- :mod:`.canary`, :mod:`.bluegreen`: the two strategies; :mod:`.report`: their result.
"""

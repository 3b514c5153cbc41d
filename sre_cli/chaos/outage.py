"""A dependency outage on Kubernetes: the Service the pods reach it by, taken away.

``outage: redis`` on target kubernetes looks at the Service ``redis`` of the namespace:

* with a selector (the store runs in pods): every Deployment and StatefulSet whose pods the
  selector picks is scaled to 0; its replica count before is kept in the annotation
  ``chaos.aqua.dev/replicas-before-outage`` of the workload itself;
* without one (a store outside the cluster, as on ``aqua cluster``'s node, reached through
  Endpoints written by hand): its Endpoints lose every address, so kube-proxy refuses new
  connections to the Service; the addresses are kept in the annotation
  ``chaos.aqua.dev/subsets-before-outage`` of the Endpoints. Connections already open (a
  pool's) are not cut: kube-proxy leaves established connections alone.

``restore: redis`` (the outage's automatic rollback) reads those annotations back, scales each
workload to its replica count or writes the addresses back, and removes the annotations, so
any later process (a second ``aqua chaos run``, the kill switch) can end an outage. It needs
credentials that may patch Deployments, StatefulSets and Endpoints (the ``aqua-operator``
Role may not: a real ``Forbidden``).
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from sre_cli.errors import UsageError
from sre_cli.ops.outcome import ActionPlan, Change

if TYPE_CHECKING:
    from sre_cli.chaos.blast import BlastRadius
    from sre_cli.ops.providers.kubernetes import KubeTarget

__all__ = ["REPLICAS_KEY", "SUBSETS_KEY", "plan_outage", "plan_restore"]

REPLICAS_KEY = "chaos.aqua.dev/replicas-before-outage"
SUBSETS_KEY = "chaos.aqua.dev/subsets-before-outage"
_KINDS = ("deployment", "statefulset")


def _service(kube: KubeTarget, name: str) -> Any:
    return kube.call(f"get service/{name}", kube.core.read_namespaced_service, name, kube.namespace)


def _endpoints(kube: KubeTarget, name: str) -> Any:
    return kube.call(
        f"get endpoints/{name}", kube.core.read_namespaced_endpoints, name, kube.namespace
    )


def _workloads(kube: KubeTarget, selector: dict[str, str]) -> list[tuple[str, Any]]:
    """The Deployments and StatefulSets whose pod template the Service's selector picks."""
    found: list[tuple[str, Any]] = []
    for kind, lister in (
        ("deployment", kube.apps.list_namespaced_deployment),
        ("statefulset", kube.apps.list_namespaced_stateful_set),
    ):
        found_kind: Any = kube.call(f"list {kind}s", lister, kube.namespace)
        for item in found_kind.items:
            labels = item.spec.template.metadata.labels or {}
            if all(labels.get(k) == v for k, v in selector.items()):
                found.append((kind, item))
    return found


def _patch(kube: KubeTarget, kind: str, name: str, body: object) -> None:
    patchers = {
        "deployment": kube.apps.patch_namespaced_deployment,
        "statefulset": kube.apps.patch_namespaced_stateful_set,
        "endpoints": kube.core.patch_namespaced_endpoints,
    }
    kube.call(f"patch {kind}/{name}", patchers[kind], name, kube.namespace, body)


def _scale(kube: KubeTarget, kind: str, name: str, replicas: int, keep: str | None) -> str:
    """Scale and set (a count) or remove (None) the annotation in one patch."""
    body = {"metadata": {"annotations": {REPLICAS_KEY: keep}}, "spec": {"replicas": replicas}}
    _patch(kube, kind, name, body)
    return f"{kind}/{name} scaled to {replicas}"


def _set_subsets(kube: KubeTarget, name: str, subsets: list[Any], keep: str | None) -> str:
    # The subsets have no merge key: a strategic merge patch replaces the list (null: none).
    body = {"metadata": {"annotations": {SUBSETS_KEY: keep}}, "subsets": subsets or None}
    _patch(kube, "endpoints", name, body)
    count = sum(len(s.get("addresses") or []) for s in subsets)
    return f"endpoints/{name}: {count} address(es)"


def plan_outage(kube: KubeTarget, name: str, radius: BlastRadius) -> ActionPlan:
    """Take the Service ``name`` away: its workloads to 0, or its Endpoints emptied."""
    from sre_cli.chaos.blast import check_namespace

    check_namespace(kube.namespace, radius)
    svc = _service(kube, name)
    selector = svc.spec.selector or {}
    if selector:
        workloads = _workloads(kube, selector)
        if not workloads:
            raise UsageError(
                f"service/{name} selects {selector}, but no Deployment or StatefulSet in "
                f"{kube.namespace} runs such pods"
            )
        pods = sum(w.spec.replicas or 0 for _, w in workloads)
        if pods > radius.max_pods:
            raise UsageError(
                f"refusing to stop {pods} pods of {name}: outside the blast radius "
                f"(max_pods is {radius.max_pods})"
            )
        changes = tuple(
            Change(
                f"scale {kind}/{w.metadata.name} from {w.spec.replicas} to 0",
                functools.partial(
                    _scale, kube, kind, w.metadata.name, 0, str(w.spec.replicas or 0)
                ),
            )
            for kind, w in workloads
            if REPLICAS_KEY not in (w.metadata.annotations or {})
        )
        if not changes:
            return ActionPlan(f"nothing to do: {name} is already scaled down by an outage")
        return ActionPlan(f"stop {name}: scale its workloads to 0", changes)
    ep = _endpoints(kube, name)
    if SUBSETS_KEY in (ep.metadata.annotations or {}):
        return ActionPlan(f"nothing to do: the endpoints of {name} are already taken away")
    subsets = kube.api.sanitize_for_serialization(ep.subsets or [])
    if not subsets:
        raise UsageError(f"service/{name} has no endpoints to take away")
    count = sum(len(s.get("addresses") or []) for s in subsets)
    change = Change(
        f"empty endpoints/{name} ({count} address(es) outside the cluster): new connections "
        "refused",
        functools.partial(_set_subsets, kube, name, [], json.dumps(subsets)),
    )
    return ActionPlan(f"stop {name}: take its endpoints away", (change,))


def plan_restore(kube: KubeTarget, name: str) -> ActionPlan:
    """Give back what :func:`plan_outage` took, from the annotations it left."""
    svc = _service(kube, name)
    selector = svc.spec.selector or {}
    changes: list[Change] = []
    if selector:
        for kind, w in _workloads(kube, selector):
            before = (w.metadata.annotations or {}).get(REPLICAS_KEY)
            if before is not None:
                changes.append(
                    Change(
                        f"scale {kind}/{w.metadata.name} back to {before}",
                        functools.partial(_scale, kube, kind, w.metadata.name, int(before), None),
                    )
                )
    else:
        ep = _endpoints(kube, name)
        saved = (ep.metadata.annotations or {}).get(SUBSETS_KEY)
        if saved is not None:
            subsets = json.loads(saved)
            changes.append(
                Change(
                    f"write endpoints/{name} back",
                    functools.partial(_set_subsets, kube, name, subsets, None),
                )
            )
    if not changes:
        return ActionPlan(f"nothing to do: no outage of {name} to end")
    return ActionPlan(f"bring {name} back", tuple(changes))

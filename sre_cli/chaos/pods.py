"""Delete random pods of a Deployment within the blast radius, and time its recovery.

Used by ``aqua chaos kill-pod`` and by the ``delete_pods`` action of an experiment. It talks
to the cluster through the operations layer's :class:`~sre_cli.ops.providers.kubernetes.KubeTarget`
(same credentials, same error mapping) and needs only what the aqua-operator Role grants:
list and delete pods, get replicasets and deployments.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sre_cli.chaos.blast import BlastRadius, allowed_count, check_namespace
from sre_cli.errors import UsageError

if TYPE_CHECKING:
    from sre_cli.ops.providers.kubernetes import KubeTarget

__all__ = ["KillPlan", "Recovery", "delete", "plan_kill", "wait_available"]


@dataclass(frozen=True)
class KillPlan:
    namespace: str
    selector: str
    deployment: str
    replicas: int
    ready: int
    pods: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"delete pod(s) {', '.join(self.pods)} of deployment/{self.deployment} "
            f"({self.ready}/{self.replicas} ready) in {self.namespace}"
        )


@dataclass(frozen=True)
class Recovery:
    available: bool
    seconds: float
    summary: str


def _owner(pod: Any, kind: str) -> str | None:
    for ref in pod.metadata.owner_references or []:
        if ref.kind == kind:
            return str(ref.name)
    return None


def _deployment_of(kube: KubeTarget, pod: Any) -> str:
    rs_name = _owner(pod, "ReplicaSet")
    if rs_name is None:
        raise UsageError(f"pod {pod.metadata.name} is not owned by a Deployment's ReplicaSet")
    rs = kube.replica_set(rs_name)
    name = _owner(rs, "Deployment")
    if name is None:
        raise UsageError(f"replicaset/{rs_name} is not owned by a Deployment")
    return name


def plan_kill(
    kube: KubeTarget,
    selector: str,
    count: int,
    radius: BlastRadius,
    *,
    percent: float | None = None,
    rng: random.Random | None = None,
) -> KillPlan:
    """Choose ``count`` random live pods matching ``selector``; refuse what exceeds the radius.

    ``percent`` (of the Deployment's replicas, rounded down) lowers ``count`` further.
    """
    from sre_cli.ops.providers.kubernetes import pod_ready

    check_namespace(kube.namespace, radius)
    pods = [p for p in kube.list_pods(selector) if p.metadata.deletion_timestamp is None]
    if not pods:
        raise UsageError(f"no pod matches {selector} in namespace {kube.namespace}")
    owners = {_deployment_of(kube, p) for p in pods}
    if len(owners) != 1:
        raise UsageError(
            f"{selector} matches pods of {len(owners)} deployments ({', '.join(sorted(owners))})",
            hint="narrow the selector to one Deployment",
        )
    (name,) = owners
    d = kube.deployment(name)
    replicas = d.spec.replicas if d.spec.replicas is not None else 1
    ready = sum(1 for p in pods if pod_ready(p))
    if percent is not None:
        count = min(count, int(replicas * percent // 100))
        if count < 1:
            raise UsageError(f"{percent:g}% of {replicas} replicas is no pod at all")
    allowed_count(count, replicas, ready, radius)
    chosen = (rng or random.SystemRandom()).sample(pods, count)
    names = tuple(sorted(str(p.metadata.name) for p in chosen))
    return KillPlan(kube.namespace, selector, name, replicas, ready, names)


def delete(kube: KubeTarget, plan: KillPlan) -> list[str]:
    return [kube.delete_pod(pod) for pod in plan.pods]


def wait_available(kube: KubeTarget, plan: KillPlan, timeout: float) -> Recovery:
    """Poll until the Deployment is Available again with as many Ready pods as replicas, none
    of them a deleted one; the time it took (the status alone lags behind a deletion)."""
    from sre_cli.ops.operations import K8sOp
    from sre_cli.ops.providers.kubernetes import pod_ready

    op = K8sOp(available=f"deployment/{plan.deployment}")
    gone = set(plan.pods)
    started = time.monotonic()
    while True:
        seen = kube.observe(op)
        pods = kube.list_pods(plan.selector)
        fresh = [p for p in pods if p.metadata.name not in gone and pod_ready(p)]
        took = time.monotonic() - started
        if seen.ok and len(fresh) >= plan.replicas:
            return Recovery(True, took, f"{seen.summary}: recovered in {took:.1f}s")
        if took > timeout:
            why = seen.summary if not seen.ok else f"{len(fresh)}/{plan.replicas} fresh pods ready"
            return Recovery(False, took, f"not recovered after {took:.0f}s: {why}")
        time.sleep(0.25)

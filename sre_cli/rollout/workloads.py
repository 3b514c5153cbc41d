"""The Deployments and Services a rollout changes, as plain JSON mappings.

:class:`Workloads` is what the strategies need of a namespace; :class:`KubeWorkloads` does it
through :class:`~sre_cli.ops.providers.kubernetes.KubeTarget` (the operations layer's client:
same kubeconfig handling, same error mapping)::

    work = KubeWorkloads(KubeTarget.connect(kubeconfig, "aquaculture-local"))
    work.scale("api-service-canary", 2)
    work.wait_ready("api-service-canary", 2, timeout=180)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sre_cli.errors import Unavailable

if TYPE_CHECKING:
    from sre_cli.ops.providers.kubernetes import KubeTarget

__all__ = ["KubeWorkloads", "Readiness", "Workloads", "selects"]


@dataclass(frozen=True)
class Readiness:
    replicas: int
    updated: int
    ready: int
    available: int
    observed: bool  # the controller has seen the latest spec
    wanted: int | None = None  # the spec's replicas (an HPA may change them meanwhile)

    def done(self, replicas: int) -> bool:
        return (
            self.observed
            and self.replicas == replicas
            and self.updated >= replicas
            and self.available >= replicas
            and self.ready >= replicas
        )


class Workloads(Protocol):
    namespace: str

    def get(self, name: str) -> dict[str, Any] | None: ...
    def create(self, body: dict[str, Any]) -> None: ...
    def set_template(self, name: str, template: dict[str, Any]) -> None: ...
    def scale(self, name: str, replicas: int) -> None: ...
    def delete(self, name: str) -> None: ...
    def readiness(self, name: str) -> Readiness: ...
    def services(self) -> dict[str, dict[str, str]]: ...
    def set_selector(self, service: str, selector: dict[str, str]) -> None: ...
    def pod_addresses(self, selector: dict[str, str]) -> list[str]: ...


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a Service's equality selector matches pod ``labels``."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def wait_ready(
    work: Workloads,
    name: str,
    replicas: int | None,
    *,
    timeout: float,
    interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Seconds until deployment ``name`` has ``replicas`` updated, Ready, Available pods
    (``None``: as many as its spec asks for at each look, which an autoscaler may change)."""
    t0 = time.monotonic()
    while True:
        state = work.readiness(name)
        target = state.wanted if replicas is None and state.wanted is not None else replicas or 0
        if state.done(target):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise Unavailable(
                f"deployment/{name} in {work.namespace}: {state.available}/{target} available "
                f"({state.updated} updated, {state.replicas} pods, {state.ready} Ready"
                f"{'' if state.observed else ', latest spec not yet observed'}) "
                f"after {timeout:.0f} s"
            )
        sleep(interval)


class KubeWorkloads:
    def __init__(self, kube: KubeTarget) -> None:
        self.kube = kube
        self.namespace = kube.namespace

    def get(self, name: str) -> dict[str, Any] | None:
        found = self.kube.find_deployment(name)
        return None if found is None else dict(self.kube.plain(found))

    def create(self, body: dict[str, Any]) -> None:
        self.kube.create_deployment(body)

    def set_template(self, name: str, template: dict[str, Any]) -> None:
        self.kube.patch_deployment(
            name, [{"op": "replace", "path": "/spec/template", "value": template}]
        )

    def scale(self, name: str, replicas: int) -> None:
        self.kube.scale_deployment(name, replicas)

    def delete(self, name: str) -> None:
        self.kube.delete_deployment(name)

    def readiness(self, name: str) -> Readiness:
        d = self.get(name)
        if d is None:
            raise Unavailable(f"deployment/{name} is gone from {self.namespace}")
        status = d.get("status") or {}
        meta = d.get("metadata") or {}
        spec = d.get("spec") or {}
        return Readiness(
            replicas=int(status.get("replicas") or 0),
            updated=int(status.get("updatedReplicas") or 0),
            ready=int(status.get("readyReplicas") or 0),
            available=int(status.get("availableReplicas") or 0),
            observed=int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0),
            wanted=int(spec.get("replicas") or 0),
        )

    def services(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for svc in self.kube.list_services():
            selector = svc.spec.selector or {}
            if selector:
                out[str(svc.metadata.name)] = dict(selector)
        return out

    def set_selector(self, service: str, selector: dict[str, str]) -> None:
        self.kube.patch_service(
            service, [{"op": "replace", "path": "/spec/selector", "value": dict(selector)}]
        )

    def pod_addresses(self, selector: dict[str, str]) -> list[str]:
        """The addresses of the Ready pods whose labels match ``selector``."""
        from sre_cli.ops.providers.kubernetes import pod_ready

        wanted = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        return sorted(
            str(p.status.pod_ip)
            for p in self.kube.list_pods(wanted)
            if pod_ready(p) and p.status.pod_ip
        )

"""Clear the API's fault rules on every pod of its Deployment (target kubernetes).

A rule set or cleared through the Service reaches one replica, which publishes the new rule
set to Redis; the other replicas adopt it at their next sync (``AQUA_FAULTS_SYNC_SECONDS``).
That publish is best effort: with Redis slow (a 0.25 s command timeout, a loaded node) or
recently failed, the replica clears its own rules and the others keep theirs, a leak
included. So on Kubernetes a clear goes to each pod's own address as well (the host must
reach the pod network, as on the local node), and counts as done only once every running
pod answers a GET with no rule beyond those pinned at its start (``AQUA_FAULTS_AT_START``,
which a DELETE never removes)::

    summary = clear_every_pod(kube, "http://10.0.0.12:8000")   # "cleared on 2 pods: ..."
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sre_cli.errors import AquaError, Unavailable

if TYPE_CHECKING:
    from sre_cli.ops.providers.kubernetes import KubeTarget

__all__ = ["API_SELECTOR", "clear_every_pod", "pod_urls", "rules_by_pod"]

#: the API's pods (manifests/base/api-service.yaml)
API_SELECTOR = "app=api-service"
_PORT_NAME = "http"


def pod_urls(kube: KubeTarget, selector: str = API_SELECTOR) -> dict[str, str]:
    """``{pod: http://IP:PORT}`` of every running, not terminating pod matching ``selector``."""
    urls: dict[str, str] = {}
    for pod in kube.list_pods(selector):
        ip = pod.status.pod_ip if pod.status else None
        if not ip or pod.metadata.deletion_timestamp is not None:
            continue
        if pod.status.phase != "Running":
            continue
        port = _http_port(pod)
        if port is not None:
            urls[str(pod.metadata.name)] = f"http://{ip}:{port}"
    return urls


def _http_port(pod: Any) -> int | None:
    ports = [p for c in pod.spec.containers for p in (c.ports or [])]
    named = [p for p in ports if p.name == _PORT_NAME] or ports
    return int(named[0].container_port) if named else None


def rules_by_pod(kube: KubeTarget, token: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The fault rules each running API pod has in force now, asked at its own address."""
    from sre_cli.ops.providers import faults

    return {pod: faults.rules(url, token) for pod, url in pod_urls(kube).items()}


def clear_every_pod(
    kube: KubeTarget,
    entry_url: str,
    *,
    timeout: float = 60.0,
    interval: float = 1.0,
    token: str | None = None,
) -> str:
    """DELETE every rule through ``entry_url``, then at each API pod until every running pod
    reports none but its pinned ones; :class:`Unavailable` (naming the pods) after ``timeout``."""
    from sre_cli.ops.providers import faults

    faults.call(entry_url, "DELETE", token=token)
    started = time.monotonic()
    cleared: dict[str, int] = {}  # pod -> rules left (pinned at its start)
    while True:
        pending: dict[str, str] = {}
        for pod, url in sorted(pod_urls(kube).items()):
            if pod in cleared:
                continue
            try:
                pinned = faults.call(url, "DELETE", token=token).get("rules") or []
                now = faults.rules(url, token)
            except AquaError as exc:  # restarting, or not reachable from here
                pending[pod] = exc.message
                continue
            if now == pinned:
                cleared[pod] = len(pinned)
            else:
                pending[pod] = f"still has {len(now)} rule(s)"
        took = time.monotonic() - started
        if not pending and cleared:
            pinned_note = sum(cleared.values())
            extra = f" ({pinned_note} pinned at start remain)" if pinned_note else ""
            return f"cleared on {len(cleared)} pods: {', '.join(sorted(cleared))}{extra}"
        if took + interval > timeout:
            why = "; ".join(f"{p}: {m}" for p, m in sorted(pending.items())) or "no API pod runs"
            raise Unavailable(
                f"faults not cleared on every API pod after {took:.0f}s: {why}",
                hint="the pods' addresses must be reachable from here (the local node's are)",
            )
        time.sleep(interval)

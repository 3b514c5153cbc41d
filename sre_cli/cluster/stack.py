"""The reference stack on the local cluster: images, data stores, add-ons, Secret, manifests.

Run by :meth:`LocalCluster.up` once the node is Ready:

1. CoreDNS and metrics-server on the node's bridge address (:mod:`.addons`);
2. PostgreSQL, Redis and Kafka, the harness's servers, listening on the bridge too
   (:mod:`.backing`), with passwords generated here;
3. the namespace and the Secret ``aqua-app`` (database URLs of the app and owner roles, JWT
   secret, Redis URL, ML service token), created
   through the API and never written to the repository;
4. ``manifests/overlays/local`` applied, the stores' Endpoints written, every Deployment
   waited for until Available. With ``faults`` (off by default) the API runs with its fault
   switch on (``AQUA_FAULTS_ENABLED``) and a bootstrap admin whose generated password is in
   the Secret ``aqua-admin`` (``kubectl get secret aqua-admin``), who alone may set faults;
5. Prometheus on the host scraping the pods (:mod:`.monitoring`), for ``aqua rollout``, with
   the shipped alert rules and an Alertmanager (``gameday_alerts``: every ``for:`` shortened,
   for ``aqua gameday run --target kubernetes``).

Example::

    stack = deploy_stack(ctx)          # StackInfo: urls, pids to stop on `down`
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sre_cli.cluster.addons import find_addon_tools, start_coredns, start_metrics_server
from sre_cli.cluster.backing import BackingStores, postgres_url, redis_url
from sre_cli.cluster.kubectl import Kubectl
from sre_cli.cluster.node import RealNode
from sre_cli.errors import ComponentError
from sre_cli.infra.pgroles import APP, OWNER
from sre_cli.k8s.controlplane import ControlPlane, wait_until
from sre_cli.ops.providers.faults import ADMIN_SECRET

__all__ = ["ADMIN_SECRET", "NAMESPACE", "OVERLAY", "StackInfo", "deploy_stack"]

NAMESPACE = "aquaculture-local"
OVERLAY = Path(__file__).resolve().parents[2] / "manifests" / "overlays" / "local"
#: The tags the local overlay names; each built image is tagged so in the node's containerd.
LOCAL_TAGS = {"api": "localhost/aqua/service-api:local", "ml": "localhost/aqua/service-ml:local"}


@dataclass
class StackInfo:
    urls: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def deploy_stack(
    workdir: Path,
    plane: ControlPlane,
    node: RealNode,
    kube: Kubectl,
    images: dict[str, str],
    *,
    ml: bool,
    faults: bool = False,
    gameday_alerts: bool = False,
    progress: Callable[[str], None],
    processes: list[dict[str, object]],
    save: Callable[[], None] = lambda: None,
    timeout: float = 300.0,
) -> StackInfo:
    """See the module docs. ``images`` maps a flavour (``api``, ``ml``) to its built ref.

    Every process started is appended to ``processes`` at once (name, pid, stop signal), so
    a failure half-way still leaves ``down`` a complete list.
    """
    info = StackInfo()

    def started(name: str, pid: int | None, sig: str = "SIGTERM") -> None:
        processes.append({"name": name, "pid": _pid(pid), "signal": sig})
        save()  # on disk at once: a killed `up` still leaves `down` the whole list

    net = node.network
    t0 = time.monotonic()
    for flavour, ref in images.items():
        node.tag_image(ref, LOCAL_TAGS[flavour])

    addons = find_addon_tools()
    dns = start_coredns(workdir / "coredns", addons.coredns, plane, kube, net.node_ip)
    started("coredns", dns.pid)
    metrics = start_metrics_server(
        workdir / "metrics-server", addons.metrics_server, plane, kube, net.node_ip
    )
    started("metrics-server", metrics.pid)
    info.timings["addons"] = time.monotonic() - t0
    progress(f"CoreDNS and metrics-server on {net.node_ip} in {info.timings['addons']:.1f} s")

    t1 = time.monotonic()
    stores = BackingStores(workdir / "stores", node_ip=net.node_ip, pod_subnet=net.pod_subnet)
    try:
        stores.start()
    finally:
        for name, pid in stores.pids().items():
            # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for its clients.
            started(name, pid, "SIGINT" if name == "postgres" else "SIGTERM")
    info.timings["stores"] = time.monotonic() - t1
    progress(f"PostgreSQL, Redis, Kafka on {net.node_ip} in {info.timings['stores']:.1f} s")

    t2 = time.monotonic()
    kube.run("create", "namespace", NAMESPACE, check=False)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "aqua-app", "namespace": NAMESPACE},
        "type": "Opaque",
        "stringData": {
            # The services serve as the least-privilege role; the API migrates as the owner.
            "database-url": postgres_url(stores.postgres, APP, "postgres", 5432),
            "database-migration-url": postgres_url(stores.postgres, OWNER, "postgres", 5432),
            "jwt-secret": secrets.token_hex(32),
            "redis-url": redis_url(stores.redis_password, "redis", 6379),
            "ml-service-token": secrets.token_urlsafe(32),
        },
    }
    kube.run("apply", "-f", "-", stdin=json.dumps(secret))
    if faults:
        kube.run("apply", "-f", "-", stdin=json.dumps(_admin_secret()))
        kube.run("apply", "-f", "-", stdin=json.dumps(_with_faults(kube)))
    else:
        kube.run("apply", "-k", str(OVERLAY))
    endpoints = {
        "postgres": stores.postgres.port,
        "redis": stores.redis.port,
        "kafka": stores.kafka_pod_port,
    }
    kube.run("apply", "-f", "-", stdin=json.dumps(_endpoints(endpoints, net.node_ip)))
    if not ml:
        kube.run("-n", NAMESPACE, "scale", "deployment/ml-service", "--replicas=0")
    _wait_available(kube, timeout)
    info.timings["deploy"] = time.monotonic() - t2
    progress(f"every Deployment in {NAMESPACE} Available in {info.timings['deploy']:.1f} s")

    t3 = time.monotonic()
    from sre_cli.cluster.monitoring import start_monitoring

    mon = start_monitoring(
        workdir / "prometheus", plane, kube, NAMESPACE, started, gameday_alerts=gameday_alerts
    )
    info.urls["prometheus"] = mon.prometheus.url
    info.urls["alertmanager"] = mon.alertmanager.url
    info.timings["prometheus"] = time.monotonic() - t3
    progress(
        f"Prometheus scraping the pods of {NAMESPACE} at {mon.prometheus.url}, "
        f"alerts to {mon.alertmanager.url}"
    )

    svc = kube.json("-n", NAMESPACE, "get", "service", "api-service-nodeport")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    info.urls["api"] = f"http://127.0.0.1:{node_port}"
    return info


def _pid(pid: int | None) -> int:
    if pid is None:
        raise ComponentError("a process that just started has no pid")
    return pid


def _admin_secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": ADMIN_SECRET, "namespace": NAMESPACE},
        "type": "Opaque",
        "stringData": {"username": "admin", "password": secrets.token_urlsafe(24)},
    }


def _with_faults(kube: Kubectl) -> dict[str, Any]:
    """The local overlay, its API container with the fault switch on and the bootstrap
    admin from :data:`ADMIN_SECRET`."""
    import yaml

    docs = [d for d in yaml.safe_load_all(kube.run("kustomize", str(OVERLAY)).stdout) if d]
    env = [
        {"name": "AQUA_FAULTS_ENABLED", "value": "true"},
        *(
            {
                "name": f"AQUA_BOOTSTRAP_ADMIN_{key.upper()}",
                "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": key}},
            }
            for key in ("username", "password")
        ),
    ]
    api = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "api-service"
    )
    container = api["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [*container.get("env", []), *env]
    return {"apiVersion": "v1", "kind": "List", "items": docs}


def _endpoints(ports: dict[str, int], ip: str) -> dict[str, Any]:
    items = [
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": name, "port": port}]}],
        }
        for name, port in ports.items()
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def _wait_available(kube: Kubectl, timeout: float) -> None:
    def available() -> bool:
        items = kube.json("-n", NAMESPACE, "get", "deployments")["items"]
        return bool(items) and all(
            int(d.get("status", {}).get("availableReplicas", 0) or 0)
            >= int(d["spec"].get("replicas", 0) or 0)
            and int(d.get("status", {}).get("updatedReplicas", 0) or 0)
            >= int(d["spec"].get("replicas", 0) or 0)
            for d in items
        )

    try:
        wait_until(
            available,
            what=f"every Deployment in {NAMESPACE} Available",
            timeout=timeout,
            interval=1,
        )
    except ComponentError as exc:
        pods = kube.run("-n", NAMESPACE, "get", "pods", "-o", "wide", check=False).stdout
        raise ComponentError(f"{exc}\n{pods}") from exc

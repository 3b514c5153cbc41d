"""Cluster add-ons run beside the real node: CoreDNS (Service names) and metrics-server (HPA).

Both are upstream binaries built from Go modules (``scripts/build-addons``) and run as
processes on the node's bridge address, not as pods: the API server listens on 127.0.0.1
only, which pods cannot reach, while a process on the host can. Each gets a client
certificate of its own and the RBAC upstream gives it. The aggregation layer reaches
metrics-server through a Service without selector whose endpoint is the bridge address.

Example::

    dns = start_coredns(workdir, tools, plane, node_ip)       # pods resolve api-service.NS.svc
    ms = start_metrics_server(workdir, tools, plane, node_ip)  # kubectl top, HPA CPU
"""

from __future__ import annotations

import json
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sre_cli.cluster.kubectl import Kubectl
from sre_cli.errors import MissingDependency
from sre_cli.infra import versions
from sre_cli.infra.binaries import GO, script_hint
from sre_cli.infra.process import ManagedProcess, free_port
from sre_cli.k8s.controlplane import ControlPlane, wait_until

__all__ = [
    "METRICS_SERVER_PORT",
    "AddonTools",
    "addon_binary",
    "apply_rbac",
    "build_hint",
    "find_addon_tools",
    "start_coredns",
    "start_metrics_server",
]

METRICS_SERVER_PORT = 4443


@dataclass(frozen=True)
class AddonTools:
    coredns: Path
    metrics_server: Path


def build_hint() -> str:
    return script_hint("build-addons", f"builds CoreDNS and metrics-server, ~5 min cold; {GO}")


def addon_binary(name: str) -> Path:
    """The cached build of ``coredns`` or ``metrics-server``, or MissingDependency."""
    key = name.upper().replace("-", "_") + "_VERSION"
    path = versions.cache_dir() / f"{name}-{versions.pinned(key)}" / "bin" / name
    if not os.access(path, os.X_OK):
        raise MissingDependency(f"cluster add-on missing: {path}", hint=build_hint())
    return path


def find_addon_tools() -> AddonTools:
    return AddonTools(
        coredns=addon_binary("coredns"), metrics_server=addon_binary("metrics-server")
    )


def _apply(kube: Kubectl, objects: list[dict[str, Any]]) -> None:
    kube.run(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def apply_rbac(
    kube: Kubectl,
    role: str,
    user: str,
    rules: list[tuple[list[str], list[str], list[str]]],
) -> None:
    """A ClusterRole ``role`` of ``rules`` (api groups, resources, verbs) bound to ``user``."""
    _apply(
        kube,
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [_rule(*rule) for rule in rules],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": role},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            },
        ],
    )


def start_coredns(
    workdir: Path, binary: Path, plane: ControlPlane, kube: Kubectl, node_ip: str
) -> ManagedProcess:
    """CoreDNS on ``node_ip``:53 answering ``cluster.local`` from the API; no upstream."""
    workdir.mkdir(parents=True, exist_ok=True)
    user = "system:coredns"
    apply_rbac(
        kube,
        "aqua:coredns",
        user,
        [
            ([""], ["endpoints", "services", "pods", "namespaces"], ["list", "watch"]),
            (["discovery.k8s.io"], ["endpointslices"], ["list", "watch"]),
        ],
    )
    kubeconfig = plane.client_kubeconfig(workdir, "coredns", user)
    ready_port = free_port()
    corefile = workdir / "Corefile"
    corefile.write_text(
        f""".:53 {{
    bind {node_ip}
    errors
    ready 127.0.0.1:{ready_port}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} aqua
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
""",
        encoding="utf-8",
    )
    proc = ManagedProcess(
        "coredns", [str(binary), "-conf", str(corefile)], workdir, log_path=workdir / "coredns.log"
    )
    proc.start()

    def ready() -> bool:
        import http.client

        try:
            conn = http.client.HTTPConnection("127.0.0.1", ready_port, timeout=2)
            conn.request("GET", "/ready")
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            return False
        return ok and _dns_answers(node_ip, "kubernetes.default.svc.cluster.local")

    wait_until(ready, what="CoreDNS ready", timeout=60, watch=[proc])
    return proc


def _dns_answers(server: str, name: str) -> bool:
    """True when ``server`` answers an A query for ``name`` with NOERROR."""
    query = struct.pack(">HHHHHH", 0x4171, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        query += bytes([len(label)]) + label.encode()
    query += b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        try:
            sock.sendto(query, (server, 53))
            reply, _ = sock.recvfrom(512)
        except OSError:
            return False
    return len(reply) > 4 and reply[:2] == query[:2] and (reply[3] & 0x0F) == 0


def start_metrics_server(
    workdir: Path, binary: Path, plane: ControlPlane, kube: Kubectl, node_ip: str
) -> ManagedProcess:
    """metrics-server on ``node_ip``:4443, registered as ``v1beta1.metrics.k8s.io``."""
    workdir.mkdir(parents=True, exist_ok=True)
    user = "system:metrics-server"
    subject = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    rbac = "rbac.authorization.k8s.io/v1"
    _apply(
        kube,
        [
            {
                "apiVersion": rbac,
                "kind": "ClusterRole",
                "metadata": {"name": "system:metrics-server"},
                "rules": [
                    _rule([""], ["nodes/metrics"], ["get"]),
                    _rule([""], ["pods", "nodes"], ["get", "list", "watch"]),
                ],
            },
            {
                "apiVersion": rbac,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "system:metrics-server"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:metrics-server",
                },
                "subjects": subject,
            },
            {
                "apiVersion": rbac,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "metrics-server:system:auth-delegator"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:auth-delegator",
                },
                "subjects": subject,
            },
            {
                "apiVersion": rbac,
                "kind": "RoleBinding",
                "metadata": {"name": "metrics-server-auth-reader", "namespace": "kube-system"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "extension-apiserver-authentication-reader",
                },
                "subjects": subject,
            },
            {
                "apiVersion": rbac,
                "kind": "ClusterRole",
                "metadata": {
                    "name": "system:aggregated-metrics-reader",
                    "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
                },
                "rules": [_rule(["metrics.k8s.io"], ["pods", "nodes"], ["get", "list", "watch"])],
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "metrics-server", "namespace": "kube-system"},
                "spec": {
                    "ports": [{"name": "https", "port": 443, "targetPort": METRICS_SERVER_PORT}]
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "metrics-server", "namespace": "kube-system"},
                "subsets": [
                    {
                        "addresses": [{"ip": node_ip}],
                        "ports": [{"name": "https", "port": METRICS_SERVER_PORT}],
                    }
                ],
            },
        ],
    )
    kubeconfig = plane.client_kubeconfig(workdir, "metrics-server", user)
    proc = ManagedProcess(
        "metrics-server",
        [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={node_ip}",
            f"--secure-port={METRICS_SERVER_PORT}",
            f"--cert-dir={workdir / 'certs'}",
            # The kubelet serves a self-signed certificate (no serving-certificate CSR flow).
            "--kubelet-insecure-tls",
            "--kubelet-preferred-address-types=InternalIP",
            # The kubelet listens on a free port, not 10250: take it from the Node status.
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
        ],
        workdir,
        log_path=workdir / "metrics-server.log",
    )
    proc.start()
    _apply(
        kube,
        [
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": "v1beta1.metrics.k8s.io"},
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    # metrics-server's certificate is self-signed, as in upstream's manifest.
                    "insecureSkipTLSVerify": True,
                    "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
                },
            }
        ],
    )

    def available() -> bool:
        out = kube.run("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json", check=False)
        if out.returncode != 0:
            return False
        conditions = json.loads(out.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

    wait_until(
        available, what="metrics-server APIService Available", timeout=90, watch=[proc], interval=1
    )
    return proc

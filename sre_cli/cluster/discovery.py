"""Scrape targets of the cluster's pods for Prometheus' HTTP service discovery.

Debian's Prometheus is built without the Kubernetes discovery, so this small server does its
part: ``GET /targets`` lists the namespace's pods through the API and answers, for each pod
with an IP and the ``prometheus.io/scrape: "true"`` annotation, its ``IP:port`` (the
``prometheus.io/port`` annotation) with the labels the SLO queries select on: ``job`` (the
pod's ``app.kubernetes.io/component``), ``track`` (the pod's ``track`` label, what ``aqua
rollout`` judges apart), ``pod``, ``namespace`` and ``__metrics_path__``. Pods that are
terminating stay listed until they are gone: they still answer while they drain.

There is no kube-state-metrics on the local cluster either, so ``GET /metrics`` answers, under
kube-state-metrics' names, the few object states the shipped alert rules read
(:func:`state_metrics`): each container's restarts and last termination reason, each
Deployment's wanted and updated replicas and its conditions. ``ContainerOOMKilled`` and
``DeploymentRolloutStuck`` then fire from the cluster's Prometheus as they would with it.

Run by ``aqua cluster up`` as a process of its own, on 127.0.0.1::

    python -m sre_cli.cluster.discovery --kubeconfig K --namespace NS --port 9400
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["state_metrics", "targets"]

SCRAPE = "prometheus.io/scrape"


def targets(pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """HTTP SD groups (one per pod) of the scrapeable pods among ``pods`` (API JSON)."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        notes = meta.get("annotations") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if notes.get(SCRAPE) != "true" or not ip or not notes.get("prometheus.io/port"):
            continue
        labels = meta.get("labels") or {}
        group = {
            "pod": str(meta.get("name", "")),
            "namespace": str(meta.get("namespace", "")),
            "__metrics_path__": notes.get("prometheus.io/path", "/metrics"),
        }
        job = labels.get("app.kubernetes.io/component") or labels.get("app")
        if job:
            group["job"] = job
        if labels.get("track"):
            group["track"] = labels["track"]
        out.append({"targets": [f"{ip}:{notes['prometheus.io/port']}"], "labels": group})
    return sorted(out, key=lambda g: g["labels"]["pod"])


def _line(name: str, labels: dict[str, str], value: float) -> str:
    def quoted(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    inner = ",".join(f'{k}="{quoted(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} {value:g}"


_HELP = {
    "kube_pod_container_status_restarts_total": "counter",
    "kube_pod_container_status_last_terminated_reason": "gauge",
    "kube_deployment_spec_replicas": "gauge",
    "kube_deployment_status_replicas_updated": "gauge",
    "kube_deployment_status_condition": "gauge",
}


def state_metrics(pods: Iterable[dict[str, Any]], deployments: Iterable[dict[str, Any]]) -> str:
    """Prometheus text of the pods' and Deployments' states (API JSON), as kube-state-metrics
    names them."""
    lines: dict[str, list[str]] = {name: [] for name in _HELP}
    for pod in pods:
        meta = pod.get("metadata") or {}
        base = {"namespace": str(meta.get("namespace", "")), "pod": str(meta.get("name", ""))}
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            labels = {**base, "container": str(status.get("name", ""))}
            lines["kube_pod_container_status_restarts_total"].append(
                _line(
                    "kube_pod_container_status_restarts_total",
                    labels,
                    status.get("restartCount", 0),
                )
            )
            reason = ((status.get("lastState") or {}).get("terminated") or {}).get("reason")
            if reason:
                lines["kube_pod_container_status_last_terminated_reason"].append(
                    _line(
                        "kube_pod_container_status_last_terminated_reason",
                        {**labels, "reason": str(reason)},
                        1,
                    )
                )
    for d in deployments:
        meta = d.get("metadata") or {}
        base = {
            "namespace": str(meta.get("namespace", "")),
            "deployment": str(meta.get("name", "")),
        }
        spec, status = d.get("spec") or {}, d.get("status") or {}
        lines["kube_deployment_spec_replicas"].append(
            _line("kube_deployment_spec_replicas", base, spec.get("replicas", 1))
        )
        lines["kube_deployment_status_replicas_updated"].append(
            _line("kube_deployment_status_replicas_updated", base, status.get("updatedReplicas", 0))
        )
        for cond in status.get("conditions") or []:
            for value in ("true", "false", "unknown"):
                labels = {**base, "condition": str(cond.get("type", "")), "status": value}
                seen = str(cond.get("status", "")).lower() == value
                lines["kube_deployment_status_condition"].append(
                    _line("kube_deployment_status_condition", labels, 1 if seen else 0)
                )
    out = []
    for name, kind in _HELP.items():
        out += [f"# TYPE {name} {kind}", *lines[name]]
    return "\n".join(out) + "\n"


def _serve(kubeconfig: Path, namespace: str, port: int) -> None:
    from sre_cli.ops.providers.kubernetes import KubeTarget

    kube = KubeTarget.connect(kubeconfig, namespace)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in ("/targets", "/metrics"):
                self.send_error(404)
                return
            try:
                with lock:
                    pods = [kube.plain(p) for p in kube.list_pods("")]
                    if self.path == "/metrics":
                        listed = kube.call(
                            "list deployments",
                            kube.apps.list_namespaced_deployment,
                            kube.namespace,
                        )
                        deployments = [kube.plain(d) for d in listed.items]
                if self.path == "/metrics":
                    body = state_metrics(pods, deployments).encode()
                    kind = "text/plain; version=0.0.4"
                else:
                    body = json.dumps(targets(pods)).encode()
                    kind = "application/json"
            except Exception as exc:  # the API away: Prometheus keeps the last targets
                self.send_error(503, str(exc)[:200])
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _serve(args.kubeconfig, args.namespace, args.port)


if __name__ == "__main__":
    main()

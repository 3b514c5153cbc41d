"""Scrape targets of the cluster's pods for Prometheus' HTTP service discovery.

Debian's Prometheus is built without the Kubernetes discovery, so this small server does its
part: ``GET /targets`` lists the namespace's pods through the API and answers, for each pod
with an IP and the ``prometheus.io/scrape: "true"`` annotation, its ``IP:port`` (the
``prometheus.io/port`` annotation) with the labels the SLO queries select on: ``job`` (the
pod's ``app.kubernetes.io/component``), ``track`` (the pod's ``track`` label, what ``aqua
rollout`` judges apart), ``pod``, ``namespace`` and ``__metrics_path__``. Pods that are
terminating stay listed until they are gone: they still answer while they drain.

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

__all__ = ["targets"]

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


def _serve(kubeconfig: Path, namespace: str, port: int) -> None:
    from sre_cli.ops.providers.kubernetes import KubeTarget

    kube = KubeTarget.connect(kubeconfig, namespace)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/targets":
                self.send_error(404)
                return
            try:
                with lock:
                    pods = [kube.plain(p) for p in kube.list_pods("")]
                body = json.dumps(targets(pods)).encode()
            except Exception as exc:  # the API away: Prometheus keeps the last targets
                self.send_error(503, str(exc)[:200])
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
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

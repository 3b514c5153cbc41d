"""Prometheus for the local cluster: a host process that scrapes the pods on the bridge.

Debian's Prometheus has no Kubernetes discovery; :mod:`.discovery` serves the namespace's
annotated pods (listed through the API with a client certificate of its own, allowed to list
pods) to Prometheus' HTTP discovery every 2 s, with the labels ``job``, ``track``, ``pod`` and
``namespace``. Prometheus scrapes each pod at its pod IP, which the host reaches over the
node's bridge, every 2 s: a rollout step's window is seconds to minutes long::

    prom = start_prometheus(workdir, plane, kube, "aquaculture-local", started)
    prom.url          # http://127.0.0.1:PORT
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from sre_cli.cluster.addons import apply_rbac
from sre_cli.cluster.kubectl import Kubectl
from sre_cli.errors import ComponentError
from sre_cli.infra.http import http_request
from sre_cli.infra.process import ManagedProcess, free_port
from sre_cli.infra.prometheus import PrometheusServer
from sre_cli.k8s.controlplane import ControlPlane

__all__ = ["SCRAPE_INTERVAL_S", "scrape_config", "start_prometheus"]

SCRAPE_INTERVAL_S = 2
USER = "system:aqua-prometheus"


def scrape_config(discovery_url: str) -> str:
    """The Prometheus configuration: one job over the targets :mod:`.discovery` serves."""
    return f"""global:
  scrape_interval: {SCRAPE_INTERVAL_S}s
  evaluation_interval: {SCRAPE_INTERVAL_S}s
scrape_configs:
  - job_name: pods
    http_sd_configs:
      - url: {discovery_url}
        refresh_interval: {SCRAPE_INTERVAL_S}s
"""


def start_prometheus(
    workdir: Path,
    plane: ControlPlane,
    kube: Kubectl,
    namespace: str,
    started: Callable[[str, int | None], None],
) -> PrometheusServer:
    """The discovery server and Prometheus on 127.0.0.1; ``started(name, pid)`` records each
    process for ``aqua cluster down``. Returns once Prometheus is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    apply_rbac(kube, "aqua:prometheus", USER, [([""], ["pods"], ["get", "list", "watch"])])
    kubeconfig = plane.client_kubeconfig(workdir, "prometheus", USER)
    port = free_port()
    argv = [sys.executable, "-m", "sre_cli.cluster.discovery", "--kubeconfig", str(kubeconfig)]
    discovery = ManagedProcess(
        "pod-discovery", [*argv, "--namespace", namespace, "--port", str(port)], workdir
    )
    discovery.start()
    started("pod-discovery", discovery.pid)
    url = f"http://127.0.0.1:{port}/targets"
    discovery.wait_ready(lambda: http_request(url)[0] == 200, timeout=60)
    # No lifecycle or admin API: nobody on the host deletes series or stops it over HTTP.
    prom = PrometheusServer(workdir, scrape_config(url), retention="2d", admin_api=False)
    prom.start()
    if prom.process is None or prom.process.pid is None:
        raise ComponentError("prometheus started without a pid")
    started("prometheus", prom.process.pid)
    return prom

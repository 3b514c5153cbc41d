"""Prometheus for the local cluster: a host process that scrapes the pods on the bridge.

It discovers the pods of the stack's namespace through the API (``kubernetes_sd_configs``,
role ``pod``, with a client certificate of its own allowed to list and watch pods) and scrapes
each pod that carries the ``prometheus.io/scrape`` annotation at its pod IP, which the host
reaches over the node's bridge. Every series gets the pod's ``track`` label (``stable`` or
``canary``, what ``aqua rollout`` judges apart), ``job`` from its
``app.kubernetes.io/component`` label (``api``, as the SLO files select), ``pod`` and
``namespace``. Scrapes every 2 s: a rollout step's window is seconds to minutes long::

    prom = start_prometheus(workdir, plane, kube, "aquaculture-local")
    prom.url          # http://127.0.0.1:PORT
"""

from __future__ import annotations

from pathlib import Path

from sre_cli.cluster.addons import apply_rbac
from sre_cli.cluster.kubectl import Kubectl
from sre_cli.infra.prometheus import PrometheusServer
from sre_cli.k8s.controlplane import ControlPlane

__all__ = ["SCRAPE_INTERVAL_S", "scrape_config", "start_prometheus"]

SCRAPE_INTERVAL_S = 2
USER = "system:aqua-prometheus"


def scrape_config(kubeconfig: Path, namespace: str) -> str:
    """The Prometheus configuration: one job over the annotated pods of ``namespace``."""
    return f"""global:
  scrape_interval: {SCRAPE_INTERVAL_S}s
  evaluation_interval: {SCRAPE_INTERVAL_S}s
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: {kubeconfig}
        namespaces:
          names: [{namespace}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        regex: "true"
        action: keep
      - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        regex: '([^:]+)(?::\\d+)?;(\\d+)'
        replacement: '$1:$2'
        target_label: __address__
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        regex: '(.+)'
        target_label: __metrics_path__
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
        target_label: job
      - source_labels: [__meta_kubernetes_pod_label_track]
        target_label: track
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
"""


def start_prometheus(
    workdir: Path, plane: ControlPlane, kube: Kubectl, namespace: str
) -> PrometheusServer:
    """Prometheus on 127.0.0.1 scraping ``namespace``'s pods; returns once it is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    apply_rbac(kube, "aqua:prometheus", USER, [([""], ["pods"], ["get", "list", "watch"])])
    kubeconfig = plane.client_kubeconfig(workdir, "prometheus", USER)
    # No lifecycle or admin API: nobody on the host deletes series or stops it over HTTP.
    prom = PrometheusServer(
        workdir, scrape_config(kubeconfig, namespace), retention="2d", admin_api=False
    )
    return prom.start()

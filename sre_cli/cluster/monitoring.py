"""Prometheus for the local cluster: a host process that scrapes the pods on the bridge.

Debian's Prometheus has no Kubernetes discovery; :mod:`.discovery` serves the namespace's
annotated pods (listed through the API with a client certificate of its own, allowed to list
pods) to Prometheus' HTTP discovery every 2 s, with the labels ``job``, ``track``, ``pod`` and
``namespace``. Prometheus scrapes each pod at its pod IP, which the host reaches over the
node's bridge, every 2 s: a rollout step's window is seconds to minutes long. The same
server's ``/metrics`` answers the object states the alert rules read under
kube-state-metrics' names (a job ``kube-state-metrics``).

Prometheus evaluates the shipped alert rules (``manifests/monitoring/rules``) and sends what
fires to an Alertmanager of its own on 127.0.0.1, from the same Debian binary and shipped
configuration as the stack's (the routes per team, no webhook: the alerts are read from its
API). With ``gameday_alerts`` every ``for:`` is capped as on the stack
(:data:`~sre_cli.stack.configs.GAMEDAY_TIMINGS`), so a game day's alert fires within seconds::

    mon = start_monitoring(workdir, plane, kube, "aquaculture-local", started)
    mon.prometheus.url      # http://127.0.0.1:PORT
    mon.alertmanager.url
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sre_cli.cluster.addons import apply_rbac
from sre_cli.cluster.kubectl import Kubectl
from sre_cli.errors import ComponentError
from sre_cli.infra.alertmanager import AlertmanagerServer
from sre_cli.infra.http import http_request
from sre_cli.infra.process import HttpServer, ManagedProcess, free_port
from sre_cli.infra.prometheus import PrometheusServer
from sre_cli.k8s.controlplane import ControlPlane

__all__ = [
    "SCRAPE_INTERVAL_S",
    "Monitoring",
    "alertmanager_config",
    "scrape_config",
    "start_monitoring",
]

SCRAPE_INTERVAL_S = 2
USER = "system:aqua-prometheus"


@dataclass(frozen=True)
class Monitoring:
    prometheus: PrometheusServer
    alertmanager: AlertmanagerServer


def scrape_config(
    discovery_url: str, rule_files: Sequence[str] = (), alertmanager: str | None = None
) -> str:
    """The Prometheus configuration: one job over the targets :mod:`.discovery` serves, one
    for its object states; the rule files and Alertmanager (``host:port``) when given."""
    state = discovery_url.rsplit("/", 1)[0].split("://", 1)[1]
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL_S}s",
            "evaluation_interval": f"{SCRAPE_INTERVAL_S}s",
        },
        "scrape_configs": [
            {
                "job_name": "pods",
                "http_sd_configs": [
                    {"url": discovery_url, "refresh_interval": f"{SCRAPE_INTERVAL_S}s"}
                ],
            },
            {
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "static_configs": [{"targets": [state]}],
            },
        ],
    }
    if rule_files:
        config["rule_files"] = list(rule_files)
    if alertmanager:
        static = {"targets": [alertmanager]}
        config["alerting"] = {"alertmanagers": [{"static_configs": [static]}]}
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_config() -> str:
    """The shipped ``alertmanager.yml`` (routes per team), its receivers without webhooks."""
    from sre_cli.stack.configs import monitoring_dir

    config = yaml.safe_load((monitoring_dir() / "alertmanager.yml").read_text(encoding="utf-8"))
    for receiver in config.get("receivers", []):
        receiver.pop("webhook_configs", None)
    return yaml.safe_dump(config, sort_keys=False)


def start_monitoring(
    workdir: Path,
    plane: ControlPlane,
    kube: Kubectl,
    namespace: str,
    started: Callable[[str, int | None], None],
    *,
    gameday_alerts: bool = False,
) -> Monitoring:
    """The discovery server, Alertmanager and Prometheus on 127.0.0.1; ``started(name,
    pid)`` records each process for ``aqua cluster down``. Returns once both are ready."""
    from sre_cli.stack.configs import copy_rules

    workdir.mkdir(parents=True, exist_ok=True)
    apply_rbac(
        kube,
        "aqua:prometheus",
        USER,
        [([""], ["pods"], ["get", "list", "watch"]), (["apps"], ["deployments"], ["get", "list"])],
    )
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
    am = AlertmanagerServer(workdir / "alertmanager", alertmanager_config())
    am.start()
    started("alertmanager", _pid(am))
    rules = copy_rules(workdir / "rules", gameday_alerts=gameday_alerts)
    config = scrape_config(url, rules, f"127.0.0.1:{am.port}")
    # No lifecycle or admin API: nobody on the host deletes series or stops it over HTTP.
    prom = PrometheusServer(workdir, config, retention="2d", admin_api=False)
    prom.start()
    started("prometheus", _pid(prom))
    return Monitoring(prom, am)


def _pid(server: HttpServer) -> int:
    if server.process is None or server.process.pid is None:
        raise ComponentError(f"{server.name} started without a pid")
    return server.process.pid

"""The local cluster's Prometheus finds the pods through the API: sre_cli.cluster.discovery
serves them to Prometheus' HTTP discovery, with each pod's ``track`` and ``job``. On kwok the
pods have addresses nobody answers on, so the targets are found but down: what is checked
here is the discovery and the labels (scrapes are checked on the real node)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from polling import wait_for

from sre_cli.cluster.discovery import targets
from sre_cli.cluster.kubectl import Kubectl
from sre_cli.infra.http import http_request
from sre_cli.k8s import ControlPlane

NS = "discovery-kwok"


def _pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": labels,
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8000"},
        },
        "status": {"podIP": "10.244.0.7"},
    }


def test_targets_carry_job_track_and_pod_and_skip_what_cannot_be_scraped() -> None:
    no_ip = _pod("pending", app="x")
    no_ip["status"] = {}
    not_annotated = _pod("plain", app="x")
    not_annotated["metadata"]["annotations"] = {}
    found = targets(
        [
            _pod("api-1", **{"app.kubernetes.io/component": "api", "track": "canary"}),
            _pod("worker-1", app="worker"),
            no_ip,
            not_annotated,
        ]
    )
    assert found == [
        {
            "targets": ["10.244.0.7:8000"],
            "labels": {
                "pod": "api-1",
                "namespace": NS,
                "__metrics_path__": "/metrics",
                "job": "api",
                "track": "canary",
            },
        },
        {
            "targets": ["10.244.0.7:8000"],
            "labels": {
                "pod": "worker-1",
                "namespace": NS,
                "__metrics_path__": "/metrics",
                "job": "worker",
            },
        },
    ]


@pytest.fixture
def processes() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:  # the discovery server and Prometheus, each leading a process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)


@pytest.mark.integration
def test_prometheus_discovers_the_namespace_pods_with_their_track(
    kube_cluster: ControlPlane, tmp_path: Path, processes: list[int]
) -> None:
    from sre_cli.cluster.monitoring import start_monitoring

    kube = Kubectl(kube_cluster.toolchain.kubectl, kube_cluster.kubeconfig)
    kube.run("create", "namespace", NS, check=False)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {
                    "labels": {
                        "app": "api",
                        "app.kubernetes.io/component": "api",
                        "track": "stable",
                    },
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": "8000",
                    },
                },
                "spec": {"containers": [{"name": "api", "image": "svc:1"}]},
            },
        },
    }
    kube.run("apply", "-f", "-", stdin=json.dumps(deployment))
    mon = start_monitoring(
        tmp_path,
        kube_cluster,
        kube,
        NS,
        lambda _name, pid: processes.append(pid or 0),
        gameday_alerts=True,
    )
    prom = mon.prometheus

    def found() -> list[dict[str, str]]:
        status, body = http_request(f"{prom.url}/api/v1/targets")
        assert status == 200
        active = json.loads(body)["data"]["activeTargets"]
        return [t["labels"] for t in active if t["labels"]["job"] != "kube-state-metrics"]

    def both() -> list[dict[str, str]] | None:
        now = found()
        return now if len(now) >= 2 else None

    labels = wait_for(both, "two targets")
    pods = {p["metadata"]["name"] for p in kube.json("-n", NS, "get", "pods")["items"]}
    assert {t["pod"] for t in labels} == pods
    assert all(t["job"] == "api" and t["track"] == "stable" for t in labels), labels
    assert all(t["namespace"] == NS for t in labels)

    # The object states under kube-state-metrics' names, as the alert rules read them.
    def replicas() -> list[dict[str, Any]]:
        query = urllib.parse.quote(f'kube_deployment_spec_replicas{{namespace="{NS}"}}')
        status, body = http_request(f"{prom.url}/api/v1/query?query={query}")
        assert status == 200
        result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
        return result

    series = wait_for(replicas, "kube_deployment_spec_replicas")
    assert [(s["metric"]["deployment"], s["value"][1]) for s in series] == [("api", "2")]
    # The shipped rules, every `for:` shortened, sent to the cluster's Alertmanager.
    body = http_request(f"{prom.url}/api/v1/rules")[1]
    rules = {r["name"]: r for g in json.loads(body)["data"]["groups"] for r in g["rules"]}
    assert rules["APIDown"]["duration"] == 10
    assert rules["DeploymentRolloutStuck"]["duration"] == 10

    def alertmanagers() -> list[str]:
        body = http_request(f"{prom.url}/api/v1/alertmanagers")[1]
        active = json.loads(body)["data"]["activeAlertmanagers"]
        return [str(a["url"]).split("/api/")[0] for a in active]

    found_am = wait_for(alertmanagers, "Prometheus to know its Alertmanager")
    assert found_am == [mon.alertmanager.url]
    assert http_request(f"{mon.alertmanager.url}/-/ready")[0] == 200

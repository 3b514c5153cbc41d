"""``aqua runbook run api-down --target kubernetes`` against a real control plane.

etcd, kube-apiserver, controller manager and scheduler are real; kwok plays the kubelet. The
prod overlay is applied as manifests/README.md documents, and every run authenticates as the
``aqua-operator`` ServiceAccount with a short-lived token, so RBAC is the real Role. The tests
share one cluster (one module) and run in file order: an API pod is made not ready, a dry
run and a declined run leave it alone, the confirmed run replaces it, and a namespace outside
the Role's grant is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import run_aqua
from infra_harness import PrometheusFactory
from k8s.app_secret import create_app_secret
from kubernetes import client, config
from runbook.k8s_harness import control_plane, kubectl, slo_prometheus, wait_for

from sre_cli.k8s import ControlPlane
from sre_cli.runbook.loader import load_runbook

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROD = ROOT / "manifests" / "overlays" / "prod"
NS = "aquaculture-prod"
SELECTOR = "app=api-service"
# What the API server returns is typed Any here: the client's models declare every field
# Optional (a request may leave any out), and the server's answers fill the fields read below.


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from control_plane(tmp_path_factory.mktemp("k8s"))


@pytest.fixture(scope="module", autouse=True)
def prometheus(prometheus_factory: PrometheusFactory) -> Iterator[str]:
    """The Prometheus the runbook asks (its verification against the SLO, what it scrapes)."""
    url = slo_prometheus(prometheus_factory)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AQUA_PROMETHEUS_URL", url)
        yield url


def available(apps: client.AppsV1Api) -> bool:
    d: Any = apps.read_namespaced_deployment("api-service", NS)
    conds = {c.type: c.status for c in d.status.conditions or []}
    return conds.get("Available") == "True" and d.status.available_replicas == d.spec.replicas


@pytest.fixture(scope="module")
def admin(cluster: ControlPlane) -> Iterator[client.ApiClient]:
    """Admin client on a cluster with the prod overlay applied and every Deployment ready."""
    rendered = kubectl(cluster, "kustomize", str(PROD))
    (namespace,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Namespace"]
    kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump(namespace))
    kubectl(cluster, *create_app_secret(NS))
    kubectl(cluster, "apply", "-k", str(PROD))
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig)
    )
    apps = client.AppsV1Api(api)
    wait_for(lambda: available(apps), "api-service Available", timeout=120)
    yield api
    api.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def operator_kubeconfig(
    cluster: ControlPlane, admin: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig holding a 10-minute token of the aqua-operator ServiceAccount."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    issued: Any = client.CoreV1Api(admin).create_namespaced_service_account_token(
        "aqua-operator", NS, request
    )
    token: str = issued.status.token
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "aqua",
                        "cluster": {
                            "server": cluster.server,
                            "certificate-authority": str(cluster.pki.ca.cert),
                        },
                    }
                ],
                "users": [{"name": "aqua-operator", "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "operator",
                        "context": {"cluster": "aqua", "user": "aqua-operator", "namespace": NS},
                    }
                ],
                "current-context": "operator",
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def victim(admin: client.ApiClient) -> str:
    """One API pod marked not ready (its readiness probe failing), the Deployment unavailable.

    kwok reports a pod Ready once, when it starts; a pod turned not ready later stays so.
    """
    core = client.CoreV1Api(admin)
    pods: list[Any] = core.list_namespaced_pod(NS, label_selector=SELECTOR).items
    pod = sorted(pods, key=lambda p: p.metadata.name)[0]
    now = pod.status.conditions[0].last_transition_time
    for cond in pod.status.conditions:
        if cond.type in ("Ready", "ContainersReady"):
            cond.status = "False"
            cond.reason = "ContainersNotReady"
            cond.last_transition_time = now
    for status in pod.status.container_statuses or []:
        status.ready = False
    core.replace_namespaced_pod_status(pod.metadata.name, NS, pod)
    apps = client.AppsV1Api(admin)
    wait_for(lambda: not available(apps), "api-service to lose availability", timeout=30)
    return str(pod.metadata.name)


def api_pods(admin: client.ApiClient) -> dict[str, str]:
    pods: list[Any] = client.CoreV1Api(admin).list_namespaced_pod(NS, label_selector=SELECTOR).items
    return {p.metadata.name: p.metadata.uid for p in pods}


def runbook(
    kubeconfig: Path, tmp: Path, *args: str, stdin: str = "", name: str = "api-down"
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``aqua runbook run NAME --target kubernetes`` as the operator; JSON report."""
    transcript = str(tmp / f"t-{os.urandom(4).hex()}.jsonl")
    done = run_aqua(
        *("runbook", "run", name, "--target", "kubernetes"),
        *("--kubeconfig", str(kubeconfig), "--transcript", transcript, "--format", "json"),
        *args,
        stdin=stdin,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON report:\n{done.stdout}\n{done.stderr}")
    return done, report


def by_step(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {s["step"]: s for s in report["steps"]}


def test_dry_run_lists_the_pod_and_deletes_nothing(
    operator_kubeconfig: Path, admin: client.ApiClient, victim: str, tmp_path: Path
) -> None:
    before = api_pods(admin)
    done, report = runbook(operator_kubeconfig, tmp_path, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert report["outcome"] == "dry-run"
    assert report["params"]["namespace"] == NS  # from the kubeconfig's context
    steps = by_step(report)
    assert steps[4]["status"] == "fail"
    assert "2/3 available" in steps[4]["summary"]
    assert [victim in line for line in steps[5]["details"]] == [True]  # the one not-ready pod
    assert steps[11]["status"] == "would"
    assert steps[11]["changes"] == [f"delete pod {victim} (NOT READY: Running, ContainersNotReady)"]
    assert steps[12]["status"] == "nothing"  # scale up to at least 2: it wants 3
    assert steps[14]["status"] == "would"
    assert api_pods(admin) == before


DESCRIBE = """\
---
title: Describe the API
targets: [kubernetes]
---
# Describe the API

```aqua diagnose
describe: {deployment: deployment/api-service, events: 20}
```

```aqua diagnose
describe: {selector: "app=api-service"}
```

```aqua diagnose
describe: {pod: VICTIM}
```
"""


def test_describe_shows_the_deployment_and_its_pods_as_the_operator(
    operator_kubeconfig: Path, admin: client.ApiClient, victim: str, tmp_path: Path
) -> None:
    """``describe`` against the API server, with the operator's Role: a Deployment's replicas
    and events, each pod's state, containers and events (the scheduler's, for real)."""
    path = tmp_path / "describe-api.md"
    path.write_text(DESCRIBE.replace("VICTIM", victim))
    done, report = runbook(operator_kubeconfig, tmp_path, name=str(path))
    assert done.returncode == 0, done.stderr + json.dumps(report, indent=1)
    steps = by_step(report)
    assert [(s["status"], s["risk"]) for s in steps.values()] == [("info", "read")] * 3
    deployment = steps[1]["details"]
    assert deployment[0] == f"── deployment/api-service (namespace {NS})"
    assert deployment[1].startswith("   replicas: 3 desired | 3 updated | 3 total")
    assert any("Available=" in line for line in deployment)
    assert any("ScalingReplicaSet" in line for line in deployment)  # the controller's events
    pods = api_pods(admin)
    assert steps[2]["summary"] == f"described {len(pods)} pod(s)"
    text = "\n".join(steps[2]["details"])
    for name in pods:
        assert f"── pod {name} (namespace {NS})" in text
    assert "      state: running since " in text  # kwok's container status, as reported
    assert "restarts: 0" in text
    assert "Scheduled" in text  # the scheduler's event for each pod
    one = "\n".join(steps[3]["details"])
    assert one.startswith(f"── pod {victim} (namespace {NS})")
    assert "NOT READY: Running, ContainersNotReady" in one
    assert "conditions: " in one
    assert "Ready=False (ContainersNotReady)" in one


def test_a_destructive_step_without_yes_exits_3_and_deletes_nothing(
    operator_kubeconfig: Path, admin: client.ApiClient, victim: str, tmp_path: Path
) -> None:
    before = api_pods(admin)
    done, report = runbook(operator_kubeconfig, tmp_path, stdin="yes\n")
    assert done.returncode == 3, done.stderr
    message = " ".join(done.stderr.split())
    assert "step 11 (delete pods" in message
    assert "is destructive and runs only with --yes" in message
    assert "--from-step 11 --yes" in message
    assert report["outcome"] == "aborted"
    assert by_step(report)[11]["status"] == "declined"
    assert by_step(report)[11]["risk"] == "destructive"
    assert 14 not in by_step(report)
    assert api_pods(admin) == before


def test_api_down_replaces_the_not_ready_pod_as_the_operator(
    operator_kubeconfig: Path, admin: client.ApiClient, victim: str, tmp_path: Path
) -> None:
    before = api_pods(admin)
    done, report = runbook(operator_kubeconfig, tmp_path, "--yes")
    assert done.returncode == 0, done.stderr + json.dumps(report, indent=1)
    assert report["outcome"] == "resolved"
    steps = by_step(report)
    assert [(n, steps[n]["status"]) for n in sorted(steps)] == [
        (1, "info"),  # what Prometheus sees: no API to scrape here
        (4, "fail"),  # not Available
        (5, "info"),  # the not-ready pod
        (7, "info"),  # events
        (8, "info"),  # logs (kwok runs no containers: said so, the run goes on)
        (9, "error"),  # top: no metrics API on this control plane, said so
        (11, "done"),
        (12, "nothing"),  # scale up to at least 2 replicas: it wants 3, left alone
        (14, "pass"),
    ]
    assert report["verification"]["recovered"] is True  # the SLI: no API traffic, no errors
    assert "no traffic over 5m" in report["verification"]["summary"]
    assert steps[11]["summary"] == f"deleted pod {victim}"
    assert any("ScalingReplicaSet" in line for line in steps[7]["details"])
    assert "log not available" in steps[8]["details"][1]
    assert available(client.AppsV1Api(admin))
    after = api_pods(admin)
    assert victim not in after
    assert len(after) == 3
    assert set(before) - {victim} <= set(after)  # the ready pods were left alone


def test_a_namespace_outside_the_grant_is_forbidden(
    operator_kubeconfig: Path, admin: client.ApiClient, tmp_path: Path
) -> None:
    done, report = runbook(operator_kubeconfig, tmp_path, "--namespace", "kube-system", "--yes")
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "Forbidden:" in message
    assert f"system:serviceaccount:{NS}:aqua-operator" in message
    assert 'in the namespace "kube-system"' in message
    assert report["outcome"] == "error"
    assert by_step(report)[4]["status"] == "error"


ON_KUBERNETES = sorted(
    p.stem
    for p in (ROOT / "runbooks").glob("*.md")
    if p.name != "README.md" and "kubernetes" in load_runbook(p).meta.targets
)


@pytest.mark.parametrize("name", ON_KUBERNETES)
def test_every_shipped_runbook_dry_runs_with_the_risk_of_each_step(
    name: str, operator_kubeconfig: Path, admin: client.ApiClient, tmp_path: Path
) -> None:
    """As the operator, on the prod overlay: checks and actions all run (diagnostics may say
    what they could not gather: kwok runs no containers, there is no metrics API), and every
    step says what it risks."""
    before = {d.metadata.name: d.metadata.generation for d in deployments(admin)}
    done, report = runbook(operator_kubeconfig, tmp_path, "--dry-run", name=name)
    assert done.returncode == 0, done.stderr + json.dumps(report, indent=1)
    assert report["outcome"] == "dry-run"
    assert report["steps"], "no step runs on kubernetes"
    book = load_runbook(ROOT / "runbooks" / f"{name}.md")
    risks = {s.number: s.body.op.risk for s in book.steps}
    for step in report["steps"]:
        assert step["risk"] == risks[step["step"]], step
        if step["kind"] == "action":
            assert step["status"] in ("would", "nothing"), step
            assert step["risk"] in ("mutate", "destructive"), step
        else:
            assert step["risk"] == "read", step
        if step["kind"] != "diagnose":
            assert step["status"] != "error", step
    after = {d.metadata.name: d.metadata.generation for d in deployments(admin)}
    assert after == before  # a dry run changes nothing


def deployments(admin: client.ApiClient) -> list[Any]:
    found: Any = client.AppsV1Api(admin).list_namespaced_deployment(NS)
    return list(found.items)

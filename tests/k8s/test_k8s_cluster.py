"""The reference stack's manifests against a real control plane.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real binaries; kwok
plays the kubelet on three fake nodes. The tests run in file order and build on each other:
dry run first (nothing may exist yet), then the real apply, then disruption and RBAC.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s.app_secret import create_app_secret
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from polling import wait_for

from sre_cli.k8s import ControlPlane

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROD = ROOT / "manifests" / "overlays" / "prod"
NS = "aquaculture-prod"
DEPLOYMENTS = {"api-service": 3, "ml-service": 2, "worker": 2}
# What the API server returns is typed Any here: the client's models declare every field
# Optional (a request may leave any out), and the server's answers fill the fields read below.


class Kubectl:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def __call__(
        self, *args: str, stdin: str = "", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [str(self.plane.toolchain.kubectl), *args],
            input=stdin,
            env=self.plane.kubectl_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert out.returncode == 0, f"kubectl {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
        return out


@pytest.fixture(scope="module")
def kubectl(kube_cluster: ControlPlane) -> Kubectl:
    return Kubectl(kube_cluster)


@pytest.fixture(scope="module")
def admin_client(kube_cluster: ControlPlane) -> Iterator[client.ApiClient]:
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kube_cluster.kubeconfig)
    )
    yield api
    api.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def prod_namespace(kubectl: Kubectl) -> str:
    """Only the overlay's Namespace object: a server dry run cannot create the namespace the
    rest of the overlay lives in, so it must exist first."""
    rendered = kubectl("kustomize", str(PROD)).stdout
    (namespace,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Namespace"]
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(namespace))
    return str(namespace["metadata"]["name"])


def deployments_available(apps: client.AppsV1Api) -> dict[str, int] | None:
    items: list[Any] = apps.list_namespaced_deployment(NS).items
    state = {d.metadata.name: d for d in items}
    if set(state) != set(DEPLOYMENTS):
        return None
    for name, want in DEPLOYMENTS.items():
        st = state[name].status
        conds = {c.type: c.status for c in st.conditions or []}
        ok = (
            conds.get("Available") == "True"
            and st.available_replicas == want
            and st.updated_replicas == want
            and st.ready_replicas == want
            and st.observed_generation == state[name].metadata.generation
        )
        if not ok:
            return None
    return {name: state[name].status.available_replicas for name in DEPLOYMENTS}


def running_and_ready(pod: Any) -> bool:
    if pod.status.phase != "Running" or pod.metadata.deletion_timestamp is not None:
        return False
    conds = {c.type: c.status for c in pod.status.conditions or []}
    return conds.get("Ready") == "True" and bool(pod.spec.node_name)


@pytest.fixture(scope="module")
def applied(kubectl: Kubectl, prod_namespace: str, admin_client: client.ApiClient) -> float:
    """Create the Secret as manifests/README.md documents, apply the prod overlay, and
    return the seconds until every Deployment was Available."""
    kubectl(*create_app_secret(prod_namespace))
    start = time.monotonic()
    kubectl("apply", "-k", str(PROD))
    apps = client.AppsV1Api(admin_client)
    wait_for(lambda: deployments_available(apps), what="Deployments Available", timeout=120)
    return time.monotonic() - start


def test_control_plane_is_up_with_ready_nodes(
    kube_cluster: ControlPlane, admin_client: client.ApiClient
) -> None:
    nodes: list[Any] = client.CoreV1Api(admin_client).list_node().items
    assert sorted(n.metadata.name for n in nodes) == kube_cluster.node_names
    for node in nodes:
        conds = {c.type: c.status for c in node.status.conditions}
        assert conds["Ready"] == "True", node.metadata.name
    version = client.VersionApi(admin_client).get_code()
    assert version.git_version == kube_cluster.toolchain.k8s_version
    # How long it took to start is a figure of bench/k8s/run.py, not a pass/fail here.


def test_prod_overlay_passes_server_dry_run(
    kubectl: Kubectl, prod_namespace: str, admin_client: client.ApiClient
) -> None:
    out = kubectl("apply", "--dry-run=server", "-k", str(PROD))
    lines = out.stdout.splitlines()
    assert lines, out.stderr
    assert all(line.endswith("(server dry run)") for line in lines), out.stdout
    for kind_name in (
        "deployment.apps/api-service",
        "horizontalpodautoscaler.autoscaling/api-service",
        "poddisruptionbudget.policy/api-service",
        "networkpolicy.networking.k8s.io/default-deny-all",
        "role.rbac.authorization.k8s.io/aqua-operator",
    ):
        assert any(line.startswith(kind_name + " ") for line in lines), kind_name
    # The namespace enforces the restricted Pod Security Standard; the API server warns on
    # workload templates that would violate it.
    assert "PodSecurity" not in out.stderr, out.stderr
    # A dry run persists nothing.
    assert client.AppsV1Api(admin_client).list_namespaced_deployment(prod_namespace).items == []


def test_prod_overlay_applies_and_pods_become_ready(
    applied: float, admin_client: client.ApiClient, kube_cluster: ControlPlane
) -> None:
    pods: list[Any] = client.CoreV1Api(admin_client).list_namespaced_pod(NS).items
    assert len(pods) == sum(DEPLOYMENTS.values())
    assert all(running_and_ready(p) for p in pods), [p.metadata.name for p in pods]
    assert {p.spec.node_name for p in pods} <= set(kube_cluster.node_names)
    # The scheduler honoured the spread constraint: api pods on three different nodes.
    api_nodes = {p.spec.node_name for p in pods if p.metadata.labels["app"] == "api-service"}
    assert len(api_nodes) == 3
    print(f"\nprod overlay Available in {applied:.1f} s")


def test_deleted_api_pod_is_replaced_and_ready(
    applied: float, admin_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(admin_client)
    selector = "app=api-service"
    listed: list[Any] = core.list_namespaced_pod(NS, label_selector=selector).items
    before: set[str] = {p.metadata.name for p in listed}
    victim = sorted(before)[0]
    core.delete_namespaced_pod(victim, NS)

    def replaced() -> list[Any] | None:
        pods: list[Any] = core.list_namespaced_pod(NS, label_selector=selector).items
        names = {p.metadata.name for p in pods}
        fresh = [p for p in pods if p.metadata.name not in before]
        ready = [p for p in pods if running_and_ready(p)]
        if victim in names or not fresh or len(ready) != 3:
            return None
        return fresh

    fresh = wait_for(replaced, what="a Ready replacement api pod", timeout=90)
    (new_pod,) = fresh
    assert new_pod.spec.node_name
    owner = new_pod.metadata.owner_references[0]
    assert (owner.kind, owner.controller) == ("ReplicaSet", True)


@pytest.fixture(scope="module")
def operator_client(
    applied: float, admin_client: client.ApiClient, kube_cluster: ControlPlane
) -> Iterator[client.ApiClient]:
    """A client authenticated with a real, short-lived token of the aqua-operator SA."""
    core = client.CoreV1Api(admin_client)
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    issued: Any = core.create_namespaced_service_account_token("aqua-operator", NS, request)
    token: str = issued.status.token
    cfg = client.Configuration()
    cfg.host = kube_cluster.server
    cfg.ssl_ca_cert = str(kube_cluster.pki.ca.cert)
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    api = client.ApiClient(cfg)
    who: Any = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    assert who.status.user_info.username == f"system:serviceaccount:{NS}:aqua-operator"
    yield api
    api.close()  # type: ignore[no-untyped-call]


def forbidden(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ApiException as exc:
        if exc.status == 403:
            return True
        raise
    return False


def test_operator_may_delete_pods_in_its_namespace(
    operator_client: client.ApiClient, admin_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(operator_client)
    apps = client.AppsV1Api(operator_client)
    pods: list[Any] = core.list_namespaced_pod(NS, label_selector="app=worker").items
    victim: str = pods[0].metadata.name
    core.delete_namespaced_pod(victim, NS)
    # What runbooks need besides deleting pods.
    scale: Any = apps.read_namespaced_deployment_scale("api-service", NS)
    assert scale.spec.replicas == 3
    apps.patch_namespaced_deployment(
        "worker", NS, {"spec": {"template": {"metadata": {"annotations": {"aqua/restart": "1"}}}}}
    )
    core.list_namespaced_event(NS)
    admin_core = client.CoreV1Api(admin_client)

    def pod_names() -> set[str]:
        pods: list[Any] = admin_core.list_namespaced_pod(NS).items
        return {p.metadata.name for p in pods}

    wait_for(
        lambda: victim not in pod_names(),
        what=f"{victim} gone",
        timeout=30,
    )


def test_operator_is_forbidden_outside_its_grant(
    operator_client: client.ApiClient, admin_client: client.ApiClient
) -> None:
    admin_core: Any = client.CoreV1Api(admin_client)  # reads the probe pod back: Any, as above
    system_pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="rbac-probe", namespace="kube-system"),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="c", image="aqua/probe:0")],
            automount_service_account_token=False,
        ),
    )
    admin_core.create_namespaced_pod("kube-system", system_pod)
    try:
        core = client.CoreV1Api(operator_client)
        apps = client.AppsV1Api(operator_client)
        assert forbidden(lambda: core.delete_namespaced_pod("rbac-probe", "kube-system"))
        assert admin_core.read_namespaced_pod("rbac-probe", "kube-system").metadata.name
        assert forbidden(lambda: core.read_namespaced_secret("aqua-app", NS))
        assert forbidden(lambda: core.list_namespaced_secret(NS))
        assert forbidden(lambda: core.list_namespaced_pod("kube-system"))
        assert forbidden(lambda: apps.delete_namespaced_deployment("api-service", NS))
        assert forbidden(lambda: apps.list_namespaced_deployment(NS))
        own_pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="rbac-probe"), spec=system_pod.spec
        )
        assert forbidden(lambda: core.create_namespaced_pod(NS, own_pod))
    finally:
        admin_core.delete_namespaced_pod("rbac-probe", "kube-system", grace_period_seconds=0)

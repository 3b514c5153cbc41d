"""Static checks of the rendered manifests, the Dockerfile and the compose file.

The manifests are rendered with the pinned kubectl (kustomize built in); no server is needed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sre_cli.k8s import K8sToolchain

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
DOCKER = MANIFESTS / "docker"
NAMESPACE = {"prod": "aquaculture-prod", "dev": "aquaculture-dev"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}

Doc = dict[str, Any]


def render(toolchain: K8sToolchain, overlay: str) -> list[Doc]:
    out = subprocess.run(
        [toolchain.kubectl, "kustomize", str(MANIFESTS / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def pod_spec(doc: Doc) -> Doc:
    if doc["kind"] == "Pod":
        spec: Doc = doc["spec"]
        return spec
    if doc["kind"] == "CronJob":
        return pod_spec({"kind": "Job", "spec": doc["spec"]["jobTemplate"]["spec"]})
    template: Doc = doc["spec"]["template"]["spec"]
    return template


def container_violations(spec: Doc) -> list[str]:
    """Everything a pod spec's containers lack of the hardening the stack requires."""
    problems: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    if spec.get("automountServiceAccountToken") is not False:
        problems.append("pod: automountServiceAccountToken is not false")
    if spec.get("serviceAccountName") in (None, "", "default"):
        problems.append("pod: no dedicated serviceAccountName")
    for c in (spec.get("initContainers") or []) + spec.get("containers", []):
        name = c.get("name", "?")
        # A run-to-completion init container (the migration) may not have probes; a sidecar
        # (restartPolicy: Always) and every container must.
        serves = c in spec.get("containers", []) or c.get("restartPolicy") == "Always"
        for probe, path in (("livenessProbe", "/live"), ("readinessProbe", "/ready")):
            got = (c.get(probe) or {}).get("httpGet", {}).get("path")
            if serves and got != path:
                problems.append(f"{name}: {probe} httpGet path is {got!r}, want {path!r}")
        if serves and not c.get("startupProbe"):
            problems.append(f"{name}: no startupProbe")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (res.get(kind) or {}):
                    problems.append(f"{name}: no {kind}.{resource}")
        sc = c.get("securityContext") or {}

        def effective(key: str, sc: Doc = sc) -> Any:
            return sc.get(key, pod_sc.get(key))

        if effective("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if effective("runAsUser") != 1000:
            problems.append(f"{name}: runAsUser is not 1000")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities.drop is not [ALL]")
        if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile is not RuntimeDefault")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
        if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
            problems.append(f"{name}: /tmp is not an emptyDir")
    return problems


@pytest.fixture(scope="module", params=["prod", "dev"])
def rendered(request: pytest.FixtureRequest, k8s_toolchain: K8sToolchain) -> tuple[str, list[Doc]]:
    return request.param, render(k8s_toolchain, request.param)


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_container_is_hardened(rendered: tuple[str, list[Doc]]) -> None:
    _, docs = rendered
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    assert {d["metadata"]["name"] for d in workloads} == {"api-service", "ml-service", "worker"}
    problems = [
        f"{d['kind']}/{d['metadata']['name']}: {p}"
        for d in workloads
        for p in container_violations(pod_spec(d))
    ]
    assert problems == []


def test_checker_reports_a_weakened_container(k8s_toolchain: K8sToolchain) -> None:
    api = by_kind(render(k8s_toolchain, "prod"), "Deployment")["api-service"]
    spec = pod_spec(api)
    assert container_violations(spec) == []
    container = spec["containers"][0]
    del container["readinessProbe"]
    del container["resources"]["limits"]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    container["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}
    spec["volumes"] = []
    found = "\n".join(container_violations(spec))
    for expected in (
        "readinessProbe",
        "limits.cpu",
        "limits.memory",
        "allowPrivilegeEscalation",
        "capabilities.drop",
        "/tmp is not an emptyDir",
    ):
        assert expected in found


def test_workload_shape(rendered: tuple[str, list[Doc]]) -> None:
    overlay, docs = rendered
    deployments = by_kind(docs, "Deployment")
    for name, dep in deployments.items():
        strategy = dep["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate", name
        assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}, name
        sa = pod_spec(dep)["serviceAccountName"]
        assert by_kind(docs, "ServiceAccount")[sa]["automountServiceAccountToken"] is False
    api = pod_spec(deployments["api-service"])["containers"][0]
    assert api["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert api["image"] == "aqua/service:0.1.0"
    # The entry point that drains on SIGTERM, bound to the pod's address, within the grace.
    assert api["command"] == ["python", "-m", "service.api", "serve"]
    config = by_kind(docs, "ConfigMap")
    api_env = next(c["data"] for name, c in config.items() if name.startswith("api-service"))
    assert (api_env["AQUA_HOST"], api_env["AQUA_PORT"]) == ("0.0.0.0", "8000")
    drain = float(api_env["AQUA_DRAIN_SECONDS"]) + float(api_env["AQUA_SHUTDOWN_TIMEOUT_SECONDS"])
    assert drain < pod_spec(deployments["api-service"])["terminationGracePeriodSeconds"]
    assert pod_spec(deployments["worker"])["containers"][0]["command"] == [
        "python",
        "-m",
        "service.worker",
    ]
    if overlay == "prod":
        assert deployments["api-service"]["spec"]["replicas"] == 3
    # Every namespaced object lands in the overlay's namespace, and nothing is cluster-wide
    # except the Namespace itself.
    for d in docs:
        if d["kind"] == "Namespace":
            assert d["metadata"]["name"] == NAMESPACE[overlay]
        else:
            assert d["metadata"].get("namespace") == NAMESPACE[overlay], d["metadata"]["name"]
    assert not [d for d in docs if d["kind"] in {"ClusterRole", "ClusterRoleBinding", "Secret"}]


#: the credentials each workload reads from the Secret ``aqua-app``, by variable and key
CREDENTIALS = {
    "api-service": {
        "AQUA_DATABASE_URL": "database-url",
        "AQUA_DATABASE_MIGRATION_URL": "database-migration-url",
        "AQUA_JWT_SECRET": "jwt-secret",
        "AQUA_REDIS_URL": "redis-url",
        "AQUA_ML_SERVICE_TOKEN": "ml-service-token",
    },
    "worker": {
        "AQUA_DATABASE_URL": "database-url",
        "AQUA_REDIS_URL": "redis-url",
        "AQUA_ML_SERVICE_TOKEN": "ml-service-token",
    },
    "ml-service": {"AQUA_ML_SERVICE_TOKEN": "ml-service-token"},
}


def test_every_credential_comes_from_the_secret(rendered: tuple[str, list[Doc]]) -> None:
    _, docs = rendered
    for name, dep in by_kind(docs, "Deployment").items():
        container = pod_spec(dep)["containers"][0]
        from_secret = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert from_secret == {
            var: {"name": "aqua-app", "key": key} for var, key in CREDENTIALS[name].items()
        }, name
        assert not [
            e for e in container.get("env", []) if "value" in e and e["name"] in CREDENTIALS[name]
        ], name
    # No ConfigMap carries a URL with credentials or a variable that names a secret.
    for cm in by_kind(docs, "ConfigMap").values():
        for key, value in cm["data"].items():
            assert not re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL|REDIS_URL", key), key
            assert "@" not in value, key


def test_autoscaling_and_disruption_budgets(rendered: tuple[str, list[Doc]]) -> None:
    overlay, docs = rendered
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["api-service"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "api-service",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    if overlay == "prod":
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for name, dep in by_kind(docs, "Deployment").items():
        selectors = [p["spec"]["selector"]["matchLabels"] for p in pdbs.values()]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert any(sel.items() <= labels.items() for sel in selectors), f"no PDB for {name}"


def _ports(rule: Doc) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


def test_network_policies(rendered: tuple[str, list[Doc]]) -> None:
    _, docs = rendered
    policies = list(by_kind(docs, "NetworkPolicy").values())
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert any(
        set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} and "egress" not in p["spec"]
        for p in deny
    ), "no default deny"

    def allows(direction: str, selected: str, peer_key: str, peer: str, port: int) -> bool:
        for p in policies:
            sel = p["spec"]["podSelector"]
            hit = sel == {} or sel.get("matchLabels", {}).get("app") == selected
            hit = hit or any(
                e["key"] == "app" and selected in e["values"]
                for e in sel.get("matchExpressions", [])
            )
            if not hit:
                continue
            for rule in p["spec"].get(direction, []):
                peers = rule.get("from" if direction == "ingress" else "to", [])
                if port in _ports(rule) and any(peer in str(x.get(peer_key, {})) for x in peers):
                    return True
        return False

    assert allows("egress", "anything", "podSelector", "kube-dns", 53)
    assert allows("ingress", "api-service", "namespaceSelector", "ingress-nginx", 8000)
    assert allows("egress", "api-service", "podSelector", "ml-service", 8001)
    assert allows("ingress", "ml-service", "podSelector", "api-service", 8001)
    for client in ("api-service", "worker"):
        for store, port in (("postgres", 5432), ("redis", 6379), ("kafka", 9092)):
            assert allows("egress", client, "podSelector", store, port), (client, store)
            assert allows("ingress", store, "podSelector", client, port), (store, client)
    for app, port in (("api-service", 8000), ("ml-service", 8001), ("worker", 8002)):
        assert allows("ingress", app, "podSelector", "prometheus", port), app
    assert not allows("ingress", "ml-service", "namespaceSelector", "ingress-nginx", 8001)


def test_operator_role_is_least_privilege(rendered: tuple[str, list[Doc]]) -> None:
    overlay, docs = rendered
    role = by_kind(docs, "Role")["aqua-operator"]
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    expected = {("", "pods", v) for v in ("get", "list", "watch", "delete")}
    expected |= {("", "pods/log", "get")}
    expected |= {(g, "events", v) for g in ("", "events.k8s.io") for v in ("get", "list", "watch")}
    expected |= {
        ("apps", r, v) for r in ("deployments", "deployments/scale") for v in ("get", "patch")
    }
    expected |= {("apps", "replicasets", v) for v in ("get", "list")}
    expected |= {("metrics.k8s.io", "pods", v) for v in ("get", "list")}
    # never exec into pods: an exec step on Kubernetes needs credentials that grant it
    assert ("", "pods/exec", "create") not in granted
    assert granted == expected
    binding = by_kind(docs, "RoleBinding")["aqua-operator"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "aqua-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "aqua-operator", "namespace": NAMESPACE[overlay]}
    ]


# -- Docker ---------------------------------------------------------------------------------


def _stages(dockerfile: str) -> list[list[str]]:
    """Instructions grouped by stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile)
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multistage_nonroot_with_healthcheck() -> None:
    stages = _stages((DOCKER / "Dockerfile").read_text())
    assert len(stages) >= 2, "not multi-stage"
    final = stages[-1]
    users = [i.split(None, 1)[1] for i in final if i.upper().startswith("USER ")]
    assert users, "final stage has no USER"
    assert users[-1].split(":")[0] == "1000"
    assert any(i.upper().startswith("HEALTHCHECK ") and "CMD" in i for i in final)
    assert any(i.upper().startswith("COPY --FROM=") for i in final), "nothing copied from build"
    assert not any(re.search(r"\bpip install\b", i) for i in final), "pip runs in the final stage"
    useradd = next(i for i in final if "useradd" in i)
    assert "--uid 1000" in useradd


def test_compose_waits_for_healthy_dependencies() -> None:
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    services: dict[str, Doc] = compose["services"]
    assert {"api-service", "ml-service", "worker", "postgres", "redis", "kafka"} <= set(services)
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond == {"condition": "service_healthy"}, (name, dep)
            assert dep in services
    for name in ("api-service", "worker"):
        assert set(services[name]["depends_on"]) >= {"postgres", "redis", "kafka"}
    assert "ml-service" in services["api-service"]["depends_on"]
    for name in ("api-service", "ml-service", "worker"):
        svc = services[name]
        assert svc["user"] == "1000:1000"
        assert svc["read_only"] is True
        assert svc["cap_drop"] == ["ALL"]
        assert svc["image"] == "aqua/service:0.1.0"


def test_api_entry_point_is_the_same_in_the_image_compose_and_kubernetes() -> None:
    import json

    entry = ["python", "-m", "service.api", "serve"]
    final = _stages((DOCKER / "Dockerfile").read_text())[-1]
    cmd = [i for i in final if i.upper().startswith("CMD ")]
    assert json.loads(cmd[-1].split(None, 1)[1]) == entry
    assert any("AQUA_HOST=0.0.0.0" in i for i in final if i.upper().startswith("ENV "))
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    api = compose["services"]["api-service"]
    assert api["command"] == entry
    assert api["environment"]["AQUA_HOST"] == "0.0.0.0"
    assert api["stop_grace_period"] == "30s"
    base = next(yaml.safe_load_all((MANIFESTS / "base/api-service.yaml").read_text()))
    assert base["spec"]["template"]["spec"]["containers"][0]["command"] == entry


def test_compose_commits_no_secret_values() -> None:
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                assert str(value).startswith("${"), (name, key)
                assert ":?" in str(value), (name, key)
        url = str(env.get("AQUA_DATABASE_URL", ""))
        if url:
            assert "${AQUA_POSTGRES_PASSWORD:?" in url, name

"""``aqua rollout`` against a real control plane (kwok plays the kubelet): the Deployments
and Services it creates, changes and removes, through the API server.

The analysis and blue-green's preview load are scripted here (both are the rollout's own
boundaries: kwok pods serve nothing; the analysis is tested against a real Prometheus in
tests/rollout and both end to end on the real node in tests/cluster)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import invoke
from json_schema import assert_matches_schema
from rollout.fake_cluster import FakePreview
from runbook.k8s_harness import wait_for

from sre_cli.commands.rollout import app
from sre_cli.k8s import ControlPlane
from sre_cli.ops.providers.kubernetes import KubeTarget
from sre_cli.rollout.analysis import Analysis, Figures, Judgement
from sre_cli.rollout.driver import Driver
from sre_cli.rollout.start import Request, prepare
from sre_cli.rollout.workloads import KubeWorkloads

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NS = "rollout-kwok"
SLO = str(ROOT / "slo" / "api.yaml")


def _deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": "api", "app.kubernetes.io/component": "api", "track": "stable"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS, "labels": {"app": "api"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "api"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": "svc:1",
                            "ports": [{"name": "http", "containerPort": 8000}],
                        }
                    ]
                },
            },
        },
    }


def _service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 8000}]},
    }


@pytest.fixture
def kube(kube_cluster: ControlPlane) -> Iterator[KubeTarget]:
    """A namespace with deployment/api (2 replicas, svc:1) Available and service/api."""
    target = KubeTarget.connect(kube_cluster.kubeconfig, NS)
    from kubernetes import client

    core: Any = client.CoreV1Api(target.api)
    if not any(n.metadata.name == NS for n in core.list_namespace().items):
        core.create_namespace({"metadata": {"name": NS}})
    work = KubeWorkloads(target)
    for name in ("api", "api-canary", "api-green"):
        if work.get(name) is not None:
            work.delete(name)
    wait_for(lambda: not target.list_pods("app=api"), "no pods of app=api", 90)
    if any(s.metadata.name == "api" for s in target.list_services()):
        core.delete_namespaced_service("api", NS)
    target.create_deployment(_deployment(2))
    core.create_namespaced_service(NS, _service())
    wait_for(lambda: work.readiness("api").done(2), "deployment/api Available", 90)
    yield target
    target.close()


class Scripted:
    """Answers ``verdict`` and records what the cluster looked like at each analysis."""

    def __init__(self, verdict: str, work: KubeWorkloads) -> None:
        self.verdict = verdict
        self.work = work
        self.seen: list[dict[str, Any] | None] = []

    def __call__(self, track: str, start: float, at: float) -> Analysis:
        self.seen.append(self.work.get(f"api-{track}"))
        f = Figures(0.0, 100.0, 0.001)
        j = Judgement("api-availability", 99.9, f, f, self.verdict, self.verdict)  # type: ignore[arg-type]
        return Analysis(start, at, [j])


class Journal:
    def __init__(self) -> None:
        self.events: list[str] = []

    def write(self, event: str, fields: dict[str, object]) -> None:
        self.events.append(event)


def _run(kube: KubeTarget, strategy: str, verdict: str) -> tuple[Any, Scripted]:
    from sre_cli.rollout.bluegreen import run_blue_green
    from sre_cli.rollout.canary import run_canary

    request = Request(
        strategy,  # type: ignore[arg-type]
        "api",
        "svc:2",
        weights=[50, 100],
        interval_s=0.5,
        check_every_s=0.25,
        slo_paths=[Path(SLO)],
    )
    plan, stable, _ = prepare(kube, request)
    work = KubeWorkloads(kube)
    analyst = Scripted(verdict, work)
    driver = Driver(plan, work, analyst, Journal(), ready_timeout=90, preview=FakePreview())
    run = run_blue_green if strategy == "blue-green" else run_canary
    return run(driver, stable), analyst


def _image(work: KubeWorkloads, name: str) -> str:
    d = work.get(name)
    assert d is not None
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"])


def _aqua(kube_cluster: ControlPlane, strategy: str, *args: str) -> tuple[int, str]:
    """``aqua rollout STRATEGY -d api --image svc:2 ARGS`` against the namespace."""
    argv = [strategy, "-d", "api", "--image", "svc:2", *args, "-n", NS, "--slo", SLO]
    return invoke(app, [*argv, "--kubeconfig", str(kube_cluster.kubeconfig)])


def test_dry_run_prints_the_plan_and_changes_nothing(
    kube: KubeTarget, kube_cluster: ControlPlane
) -> None:
    code, out = _aqua(
        kube_cluster, "canary", "--steps", "10,50,100", "--dry-run", "--format", "json"
    )
    assert code == 0, out
    report = json.loads(out)
    assert_matches_schema("rollout-canary", report)
    assert report["outcome"] == "planned"
    assert report["plan"]["image"] == {"from": "svc:1", "to": "svc:2"}
    assert report["plan"]["services"] == ["api"]
    assert report["plan"]["preview"] is None
    assert [(s["weight"], s["canary_replicas"]) for s in report["plan"]["steps"]] == [
        (10, 1),
        (50, 2),
        (100, 0),
    ]
    assert KubeWorkloads(kube).get("api-canary") is None


def test_blue_green_dry_run_prints_the_preview_it_would_load_green_with(
    kube: KubeTarget, kube_cluster: ControlPlane
) -> None:
    args = ("--preview-rps", "30", "--dry-run", "--format", "json")
    code, out = _aqua(kube_cluster, "blue-green", *args)
    assert code == 0, out
    report = json.loads(out)
    assert_matches_schema("rollout-blue-green", report)
    assert report["plan"]["preview"] == {"path": "/api/v1/farms", "rps": 30.0, "port": 8000}
    assert KubeWorkloads(kube).get("api-green") is None
    code, out = _aqua(kube_cluster, "blue-green", "--preview-path", "api", "--dry-run")
    assert code == 2, out
    assert "must start with /" in out


def test_without_yes_and_without_a_terminal_nothing_starts(
    kube: KubeTarget, kube_cluster: ControlPlane
) -> None:
    code, out = invoke(
        app,
        [
            "canary", "-d", "api", "--image", "svc:2", "--kubeconfig",
            str(kube_cluster.kubeconfig), "-n", NS, "--slo", SLO,
        ],
    )  # fmt: skip
    assert code == 3, out
    assert "needs --yes" in out
    assert KubeWorkloads(kube).get("api-canary") is None


def test_unknown_deployment_is_a_usage_error(kube: KubeTarget, kube_cluster: ControlPlane) -> None:
    code, out = invoke(
        app,
        [
            "canary", "-d", "nope", "--image", "svc:2", "--kubeconfig",
            str(kube_cluster.kubeconfig), "-n", NS, "--slo", SLO, "--dry-run",
        ],
    )  # fmt: skip
    assert code == 2, out
    assert "no deployment/nope" in out


def test_a_canary_that_holds_is_promoted_through_the_api(kube: KubeTarget) -> None:
    work = KubeWorkloads(kube)
    report, analyst = _run(kube, "canary", "pass")
    assert report.outcome == "promoted", report.reason
    canary = analyst.seen[0]
    assert canary is not None
    assert canary["spec"]["selector"]["matchLabels"] == {"app": "api", "track": "canary"}
    assert canary["spec"]["replicas"] == 2  # 50 % beside 2 stable replicas
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "svc:2"
    assert work.get("api-canary") is None
    assert _image(work, "api") == "svc:2"
    stable = work.get("api")
    assert stable is not None
    assert stable["spec"]["template"]["metadata"]["labels"]["track"] == "stable"
    assert work.readiness("api").done(2)


def test_a_failing_canary_is_removed_and_the_stable_deployment_never_changes(
    kube: KubeTarget,
) -> None:
    work = KubeWorkloads(kube)
    before = work.get("api")
    assert before is not None
    report, analyst = _run(kube, "canary", "fail")
    assert report.outcome == "aborted"
    assert len(analyst.seen) == 1
    assert work.get("api-canary") is None
    wait_for(lambda: not kube.list_pods("app=api,track=canary"), "the canary's pods gone", 90)
    after = work.get("api")
    assert after is not None
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert _image(work, "api") == "svc:1"


def test_blue_green_refuses_a_failing_green_before_the_service_moves(kube: KubeTarget) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(kube.api)
    work = KubeWorkloads(kube)
    selectors: list[dict[str, str]] = []
    preview = FakePreview()

    class Watching(Scripted):
        def __call__(self, track: str, start: float, at: float) -> Analysis:
            selectors.append(dict(core.read_namespaced_service("api", NS).spec.selector))
            return super().__call__(track, start, at)

    from sre_cli.rollout.bluegreen import run_blue_green

    request = Request("blue-green", "api", "svc:2", interval_s=0.5, check_every_s=0.25,
                      slo_paths=[Path(SLO)])  # fmt: skip
    plan, stable, _ = prepare(kube, request)
    assert plan.preview is not None
    assert plan.preview.port == 8000
    driver = Driver(
        plan, work, Watching("fail", work), Journal(), ready_timeout=90, preview=preview
    )
    report = run_blue_green(driver, stable)
    assert report.outcome == "aborted"
    assert selectors == [{"app": "api", "track": "stable"}]  # judged while blue served
    # the load went to green's two Ready pods, at the addresses the API server gives them
    green_ips = [t[0] for t in preview.targets]
    assert len(green_ips) == 2
    assert all(port == 8000 for _, port in preview.targets)
    assert core.read_namespaced_service("api", NS).spec.selector == {"app": "api"}
    assert work.get("api-green") is None
    assert _image(work, "api") == "svc:1"


def test_blue_green_that_holds_leaves_the_new_image_on_the_stable_deployment(
    kube: KubeTarget,
) -> None:
    from kubernetes import client

    work = KubeWorkloads(kube)
    report, _ = _run(kube, "blue-green", "pass")
    assert report.outcome == "promoted", report.reason
    assert _image(work, "api") == "svc:2"
    assert work.get("api-green") is None
    svc: Any = client.CoreV1Api(kube.api).read_namespaced_service("api", NS)
    assert svc.spec.selector == {"app": "api"}

"""The rollout and patch_resources step kinds, and ``aqua runbook run bad-deploy``, against a
real control plane: Deployments and ReplicaSets are real objects the controller manager rolls,
the pods are kwok's (Ready as soon as they are scheduled). One cluster for the module; each
test works on its own Deployment in the namespace ``steps``.
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
from kubernetes import client, config
from runbook.k8s_harness import control_plane, kubectl, slo_prometheus, wait_for

from sre_cli.k8s import ControlPlane
from sre_cli.ops.context import TargetOptions, open_context
from sre_cli.ops.operations import PatchResources, RolloutOp
from sre_cli.ops.providers.kubernetes import rollout_state

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NS = "steps"
GOOD = "registry.aqua.test/api:1.4.2"
BAD = "registry.aqua.test/api:1.5.0-broken"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from control_plane(tmp_path_factory.mktemp("k8s"), nodes=2)


@pytest.fixture(scope="module")
def apps(cluster: ControlPlane) -> Iterator[client.AppsV1Api]:
    kubectl(cluster, "create", "namespace", NS)
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig)
    )
    yield client.AppsV1Api(api)
    api.close()  # type: ignore[no-untyped-call]


def deploy(cluster: ControlPlane, apps: client.AppsV1Api, name: str, image: str) -> Any:
    """Apply a two-replica Deployment of ``image`` and wait until its rollout completes."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": image,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                        },
                        {"name": "sidecar", "image": "registry.aqua.test/proxy:2"},
                    ]
                },
            },
        },
    }
    kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    return wait_for(lambda: rolled_out(apps, name), f"deployment/{name} rolled out")


def rolled_out(apps: client.AppsV1Api, name: str) -> Any:
    d: Any = apps.read_namespaced_deployment(name, NS)
    done, _ = rollout_state(d)
    return d if done else None


def images(d: Any) -> list[str]:
    return [c.image for c in d.spec.template.spec.containers]


def run_file(
    cluster: ControlPlane, tmp: Path, book: Path | str, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    transcript = str(tmp / f"t-{os.urandom(4).hex()}.jsonl")
    done = run_aqua(
        *("runbook", "run", str(book), "--target", "kubernetes", "-n", NS),
        *("--kubeconfig", str(cluster.kubeconfig), "--transcript", transcript, "--format", "json"),
        *args,
        timeout=300,
    )
    try:
        return done, json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON report:\n{done.stdout}\n{done.stderr}")


ROLL = """---
title: restart and wait
targets: [kubernetes]
parameters:
  deployment: {default: web}
---

# Restart and wait

```aqua action
rollout: {restart: "deployment/{deployment}"}
```

```aqua check
rollout: {status: "deployment/{deployment}", timeout: 90s, interval: 500ms}
```
"""


def test_rollout_restart_then_status_waits_until_it_completes(
    cluster: ControlPlane, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    before = deploy(cluster, apps, "web", GOOD)
    book = tmp_path / "roll.md"
    book.write_text(ROLL)
    done, report = run_file(cluster, tmp_path, book, "--yes")
    assert done.returncode == 0, done.stderr + json.dumps(report, indent=1)
    restart, status = report["steps"]
    assert restart["status"] == "done"
    assert restart["summary"].startswith("deployment/web restarted at ")
    assert status["status"] == "pass"
    assert "deployment/web successfully rolled out (2/2 updated and available)" in status["summary"]
    after: Any = apps.read_namespaced_deployment("web", NS)
    assert after.metadata.generation > before.metadata.generation
    assert "kubectl.kubernetes.io/restartedAt" in after.spec.template.metadata.annotations
    # the controller made a new ReplicaSet for the restarted template: revision 2
    assert after.metadata.annotations["deployment.kubernetes.io/revision"] == "2"


def test_rollout_status_of_a_rollout_that_cannot_finish_times_out(
    cluster: ControlPlane, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    deploy(cluster, apps, "stuck", GOOD)
    # a pod that asks for more memory than any node has never schedules: the new ReplicaSet
    # never becomes available
    kubectl(cluster, "-n", NS, "set", "resources", "deployment/stuck", "-c", "api",
            "--requests=memory=100Ti", "--limits=memory=100Ti")  # fmt: skip
    book = tmp_path / "roll.md"
    check = 'rollout: {status: "deployment/{deployment}", timeout: 3s, interval: 500ms}'
    book.write_text(ROLL.split("```aqua action")[0] + f"```aqua check\n{check}\n```\n")
    done, report = run_file(cluster, tmp_path, book, "--param", "deployment=stuck")
    assert done.returncode == 1, done.stderr
    (status,) = report["steps"]
    assert status["status"] == "fail"
    assert status["summary"].startswith("still failing after ")
    assert "deployment/stuck" in status["summary"]


def test_rollout_undo_puts_back_the_previous_template(
    cluster: ControlPlane, apps: client.AppsV1Api
) -> None:
    deploy(cluster, apps, "undo", GOOD)
    kubectl(cluster, "-n", NS, "set", "image", "deployment/undo", f"api={BAD}")
    wait_for(lambda: rolled_out(apps, "undo"), "the bad image rolled out")
    ctx = open_context(TargetOptions("kubernetes", kubeconfig=cluster.kubeconfig, namespace=NS))
    try:
        plan = ctx.plan(RolloutOp(undo="deployment/undo"))
        (change,) = plan.changes
        assert change.summary == (
            f"roll deployment/undo back from revision 2 ({BAD}, registry.aqua.test/proxy:2) "
            f"to revision 1 ({GOOD}, registry.aqua.test/proxy:2)"
        )
        assert change.apply() == (
            f"deployment/undo rolled back to revision 1 ({GOOD}, registry.aqua.test/proxy:2)"
        )
        d = wait_for(lambda: rolled_out(apps, "undo"), "the rollback rolled out")
        assert images(d) == [GOOD, "registry.aqua.test/proxy:2"]
        # the controller reuses the first ReplicaSet, as revision 3
        assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
        again = ctx.plan(RolloutOp(undo="deployment/undo", to_revision=3))
        assert again.changes == ()
        assert again.summary == "nothing to do: deployment/undo already runs revision 3"
    finally:
        ctx.close()


def test_patch_resources_changes_one_container_of_the_deployment(
    cluster: ControlPlane, apps: client.AppsV1Api
) -> None:
    deploy(cluster, apps, "patched", GOOD)
    op = PatchResources.model_validate(
        {
            "deployment": "deployment/patched",
            "container": "api",
            "limits": {"memory": "1Gi", "cpu": "500m"},
            "requests": {"memory": "128Mi"},
        }
    )
    ctx = open_context(TargetOptions("kubernetes", kubeconfig=cluster.kubeconfig, namespace=NS))
    try:
        (change,) = ctx.plan(op).changes
        assert change.summary == (
            "set container api of deployment/patched: limits.memory: 256Mi -> 1Gi, "
            "limits.cpu: unset -> 500m"
        )
        change.apply()
        d: Any = apps.read_namespaced_deployment("patched", NS)
        api, sidecar = d.spec.template.spec.containers
        assert api.resources.limits == {"memory": "1Gi", "cpu": "500m"}
        assert api.resources.requests == {"cpu": "100m", "memory": "128Mi"}
        assert sidecar.name == "sidecar"
        assert sidecar.image == "registry.aqua.test/proxy:2"  # the other container kept
        assert ctx.plan(op).changes == ()  # nothing left to change
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def prometheus(prometheus_factory: PrometheusFactory) -> str:
    return slo_prometheus(prometheus_factory)


def test_bad_deploy_rolls_the_deployment_back_to_the_good_image(
    cluster: ControlPlane, apps: client.AppsV1Api, prometheus: str, tmp_path: Path
) -> None:
    deploy(cluster, apps, "shop", GOOD)
    kubectl(cluster, "-n", NS, "set", "image", "deployment/shop", f"api={BAD}")
    wait_for(lambda: rolled_out(apps, "shop"), "the bad image rolled out")
    params = ["--param", "deployment=shop", "--param", "selector=app=shop"]
    params += ["--prometheus", prometheus]

    done, plan = run_file(cluster, tmp_path, "bad-deploy", "--dry-run", *params)
    assert done.returncode == 0, done.stderr + json.dumps(plan, indent=1)
    steps = {s["step"]: s for s in plan["steps"]}
    assert steps[8]["status"] == "would"
    assert steps[8]["changes"] == [
        f"roll deployment/shop back from revision 2 ({BAD}, registry.aqua.test/proxy:2) "
        f"to revision 1 ({GOOD}, registry.aqua.test/proxy:2)"
    ]
    assert images(apps.read_namespaced_deployment("shop", NS))[0] == BAD  # a dry run

    done, report = run_file(cluster, tmp_path, "bad-deploy", "--yes", *params)
    assert done.returncode == 0, done.stderr + json.dumps(report, indent=1)
    assert report["outcome"] == "resolved"
    steps = {s["step"]: s for s in report["steps"]}
    assert [(n, steps[n]["status"]) for n in sorted(steps)] == [
        (1, "pass"),  # the bad rollout itself completed (kwok runs any image)
        (2, "info"),  # events
        (3, "info"),  # pods not ready: none
        (4, "info"),  # their logs: none
        (7, "error"),  # top: no metrics API on this control plane, said so
        (8, "done"),  # rollout undo
        (11, "pass"),  # rollout status (9 and 10 act on the stack: skipped here)
    ]
    assert report["verification"]["recovered"] is True  # the SLI: no API traffic, no errors
    assert any("ScalingReplicaSet" in line for line in steps[2]["details"])
    assert "metrics" in steps[7]["summary"]
    d: Any = apps.read_namespaced_deployment("shop", NS)
    assert images(d) == [GOOD, "registry.aqua.test/proxy:2"]
    assert rollout_state(d)[0] is True


def test_scale_at_least_only_ever_scales_up(cluster: ControlPlane, apps: client.AppsV1Api) -> None:
    from sre_cli.ops.operations import K8sOp

    deploy(cluster, apps, "few", GOOD)
    ctx = open_context(TargetOptions("kubernetes", kubeconfig=cluster.kubeconfig, namespace=NS))
    try:
        fewer = {"scale": {"deployment": "few", "replicas": 1, "at_least": True}}
        plan = ctx.plan(K8sOp.model_validate(fewer))
        assert plan.changes == ()
        assert plan.summary == "nothing to do: deployment/few has 2 replicas"
        more = {"scale": {"deployment": "few", "replicas": 3, "at_least": True}}
        (change,) = ctx.plan(K8sOp.model_validate(more)).changes
        assert change.summary == "scale deployment/few from 2 to 3"
        assert change.apply() == "deployment/few scaled to 3"
        scale: Any = apps.read_namespaced_deployment_scale("few", NS)
        assert scale.spec.replicas == 3
    finally:
        ctx.close()


def test_a_chaos_release_rolls_its_env_out_and_its_revert_ends_it_once(
    cluster: ControlPlane, apps: client.AppsV1Api
) -> None:
    from sre_cli.chaos.kube_release import ENV_KEY, plan_release, plan_revert
    from sre_cli.errors import UsageError

    def env(d: Any) -> dict[str, str]:
        return {e.name: e.value for e in d.spec.template.spec.containers[0].env or []}

    deploy(cluster, apps, "rel", GOOD)
    ctx = open_context(TargetOptions("kubernetes", kubeconfig=cluster.kubeconfig, namespace=NS))
    kube = ctx.kube
    assert kube is not None
    try:
        (change,) = plan_release(kube, "rel", {"AQUA_DB_POOL_SIZE": "0"}).changes
        assert change.apply() == "deployment/rel: AQUA_DB_POOL_SIZE=0"
        d: Any = apps.read_namespaced_deployment("rel", NS)
        assert env(d) == {"AQUA_DB_POOL_SIZE": "0"}
        assert json.loads(d.metadata.annotations[ENV_KEY]) == {"AQUA_DB_POOL_SIZE": None}
        with pytest.raises(UsageError, match="already carries a release"):
            plan_release(kube, "rel", {"AQUA_DB_POOL_SIZE": "1"})
        # the revert writes the settings back: the variable gone, a new revision
        (revert,) = plan_revert(kube, "rel").changes
        assert revert.summary == "deployment/rel: write its settings back"
        assert revert.apply() == "deployment/rel: AQUA_DB_POOL_SIZE=(unset)"
        d = wait_for(lambda: rolled_out(apps, "rel"), "the revert rolled out")
        assert env(d) == {}
        assert ENV_KEY not in (d.metadata.annotations or {})
        assert plan_revert(kube, "rel").changes == ()
        # released again, then taken back by a rollout undo (a runbook): the revert only
        # forgets the release and leaves the template alone
        plan_release(kube, "rel", {"AQUA_DB_POOL_SIZE": "0"}).changes[0].apply()
        wait_for(lambda: rolled_out(apps, "rel"), "the release rolled out")
        ctx.plan(RolloutOp(undo="deployment/rel")).changes[0].apply()
        undone = wait_for(lambda: rolled_out(apps, "rel"), "the undo rolled out")
        assert env(undone) == {}
        (forget,) = plan_revert(kube, "rel").changes
        assert forget.summary == "deployment/rel: already taken back: forget the release"
        assert forget.apply() == "deployment/rel: template left as it is"
        d = apps.read_namespaced_deployment("rel", NS)
        assert ENV_KEY not in (d.metadata.annotations or {})
        revision = "deployment.kubernetes.io/revision"
        assert d.metadata.annotations[revision] == undone.metadata.annotations[revision]
        assert d.spec.template == undone.spec.template  # no new rollout
    finally:
        ctx.close()

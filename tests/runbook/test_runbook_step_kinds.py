"""The step kinds rollout, patch_resources, exec and top as a runbook declares them: what each
risks, what it refuses, and how the pod metrics of metrics-server are read."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from sre_cli.ops.operations import ExecOp, PatchResources, RolloutOp, TopOp
from sre_cli.ops.providers.kubernetes import pod_metrics_rows
from sre_cli.runbook.steps import StepBody


@pytest.mark.parametrize(
    ("body", "risk", "checks", "target"),
    [
        ({"rollout": {"restart": "deployment/api"}}, "mutate", False, "kubernetes"),
        ({"rollout": {"undo": "deployment/api", "to_revision": 2}}, "mutate", False, "kubernetes"),
        ({"rollout": {"status": "deployment/api", "timeout": "2m"}}, "read", True, "kubernetes"),
        (
            {"patch-resources": {"deployment": "deployment/api", "limits": {"memory": "1Gi"}}},
            "mutate",
            False,
            "kubernetes",
        ),
        ({"exec": {"command": "psql -c 'SELECT 1'", "component": "postgres"}}, "read", False, None),
        (
            {"exec": {"command": "dropdb aqua", "component": "postgres", "destructive": True}},
            "destructive",
            False,
            None,
        ),
        ({"top": {"component": "api-*", "selector": "app=api"}}, "read", False, None),
    ],
)
def test_each_kind_declares_its_risk(
    body: dict[str, object], risk: str, checks: bool, target: str | None
) -> None:
    op = StepBody.model_validate(body).op
    assert op.risk == risk
    assert op.mutates is (risk != "read")
    assert op.checks is checks
    assert op.target == target


def test_descriptions_name_what_changes() -> None:
    assert RolloutOp(undo="deployment/api", to_revision=3).describe() == (
        "rollout undo deployment/api to revision 3"
    )
    assert RolloutOp.model_validate({"status": "deploy/api", "timeout": "90s"}).describe() == (
        "wait up to 90s until the rollout of deployment/api completes"
    )
    patch = PatchResources.model_validate(
        {"deployment": "deployment/api", "container": "api", "requests": {"cpu": "250m"}}
    )
    assert patch.describe() == "set container api resources of deployment/api: requests.cpu=250m"
    assert TopOp.model_validate({"component": "api-*"}).describe() == "memory and CPU of api-*"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"rollout": {"restart": "deployment/a", "undo": "deployment/a"}}, "exactly one of"),
        ({"rollout": {"status": "deployment/a", "to_revision": 1}}, "to_revision applies to undo"),
        ({"rollout": {"undo": "api-service"}}, "expected deployment/NAME"),
        ({"patch_resources": {"deployment": "deployment/a"}}, "needs requests or limits"),
        (
            {"patch_resources": {"deployment": "deployment/a", "limits": {"memory": "lots"}}},
            "should match pattern",
        ),
        ({"exec": {"command": "bash -c 'rm -rf /'", "selector": "app=a"}}, "not a read-only"),
        ({"exec": {"command": "psql"}}, "needs a selector"),
        ({"top": {}}, "needs a selector"),
    ],
)
def test_bad_steps_are_refused(body: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError) as err:
        StepBody.model_validate(body)
    assert words in str(err.value)


def test_a_parameter_in_the_program_is_checked_once_filled_in() -> None:
    assert (
        ExecOp.model_validate({"command": "{tool} -c 'SELECT 1'", "component": "postgres"}).program
        == "{tool}"
    )
    with pytest.raises(ValidationError, match="rm is not a read-only program"):
        ExecOp.model_validate({"command": "rm -c 'SELECT 1'", "component": "postgres"})


def test_pod_metrics_are_summed_per_pod_with_each_container_below() -> None:
    """Items as ``GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods`` returns them."""
    items = [
        {
            "metadata": {"name": "api-service-7d9f-b"},
            "containers": [
                {"name": "api", "usage": {"cpu": "250m", "memory": "300Mi"}},
                {"name": "proxy", "usage": {"cpu": "1500000n", "memory": "20480Ki"}},
            ],
        },
        {
            "metadata": {"name": "api-service-7d9f-a"},
            "containers": [{"name": "api", "usage": {"cpu": "1", "memory": "512Mi"}}],
        },
    ]
    rows = [re.sub(r"=\s+", "=", " ".join(r.split())) for r in pod_metrics_rows(items)]
    assert rows == [
        "api-service-7d9f-a memory=512.0Mi cpu=1.000 cores",
        "api-service-7d9f-b memory=320.0Mi cpu=0.252 cores",
        "api memory=300.0Mi cpu=0.250 cores",
        "proxy memory=20.0Mi cpu=0.002 cores",
    ]

"""``aqua chaos kill-pod`` and ``aqua chaos run api-pod-loss`` against a real control plane.

The cluster, the prod overlay and the ``aqua-operator`` token come from the runbook tests'
fixtures (one cluster for this module): every command authenticates as the operator, so the
Role is the real one. kube-system is refused before any call; limits refuse too many pods;
a dry run and a run without --yes delete nothing; a confirmed run deletes one pod, the Deployment
replaces it and the recovery time is reported.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_aqua
from json_schema import assert_matches_schema
from kubernetes import client
from runbook.test_runbook_k8s import (  # the runbook tests' cluster, reused
    NS,
    SELECTOR,
    admin,  # noqa: F401 - fixture
    api_pods,
    available,
    cluster,  # noqa: F401 - fixture
    operator_kubeconfig,  # noqa: F401 - fixture
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chaos-k8s")]


def aqua(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_aqua("chaos", *args, stdin=stdin)


def kill_pod(kubeconfig: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return aqua(
        "kill-pod", "-n", NS, "-l", SELECTOR, "--kubeconfig", str(kubeconfig), *args, stdin=stdin
    )


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON report:\n{done.stdout}\n{done.stderr}")
    return parsed


def test_kube_system_is_refused_before_any_call(tmp_path: Path) -> None:
    done = aqua(
        "kill-pod", "-n", "kube-system", "-l", "k8s-app=kube-dns", "--yes",
        "--kubeconfig", str(tmp_path / "never-read"),
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to inject faults into namespace kube-system" in done.stderr


def test_dry_run_names_a_pod_and_deletes_nothing(
    operator_kubeconfig: Path,  # noqa: F811
    admin: client.ApiClient,  # noqa: F811
) -> None:
    before = api_pods(admin)
    done = kill_pod(operator_kubeconfig, "--dry-run", "--format", "json")
    assert done.returncode == 0, done.stderr
    out = report(done)
    assert_matches_schema("chaos-kill-pod", out)
    assert out["dry_run"] is True
    assert out["deployment"] == "api-service"
    assert out["replicas"] == 3
    assert len(out["pods"]) == 1
    assert out["pods"][0] in before
    assert out["deleted"] == []
    assert api_pods(admin) == before


def test_without_yes_exits_3_and_deletes_nothing(
    operator_kubeconfig: Path,  # noqa: F811
    admin: client.ApiClient,  # noqa: F811
) -> None:
    before = api_pods(admin)
    done = kill_pod(operator_kubeconfig, stdin="y\n")
    assert done.returncode == 3, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "kill-pod (delete pod(s) api-service-" in message
    assert "is destructive and runs only with --yes; nothing of it was done" in message
    assert api_pods(admin) == before


def test_more_than_the_blast_radius_is_refused(
    operator_kubeconfig: Path,  # noqa: F811
    admin: client.ApiClient,  # noqa: F811
) -> None:
    before = api_pods(admin)
    done = kill_pod(operator_kubeconfig, "--count", "2", "--yes")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to delete 2 pod(s)" in done.stderr
    assert "max_percent 50% of 3 replicas is 1" in done.stderr
    done = kill_pod(operator_kubeconfig, "--count", "3", "--max-percent", "100", "--yes")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "3 pod(s) are Ready and one must stay Ready" in " ".join(done.stderr.split())
    assert api_pods(admin) == before


def test_kill_pod_as_the_operator_reports_the_recovery(
    operator_kubeconfig: Path,  # noqa: F811
    admin: client.ApiClient,  # noqa: F811
) -> None:
    before = api_pods(admin)
    done = kill_pod(operator_kubeconfig, "--yes", "--wait-ready", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    out = report(done)
    assert_matches_schema("chaos-kill-pod", out)
    (victim,) = out["pods"]
    assert out["deleted"] == [f"deleted pod {victim}"]
    assert out["recovered"] is True
    assert 0 < out["recovery_seconds"] < 60
    assert "recovered in" in out["recovery"]
    after = api_pods(admin)
    assert victim not in after
    assert len(after) == 3
    assert set(before) - {victim} <= set(after)
    assert available(client.AppsV1Api(admin))


def test_api_pod_loss_holds_its_hypothesis(
    operator_kubeconfig: Path,  # noqa: F811
    admin: client.ApiClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    before = api_pods(admin)
    journal = tmp_path / "journal.jsonl"
    done = aqua(
        "run", "api-pod-loss", "--kubeconfig", str(operator_kubeconfig), "--yes",
        "--format", "json", "--journal", str(journal),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = report(done)
    assert out["outcome"] == "held"
    statuses = [(r["phase"], r["status"]) for r in out["records"]]
    assert statuses == [
        ("before", "pass"),
        ("method", "done"),
        ("method", "done"),
        ("after", "pass"),
    ]
    deleted = out["records"][1]["summary"].removeprefix("deleted pod ")
    assert deleted in before
    after = api_pods(admin)
    assert deleted not in after
    assert len(after) == 3
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert events[-1]["outcome"] == "held"

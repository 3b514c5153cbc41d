"""Experiment files: the good fixtures and the shipped experiments load; each bad fixture fails
with the file, the line and the reason; placeholders are filled in at run time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from spec_errors import assert_refused

from sre_cli.chaos.blast import BlastRadius, allowed_count, check_namespace
from sre_cli.chaos.experiment import find_experiment, load_experiment
from sre_cli.errors import SpecError, UsageError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"

#: bad fixture -> (line, words the message must contain)
BAD_CASES: dict[str, tuple[int, str]] = {
    "yaml-syntax.yaml": (5, "YAML syntax"),
    "unknown-field.yaml": (8, "probes.0.tolerance: unknown field (typo?)"),
    "kube-system.yaml": (5, "namespace kube-system is never a chaos target"),
    "probe-that-acts.yaml": (6, "a stack probe checks `ready`"),
    "action-that-reads.yaml": (10, "`stack: ready` reads"),
    "two-actions.yaml": (
        9,
        "exactly one of stack, delete_pods, fault, clear_faults, outage, restore, network, "
        "clear_network, cpu_burn, stop_cpu_burn, expect_oom_kill, wait",
    ),
    "bad-duration.yaml": (3, "not a duration"),
    "pods-on-stack.yaml": (9, "needs target kubernetes; the experiment targets stack"),
    "no-probes.yaml": (5, "at least 1 item"),
    "percent-too-high.yaml": (11, "percent: must be less than or equal to 100"),
    "burn-unbounded.yaml": (10, "cpu_burn.seconds: must be less than or equal to 600"),
    "outage-unknown.yaml": (
        9,
        "method.0.outage: must be 'postgres', 'redis', 'kafka' or 'api-service'",
    ),
    "oom-component-on-kubernetes.yaml": (
        9,
        "needs target stack; the experiment targets kubernetes",
    ),
    "oom-component-and-selector.yaml": (
        9,
        "exactly one of component (stack) and selector (kubernetes)",
    ),
    "during-too-often.yaml": (9, "during.every: must be greater than or equal to 0.2"),
    "abort-two-conditions.yaml": (11, "takes exactly one of alert_firing, burn_rate_above"),
    "preflight-budget-without-slo.yaml": (10, "min_budget_remaining needs `slo: FILE`"),
    "waits-beyond-duration.yaml": (1, "the method waits 45s, not less than the duration of 30s"),
}


def test_every_bad_fixture_has_a_case() -> None:
    assert sorted(p.name for p in (FIXTURES / "bad").glob("*.yaml")) == sorted(BAD_CASES)


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_fixture_fails_with_file_and_line(name: str) -> None:
    assert_refused(load_experiment, FIXTURES / "bad" / name, *BAD_CASES[name])


def test_every_problem_of_an_experiment_is_listed_with_its_line() -> None:
    """Three mistakes, three lines: an unknown field, an action of two keys, a percent over
    100; ``aqua chaos run`` lists them all and exits 2."""
    path = FIXTURES / "several" / "many-problems.yaml"
    with pytest.raises(SpecError) as caught:
        load_experiment(path)
    lines = [p.line for p in caught.value.problems]
    assert lines == [8, 10, 12], caught.value.message
    assert [p.message.split(": ", 1)[0] for p in caught.value.problems] == [
        f"{path}:{line}" for line in lines
    ]
    shown = caught.value.message.splitlines()
    assert [line.strip().split(": ", 1)[0] for line in shown] == [f"{path}:{n}" for n in lines]
    for line, words in zip(shown, ["tolerance", "exactly one of", "percent"], strict=True):
        assert words in line
    proc = subprocess.run(
        [sys.executable, "-m", "sre_cli", "chaos", "run", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    for n in lines:
        assert f"{path}:{n}: " in proc.stderr


@pytest.mark.parametrize("path", sorted((FIXTURES / "good").glob("*.yaml")), ids=lambda p: p.name)
def test_good_fixture_loads(path: Path) -> None:
    exp = load_experiment(path)
    assert exp.method
    assert exp.steady_state_hypothesis.probes


@pytest.mark.parametrize("name", ["api-replica-loss", "api-pod-loss"])
def test_shipped_experiments_load(name: str) -> None:
    path = find_experiment(name, ROOT / "chaos")
    assert path == ROOT / "chaos" / f"{name}.yaml"
    exp = load_experiment(path)
    assert exp.duration <= 300
    assert all(p.within for p in exp.steady_state_hypothesis.probes)


def test_replica_loss_is_filled_in_with_the_entry_url() -> None:
    exp = load_experiment(ROOT / "chaos" / "api-replica-loss.yaml")
    assert exp.target == "stack"
    filled = exp.filled({"entry_url": "http://127.0.0.1:9"})
    assert filled.load is not None
    assert filled.load.url == "http://127.0.0.1:9/live"
    http = filled.steady_state_hypothesis.probes[0].http
    assert http is not None
    assert http.url == "http://127.0.0.1:9/live"
    assert http.max_latency == 2.0
    assert filled.method[0].stack is not None
    assert filled.method[0].stack.kill == ("api-1",)
    assert [a.describe() for a in filled.rollbacks] == ["start-api-1: start api-1"]


def test_pod_loss_limits_the_blast_radius() -> None:
    exp = load_experiment(ROOT / "chaos" / "api-pod-loss.yaml")
    assert exp.target == "kubernetes"
    assert exp.blast_radius == BlastRadius(
        max_pods=1, max_percent=34, namespaces=("aquaculture-prod",)
    )


def test_an_unknown_experiment_names_those_there_are() -> None:
    with pytest.raises(UsageError) as caught:
        find_experiment("nope", ROOT / "chaos")
    assert caught.value.hint is not None
    assert "api-pod-loss" in caught.value.hint


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease"])
def test_kube_namespaces_are_refused_whatever_the_allow_list(namespace: str) -> None:
    with pytest.raises(UsageError, match="refusing"):
        check_namespace(namespace, None)


def test_namespace_outside_the_allow_list_is_refused() -> None:
    check_namespace("aquaculture-prod", BlastRadius())
    with pytest.raises(UsageError, match="outside the blast radius"):
        check_namespace("aquaculture-dev", BlastRadius())


@pytest.mark.parametrize(
    ("requested", "replicas", "ready", "radius", "why"),
    [
        (2, 3, 3, BlastRadius(max_pods=1), "max_pods is 1"),
        (2, 3, 3, BlastRadius(max_pods=5, max_percent=50), "max_percent 50% of 3 replicas is 1"),
        (1, 1, 1, BlastRadius(max_pods=5, max_percent=100), "one must stay Ready"),
        (2, 3, 2, BlastRadius(max_pods=5, max_percent=100), "2 pod(s) are Ready"),
    ],
)
def test_counts_beyond_the_radius_are_refused(
    requested: int, replicas: int, ready: int, radius: BlastRadius, why: str
) -> None:
    with pytest.raises(UsageError) as caught:
        allowed_count(requested, replicas, ready, radius)
    assert why in caught.value.message


def test_a_count_within_the_radius_is_allowed() -> None:
    assert allowed_count(1, 3, 3, BlastRadius(max_pods=1, max_percent=34)) == 1
    assert allowed_count(2, 4, 4, BlastRadius(max_pods=2, max_percent=50)) == 2


def test_a_kubernetes_experiment_using_entry_url_needs_one() -> None:
    exp = load_experiment(ROOT / "chaos" / "api-memory-leak-kubernetes.yaml")
    with pytest.raises(UsageError, match=r"uses \{entry_url\}") as caught:
        exp.filled({"target": "kubernetes", "namespace": "aquaculture-local"})
    assert "--entry-url" in (caught.value.hint or "")
    filled = exp.filled({"namespace": "aquaculture-local", "entry_url": "http://127.0.0.1:9"})
    assert filled.load is not None
    assert filled.load.url == "http://127.0.0.1:9/live"


def test_an_outage_is_undone_by_a_restore_on_kubernetes_and_a_start_on_the_stack() -> None:
    from sre_cli.chaos.method import Action
    from sre_cli.ops.operations import StackOp

    outage = Action(outage="redis")
    assert outage.target is None  # either target
    assert outage.undo_on("kubernetes") == Action(restore="redis")
    assert outage.undo_on("stack") == Action(stack=StackOp(start=("redis",)))
    assert Action(restore="redis").risk == "mutate"
    assert outage.risk == "destructive"

"""Scenario files and the command around a run, without a stack: every shipped scenario
resolves (its experiment, runbook, alert and SLO exist and agree), a bad file names every
problem with its line, and a run with no stack in the state dir exits 2 and starts none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_runner import ROOT, run_aqua
from json_schema import assert_matches_schema

from sre_cli.errors import SpecError
from sre_cli.gameday.scenario import check_dir, resolve
from sre_cli.ops.operations import FaultsOp
from sre_cli.runbook.steps import StepBody
from sre_cli.stack.configs import GAMEDAY_TIMINGS, prometheus_yaml
from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import StateLayout
from sre_cli.timespec import parse_seconds

SHIPPED = ROOT / "chaos" / "gameday"
FIXTURES = Path(__file__).parent / "fixtures"
SCENARIOS = (
    "bad-deploy",
    "database-outage",
    "kafka-lag",
    "latency-spike",
    "memory-leak",
    "outage",
)


def test_every_shipped_scenario_resolves() -> None:
    catalog = check_dir(SHIPPED)
    assert catalog.problems == []
    assert sorted(r.name for r in catalog.scenarios) == sorted(SCENARIOS)
    for r in catalog.scenarios:
        assert r.scenario.alert in r.runbook.meta.alerts
        assert r.experiment.target == "stack"
    on_kubernetes = {r.name for r in catalog.scenarios if "kubernetes" in r.scenario.targets}
    assert on_kubernetes == {"outage", "memory-leak", "bad-deploy"}
    for name in sorted(on_kubernetes):
        r = resolve(SHIPPED / f"{name}.yaml", "kubernetes")
        assert r.experiment.target == "kubernetes"
        assert r.scenario.alert in r.runbook.meta.alerts
        assert "kubernetes" in r.runbook.meta.targets


def test_list_json_matches_its_schema() -> None:
    done = run_aqua("gameday", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert_matches_schema("gameday-list", data)
    assert {s["name"]: s["targets"] for s in data["scenarios"]}["outage"] == [
        "stack",
        "kubernetes",
    ]
    assert {s["name"]: s["alert"] for s in data["scenarios"]} == {
        "bad-deploy": "DeploymentRolloutStuck",
        "database-outage": "PostgresDown",
        "kafka-lag": "KafkaConsumerLagHigh",
        "latency-spike": "HighLatency",
        "memory-leak": "MemoryNearLimit",
        "outage": "APIDown",
    }


def test_a_bad_scenario_names_every_problem_with_its_line() -> None:
    with pytest.raises(SpecError) as caught:
        resolve(FIXTURES / "many-problems.yaml")
    lines = {(p.line, p.message.split(": ", 2)[1]) for p in caught.value.problems}
    assert lines == {
        (4, "experiment"),
        (5, "alert"),
        (7, "load.rate"),
        (11, "sli.recovered"),
        (13, "colour"),
    }
    text = caught.value.message
    assert "no experiment named 'no-such-experiment'" in text
    assert "runbook api-down does not list HighLatency" in text


def test_without_a_stack_it_exits_2_and_starts_none(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = run_aqua("gameday", "run", "outage", "--yes", "--state-dir", str(state))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"no stack in {state}" in done.stderr
    assert not (state / "plan.json").exists()


def test_a_scenario_without_a_kubernetes_variant_is_refused_there() -> None:
    done = run_aqua("gameday", "run", "latency-spike", "--target", "kubernetes", "--yes")
    assert done.returncode == 2
    assert "game day latency-spike runs on the stack only" in " ".join(done.stderr.split())


def test_on_kubernetes_without_a_reachable_cluster_it_exits_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    where = ("--kubeconfig", str(kubeconfig), "-n", "aquaculture-local")
    done = run_aqua(
        "gameday", "run", "outage", "--target", "kubernetes", *where, "--yes",
        "--entry-url", f"http://127.0.0.1:{port}", "--alertmanager", f"http://127.0.0.1:{port}",
        "--journal", str(tmp_path / "j.jsonl"), "--format", "json",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "did not answer" in " ".join(done.stderr.split())
    report = json.loads(done.stdout)
    assert report["target"] == "kubernetes"
    assert report["fault"]["injected_at"] is None
    assert report["verdict"] == "fail"


def test_on_kubernetes_the_api_url_is_required() -> None:
    done = run_aqua("gameday", "run", "outage", "--target", "kubernetes", "--yes")
    assert done.returncode == 2
    assert "needs the API's URL" in " ".join(done.stderr.split())


@pytest.mark.parametrize("gameday", [False, True])
def test_gameday_alerts_shorten_every_for_and_the_intervals(gameday: bool, tmp_path: Path) -> None:
    from sre_cli.stack.plan import MachineEnvironment

    layout = StateLayout(tmp_path / "stack")
    layout.create()
    plan = build_plan(StackOptions(gameday_alerts=gameday), MachineEnvironment(), layout)
    config = yaml.safe_load(prometheus_yaml(plan, layout))
    holds = []
    for path in config["rule_files"]:
        if "*" in path:
            continue
        for group in yaml.safe_load(Path(path).read_text())["groups"]:
            holds += [parse_seconds(str(r["for"])) for r in group["rules"] if "for" in r]
    if gameday:
        assert config["global"]["evaluation_interval"] == f"{GAMEDAY_TIMINGS.interval_s:g}s"
        assert max(holds) == GAMEDAY_TIMINGS.max_for_s
    else:
        assert config["global"]["evaluation_interval"] == "5s"
        assert max(holds) == 600.0  # DeploymentRolloutStuck, as shipped


def test_the_faults_step_is_a_mutating_stack_action() -> None:
    body = StepBody.model_validate({"faults": {"clear": True}})
    assert isinstance(body.op, FaultsOp)
    assert (body.op.risk, body.op.target, body.op.checks) == ("mutate", "stack", False)
    with pytest.raises(ValueError, match="clear"):
        StepBody.model_validate({"faults": {"clear": False}})


def test_releases_are_revisioned_and_a_rollback_is_a_new_revision(tmp_path: Path) -> None:
    from sre_cli.stack import releases

    layout = StateLayout(tmp_path / "stack")
    layout.create()
    first = releases.current(layout, "api")
    assert (first.revision, first.env) == (1, {})
    bad = releases.append(layout, "api", {"AQUA_DB_POOL_SIZE": "0"}, "pool of zero")
    assert bad is not None
    assert releases.current(layout, "api") == bad
    assert bad.template != first.template
    assert releases.append(layout, "api", {"AQUA_DB_POOL_SIZE": "0"}, "again") is None
    back = releases.previous(layout, "api")
    assert back == first
    assert releases.current(layout, "worker").revision == 1  # per service


def test_a_release_action_undoes_to_the_settings_it_started_with() -> None:
    from sre_cli.chaos.method import Action

    action = Action.model_validate(
        {"release": {"deployment": "api-service", "env": {"AQUA_DB_POOL_SIZE": "0"}}}
    )
    assert action.risk == "mutate"
    assert action.target is None  # the stack and kubernetes (kube_release.py)
    assert action.describe() == "release api-service with AQUA_DB_POOL_SIZE=0"
    undo = action.undo
    assert undo is not None
    assert undo.release is not None
    assert undo.release.env == {}
    assert undo.undo is None  # the settings it started with need no undo
    with pytest.raises(ValueError, match="AQUA_"):
        Action.model_validate({"release": {"deployment": "api-service", "env": {"PATH": "/"}}})

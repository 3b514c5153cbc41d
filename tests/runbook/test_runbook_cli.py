"""``aqua runbook`` from the command line: help, list, show, exit codes of runs that cannot run,
and the import weight of the group."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_runner import imported_by, run_aqua
from json_schema import assert_matches_schema
from typer.testing import CliRunner

from sre_cli import cli

ROOT = Path(__file__).resolve().parents[2]
GOOD = Path(__file__).parent / "fixtures" / "good"
BAD = Path(__file__).parent / "fixtures" / "bad"


def _invoke(argv: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli.build_app(argv), argv, env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _aqua(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_aqua("runbook", *args, stdin=stdin, timeout=120)


@pytest.mark.parametrize(
    "argv",
    [["runbook"], ["runbook", "list"], ["runbook", "show"], ["runbook", "run"]],
    ids=["group", "list", "show", "run"],
)
def test_help(argv: list[str]) -> None:
    code, out = _invoke([*argv, "--help"])
    assert code == 0, out
    assert "Usage:" in out
    if argv[-1] == "run":
        for flag in ("--target", "--dry-run", "--yes", "--param", "--from-step", "--format"):
            assert flag in out


def test_list_names_every_runbook() -> None:
    code, out = _invoke(["runbook", "list"])
    assert code == 0, out
    for name in ("api-down", "high-error-rate", "kafka-consumer-lag", "do-crash-risk"):
        assert name in out
    assert "APIDown, APIReplicaDown" in out
    code, out = _invoke(["runbook", "list", "--format", "json"])
    data = json.loads(out)
    by_name = {r["name"]: r for r in data["runbooks"]}
    assert by_name["api-down"]["targets"] == ["stack", "kubernetes"]
    assert by_name["stack-component-down"]["alerts"] == [
        "StackComponentDown",
        "StackComponentRestarting",
    ]
    assert data["problems"] == []


def test_list_reports_an_invalid_runbook_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text((GOOD / "minimal.md").read_text())
    (tmp_path / "broken.md").write_text((BAD / "nested-typo.md").read_text())
    done = _aqua("list", "--dir", str(tmp_path))
    assert done.returncode == 2
    assert "ok" in done.stdout
    assert f"{tmp_path / 'broken.md'}:10: step 1 (aqua action): k8s.delete_pods.maxx" in (
        " ".join(done.stderr.split())
    )


def test_show_renders_numbered_steps_for_a_target() -> None:
    code, out = _invoke(["runbook", "show", "api-down"])
    assert code == 0, out
    assert "Step 1 diagnose" in out
    assert "Step 13 check" in out
    assert "stack components api-* are ready" in out  # parameter defaults filled in
    code, k8s = _invoke(["runbook", "show", "api-down", "--target", "kubernetes"])
    assert code == 0
    assert "Step 4 check" in k8s
    assert "Step 3 check" not in k8s
    assert "delete pods app=api-service, not Ready (at most 1)" in k8s


def test_show_of_an_unknown_runbook_exits_2() -> None:
    done = _aqua("show", "nope")
    assert done.returncode == 2
    assert "no runbook named 'nope'" in done.stderr
    assert "api-down" in done.stderr  # the hint lists what exists


def test_run_without_a_stack_exits_2_and_leaves_a_transcript(tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    done = _aqua(
        "run", "api-down", "--state-dir", str(tmp_path / "none"), "--transcript", str(transcript)
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no stack in" in done.stderr
    assert str(transcript) in " ".join(done.stdout.split())
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "end"]
    assert events[-1]["exit_code"] == 2


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_failed_or_dry_run_writes_its_transcript_under_the_state_dir(
    tmp_path: Path, dry_run: bool
) -> None:
    """Without --transcript the file goes where --state-dir says, never to the home folder."""
    state, home = tmp_path / "state", tmp_path / "home"
    env = {"HOME": str(home), "XDG_STATE_HOME": str(home / "xdg")}
    argv = ["run", "api-down", "--state-dir", str(state), *(["--dry-run"] if dry_run else [])]
    done = run_aqua("runbook", *argv, timeout=120, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    (written,) = (state / "runbooks").glob("api-down-*.jsonl")
    assert [json.loads(line)["event"] for line in written.read_text().splitlines()][-1] == "end"
    assert not home.exists()


def test_run_on_a_target_the_runbook_lacks_exits_2() -> None:
    done = _aqua("run", "stack-component-down", "--target", "kubernetes")
    assert done.returncode == 2
    assert "does not support target kubernetes" in done.stderr


def test_unknown_param_exits_2(tmp_path: Path) -> None:
    done = _aqua(
        "run", "api-down", "--state-dir", str(tmp_path), "--param", "nope=1", "--format", "json"
    )
    assert done.returncode == 2
    assert "runbook api-down has no parameter nope" in done.stderr
    assert "replicas" in done.stderr  # the hint names the parameters it has
    assert done.stdout == ""  # refused before anything ran


def test_unreachable_cluster_exits_2(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    transcript = tmp_path / "t.jsonl"
    done = _aqua(
        "run",
        "api-down",
        "--kubeconfig",
        str(kubeconfig),
        "--namespace",
        "aquaculture-prod",
        "--transcript",
        str(transcript),
        "--format",
        "json",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "did not answer" in done.stderr
    report = json.loads(done.stdout)
    assert_matches_schema("runbook-run", report)
    assert report["target"] == "kubernetes"
    assert report["outcome"] == "error"
    assert report["params"]["namespace"] == "aquaculture-prod"
    # The Prometheus diagnostic says it had nothing to ask, then the first k8s check fails.
    assert [s["status"] for s in report["steps"]] == ["error", "error"]
    assert report["steps"][0]["summary"].startswith("could not gather: this step asks Prometheus")


@pytest.mark.parametrize(
    "argv",
    [
        ["runbook", "list"],
        ["runbook", "show", "api-down"],
        ["runbook", "run", "--help"],
    ],
)
def test_runbook_commands_without_a_cluster_never_import_kubernetes(argv: list[str]) -> None:
    assert imported_by(argv, ("kubernetes", "torch", "sqlalchemy")) == []

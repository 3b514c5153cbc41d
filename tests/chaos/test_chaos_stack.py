"""``aqua chaos run`` against a real local stack: two API replicas behind nginx.

The stack runs ``--lite`` with nginx and Prometheus. The tests share it (one module) and each
leaves both replicas ready: a dry run and a declined run change nothing, api-replica-loss
kills api-1 under load and the hypothesis holds, an experiment that stops api-1 for good
deviates (exit 1) and its rollback starts it again, and an unsteady system is never injected.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_aqua
from json_schema import assert_matches_schema
from stack.stack_harness import Stack, lite_stack

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chaos-stack")]

ROOT = Path(__file__).resolve().parents[2]


def both_ready(status: dict[str, dict[str, Any]]) -> bool:
    return all(status[n]["ready"] for n in ("api-1", "api-2"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from lite_stack(tmp_path_factory.mktemp("chaos-stack"))


@pytest.fixture
def steady(stack: Stack) -> Stack:
    stack.wait(both_ready, 60, "both API replicas ready")
    return stack


def chaos(
    stack: Stack, *args: str, stdin: str = ""
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    journal = stack.state_dir.parent / f"journal-{os.urandom(4).hex()}.jsonl"
    where = ("--state-dir", str(stack.state_dir), "--journal", str(journal))
    done = run_aqua("chaos", "run", *args, *where, stdin=stdin)
    lines = journal.read_text().splitlines() if journal.exists() else []
    return done, [json.loads(line) for line in lines]


def api1(stack: Stack) -> tuple[int | None, int]:
    s = stack.status()["api-1"]
    return s["pid"], s["restarts"]


def test_dry_run_prints_the_plan_and_changes_nothing(steady: Stack) -> None:
    before = api1(steady)
    done, events = chaos(steady, "api-replica-loss", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "would kill api-1" in done.stdout
    assert "[destructive: runs only with --yes]" in done.stdout
    assert "dry run: nothing changed" in done.stdout
    method = [e for e in events if e["event"] == "method"]
    assert [e["status"] for e in method] == ["would", "would"]
    assert events[-1]["event"] == "end"
    assert events[-1]["outcome"] == "dry-run"
    assert api1(steady) == before


def test_a_destructive_method_without_yes_exits_3_and_changes_nothing(steady: Stack) -> None:
    before = api1(steady)
    done, events = chaos(steady, "api-replica-loss", stdin="y\n")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Inject?" not in done.stderr  # a kill is never confirmed by a typed answer
    assert "is destructive and runs only with --yes" in done.stderr
    assert not [e for e in events if e["event"] in ("method", "rollback")]
    assert events[-1]["exit_code"] == 3
    assert api1(steady) == before


def test_replica_loss_under_load_holds_the_hypothesis(steady: Stack) -> None:
    pid, restarts = api1(steady)
    done, events = chaos(steady, "api-replica-loss", "--yes", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert_matches_schema("chaos-run", report)
    assert report["outcome"] == "held"
    phases = [(r["phase"], r["title"], r["status"]) for r in report["records"]]
    assert phases == [
        ("before", "nginx-answers", "pass"),
        ("before", "api-replicas-ready", "pass"),
        ("method", "kill-api-1: kill api-1", "done"),
        ("method", "wait 1s", "done"),
        ("during", "load", "pass"),
        ("after", "nginx-answers", "pass"),
        ("after", "api-replicas-ready", "pass"),
        ("rollback", "start-api-1: start api-1", "done"),
    ]
    assert f"sent SIGKILL to api-1 (pid {pid})" in report["records"][2]["summary"]
    assert report["load"]["requests"] > 0
    assert events[0]["event"] == "start"
    assert events[-1] == {**events[-1], "event": "end", "outcome": "held", "exit_code": 0}
    new_pid, new_restarts = api1(steady)
    assert new_pid != pid
    assert new_restarts > restarts


STOP_FOR_GOOD = """\
title: api-1 stopped for good
target: stack
duration: 60s
steady_state_hypothesis:
  title: every API replica is ready
  probes:
    - name: api-replicas-ready
      stack: {ready: "api-*"}
      within: 2s
method:
  - stack: {stop: api-1}
rollbacks:
  - name: start-api-1
    stack: {start: api-1}
"""


def test_a_deviated_hypothesis_exits_1_and_the_rollback_still_runs(
    steady: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "stop-for-good.yaml"
    path.write_text(STOP_FOR_GOOD)
    done, events = chaos(steady, str(path), "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "hypothesis deviated: probe api-replicas-ready" in done.stderr
    assert "api-1 (stopped on purpose)" in done.stderr
    rollback = [e for e in events if e["event"] == "rollback"]
    assert [(e["title"], e["status"]) for e in rollback] == [("start-api-1: start api-1", "done")]
    assert events[-1]["outcome"] == "deviated"
    assert events[-1]["exit_code"] == 1
    assert steady.state()["components"]["api-1"]["desired"] == "up"
    steady.wait(both_ready, 60, "api-1 started again by the rollback")


UNSTEADY = """\
title: probed on a route that does not exist
target: stack
steady_state_hypothesis:
  title: the route answers
  probes:
    - name: missing-route
      http: {url: "{entry_url}/no-such-route", expect_status: 200}
method:
  - stack: {stop: api-1}
rollbacks:
  - stack: {start: api-1}
"""


def test_an_unsteady_system_is_never_injected(steady: Stack, tmp_path: Path) -> None:
    path = tmp_path / "unsteady.yaml"
    path.write_text(UNSTEADY)
    before = api1(steady)
    done, events = chaos(steady, str(path), "--yes")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not steady before the experiment: probe missing-route" in done.stderr
    assert "answered 404, expected 200" in done.stderr
    assert not [e for e in events if e["event"] in ("method", "rollback")]
    assert events[-1]["outcome"] == "not-steady"
    assert api1(steady) == before


INTERRUPTED = """\
title: interrupted half-way
target: stack
steady_state_hypothesis:
  title: every API replica is ready
  probes:
    - name: api-replicas-ready
      stack: {ready: "api-*"}
method:
  - stack: {stop: api-1}
  - wait: 60s
rollbacks:
  - name: start-api-1
    stack: {start: api-1}
"""


def test_ctrl_c_during_the_method_still_rolls_back(steady: Stack, tmp_path: Path) -> None:
    path = tmp_path / "interrupted.yaml"
    path.write_text(INTERRUPTED)
    journal = tmp_path / "journal.jsonl"
    argv = [sys.executable, "-m", "sre_cli", "chaos", "run", str(path), "--yes"]
    argv += ["--state-dir", str(steady.state_dir), "--journal", str(journal)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while '"event": "method"' not in (journal.read_text() if journal.exists() else ""):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the method never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(e["event"], e["status"]) for e in events if e["event"] == "rollback"] == [
        ("rollback", "done")
    ]
    assert events[-1]["outcome"] == "interrupted"
    assert steady.state()["components"]["api-1"]["desired"] == "up"
    steady.wait(both_ready, 60, "api-1 started again by the rollback")

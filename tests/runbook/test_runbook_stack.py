"""``aqua runbook run`` against a real local stack: two API replicas behind nginx, Prometheus.

The stack runs ``--lite`` (no PostgreSQL, Redis or Kafka) with only nginx and Prometheus
visible to it. The tests run in file order on one stack: an API replica is stopped on
purpose, a dry run and a run without --yes leave it down, the confirmed run brings it back.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_aqua
from json_schema import assert_matches_schema
from stack.stack_harness import Stack, lite_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from lite_stack(tmp_path_factory.mktemp("runbook-stack"))


def runbook(
    stack: Stack, *args: str, stdin: str = "", transcript: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    path = transcript or stack.state_dir.parent / f"transcript-{os.urandom(4).hex()}.jsonl"
    where = ("--state-dir", str(stack.state_dir), "--transcript", str(path))
    done = run_aqua("runbook", "run", *args, *where, stdin=stdin)
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return done, events


def steps(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {e["step"]: e for e in events if e["event"] == "step"}


def test_dry_run_reports_the_restart_and_changes_nothing(stack: Stack) -> None:
    stack.aqua("stop", "api-1")
    done, events = runbook(stack, "api-down", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    by_step = steps(events)
    assert by_step[3]["status"] == "fail"  # api-1 not ready (triage: the run goes on)
    assert "api-1 (stopped on purpose)" in by_step[3]["summary"]
    assert by_step[10]["status"] == "would"
    assert by_step[10]["changes"] == ["restart api-1 (stopped on purpose)"]
    assert by_step[13]["status"] == "would"
    assert by_step[15]["status"] == "pass"  # nginx serves from api-2
    assert "would restart 1 component(s)" in done.stdout
    text = " ".join(done.stdout.split())
    assert "[mutate: asks first unless --yes]" in text  # each step with its risk level
    assert "[read]" in text
    assert events[-1]["outcome"] == "dry-run"
    status = stack.status()["api-1"]
    assert status["pid"] is None
    assert not status["ready"]
    assert stack.state()["components"]["api-1"]["desired"] == "down"


def test_a_mutate_step_without_yes_or_a_terminal_exits_3_and_leaves_the_replica_down(
    stack: Stack,
) -> None:
    stack.aqua("stop", "api-1")  # already stopped when the file runs in order
    done, events = runbook(stack, "api-down", stdin="y\n")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Go ahead with step 10?" not in done.stderr  # a pipe cannot confirm
    message = " ".join(done.stderr.split())
    assert "changes state and needs --yes (or a confirmation on a terminal)" in message
    assert "resume with --from-step 10 --yes" in message
    by_step = steps(events)
    assert by_step[10]["status"] == "declined"
    assert by_step[10]["risk"] == "mutate"
    assert 13 not in by_step
    assert events[-1]["exit_code"] == 3
    assert stack.status()["api-1"]["pid"] is None
    assert stack.state()["components"]["api-1"]["desired"] == "down"


def test_api_down_brings_the_replica_back(stack: Stack) -> None:
    stack.aqua("stop", "api-1")
    restarts = stack.status()["api-1"]["restarts"]
    done, events = runbook(stack, "api-down", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    by_step = steps(events)
    assert [(n, by_step[n]["status"]) for n in sorted(by_step)] == [
        (1, "info"),  # what Prometheus sees
        (2, "pass"),  # nginx still answers
        (3, "fail"),  # api-1 is not ready
        (6, "info"),  # its last log lines
        (9, "info"),  # memory and CPU of the replica still running
        (10, "done"),  # restarted
        (13, "pass"),  # ready again
        (15, "pass"),  # through nginx
    ]
    verified = next(e for e in events if e["event"] == "verify")
    assert verified["slo"] == "api-availability"  # the SLI from the API's own metrics
    assert verified["recovered"] is True, verified
    assert any("api-1" in line for line in by_step[6]["details"])
    (top,) = by_step[9]["details"]  # api-1 has no process: api-2 only
    assert top.startswith("api-2 (pid ")
    assert by_step[10]["summary"] == "api-1 restarting"
    assert events[-1]["outcome"] == "resolved"
    text = " ".join(done.stdout.split())
    assert "api-down on stack: resolved" in text
    transcript = next(e for e in events if e["event"] == "start")
    assert transcript["runbook"] == "api-down"
    assert "transcript: " in text
    status = stack.status()["api-1"]
    assert status["ready"]
    assert status["restarts"] == restarts + 1
    # Run again with nothing broken: nothing to do, nothing asked, still exit 0.
    done, events = runbook(stack, "api-down", stdin="")
    assert done.returncode == 0, done.stdout + done.stderr
    assert steps(events)[10]["status"] == "nothing"


def test_a_failed_check_exits_1_naming_the_step(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "probe.md").write_text(
        """\
---
title: Prometheus and HTTP checks
targets: [stack]
---
```aqua check
wait:
  until: {prometheus: {query: 'sum(up{job="api"})', expect: ">= 2"}}
  timeout: 60s
  interval: 1s
```

```aqua diagnose
prometheus: {query: 'up{job="api"}'}
```

```aqua check
http: {url: "{entry_url}/no-such-route", expect_status: 200}
```
"""
    )
    done, events = runbook(stack, "probe", "--dir", str(tmp_path), "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert_matches_schema("runbook-run", report)
    assert report["outcome"] == "check-failed"
    first, shown, failed = report["steps"]
    assert first["status"] == "pass"
    assert first["summary"].startswith("all 1 series >= 2")
    assert len(shown["details"]) == 2  # up of both replicas, from the stack's own Prometheus
    assert failed["status"] == "fail"
    assert "answered 404, expected 200" in failed["summary"]
    assert "step 3 failed" in done.stderr
    assert events[-1]["exit_code"] == 1


def test_top_reads_each_replicas_resident_memory_and_cpu(stack: Stack) -> None:
    from sre_cli.ops.context import TargetOptions, open_context
    from sre_cli.ops.operations import TopOp

    ctx = open_context(TargetOptions("stack", state_dir=stack.state_dir))
    seen = ctx.observe(TopOp.model_validate({"component": "api-*"}))
    pids = {name: s["pid"] for name, s in stack.status().items() if name.startswith("api-")}
    rows = {line.split()[0]: line for line in seen.details}
    assert set(rows) == {name for name, pid in pids.items() if pid}
    assert seen.summary == f"memory and CPU of {len(rows)} process(es)"
    for name, line in rows.items():
        pid = pids[name]
        assert f"{name} (pid {pid})" in line
        m = re.search(r"memory=\s*([\d.]+)Mi\s+cpu=\s*([\d.]+) cores\s+\((\d+)% of memory", line)
        assert m is not None, line
        # the resident set /proc reports for the same process, give or take its growth
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        rss_mib = pages * os.sysconf("SC_PAGE_SIZE") / 2**20
        assert abs(float(m.group(1)) - rss_mib) <= max(8.0, rss_mib * 0.2), (line, rss_mib)
        # against the 512Mi limit of the API's Deployment (rounded twice: one point of slack)
        assert abs(int(m.group(3)) - float(m.group(1)) / 512 * 100) <= 1, line


def test_bad_deploy_dry_runs_on_the_stack(stack: Stack) -> None:
    stack.aqua("stop", "api-2")
    try:
        done, events = runbook(stack, "bad-deploy", "--dry-run")
        assert done.returncode == 0, done.stdout + done.stderr
        by_step = steps(events)
        assert sorted(by_step) == [5, 6, 7, 9, 10, 12]  # the stack's steps only
        assert by_step[5]["status"] == "fail"  # api-2 is not ready
        assert by_step[9]["status"] == "nothing"  # no release to roll back to
        assert by_step[10]["status"] == "would"
        assert by_step[10]["risk"] == "mutate"
        assert by_step[10]["changes"] == ["restart api-2 (stopped on purpose)"]
        assert events[-1]["outcome"] == "dry-run"
        assert events[-2]["event"] == "verify"  # measured once, nobody paged
        assert "escalation" not in [e["event"] for e in events]
        assert stack.state()["components"]["api-2"]["desired"] == "down"
    finally:
        stack.aqua("start", "api-2")
        stack.wait(lambda s: s["api-2"]["ready"], 90, "api-2 ready again")

"""``describe`` on the stack, for real: what the supervisor knows of a component beside what
the kernel says of its process; after the process is killed, the new one (pid, restarts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_aqua
from stack.faults_harness import FaultStack

pytestmark = pytest.mark.integration

BOOK = """\
---
title: Describe the API replica
targets: [stack]
---
# Describe

```aqua diagnose
describe: {component: ["api-*", nginx]}
```
"""


def describe(fs: FaultStack, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "describe.md"
    path.write_text(BOOK)
    done = run_aqua(
        "runbook", "run", str(path), "--format", "json", "--state-dir", str(fs.state_dir),
        "--transcript", str(tmp_path / "t.jsonl"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    step: dict[str, Any] = json.loads(done.stdout)["steps"][0]
    assert (step["status"], step["risk"]) == ("info", "read")
    return step


def block(details: list[str], name: str) -> dict[str, str]:
    """The ``key: value`` lines of component ``name``'s block."""
    start = next(i for i, line in enumerate(details) if line.startswith(f"── {name} "))
    out = {}
    for line in details[start + 1 :]:
        if line.startswith("──"):
            break
        key, _, value = line.strip().partition(":")
        out[key] = value.strip()
    return out


def test_describe_shows_each_process_and_its_restart(
    faults_stack: FaultStack, tmp_path: Path
) -> None:
    stack = faults_stack.stack
    before = stack.status()
    step = describe(faults_stack, tmp_path)
    assert step["summary"] == "2 component(s), 2 ready"
    api = block(step["details"], "api-1")
    assert api["pid"].startswith(f"{before['api-1']['pid']} (")  # and the kernel's state
    assert "-m service.api" in api["command"]
    assert api["ports"] == f"port={before['api-1']['port']}"
    assert api["restarts"] == str(before["api-1"]["restarts"])
    assert api["state"].startswith("ready; phase ready, wanted up")
    nginx = block(step["details"], "nginx")
    assert "nginx" in nginx["command"]
    assert nginx["url"] == before["nginx"]["url"]

    stack.aqua("kill", "api-1")
    stack.wait(
        lambda st: st["api-1"]["ready"] and st["api-1"]["pid"] != before["api-1"]["pid"],
        90,
        "api-1 back after the kill",
    )
    after = block(describe(faults_stack, tmp_path)["details"], "api-1")
    now = stack.status()["api-1"]
    assert after["pid"].startswith(f"{now['pid']} (")
    assert int(after["restarts"]) == before["api-1"]["restarts"] + 1


def test_memory_leak_describes_the_replicas_on_the_stack(
    faults_stack: FaultStack, tmp_path: Path
) -> None:
    """The shipped memory-leak runbook's describe step, dry-run on the stack."""
    done = run_aqua(
        "runbook", "run", "memory-leak", "--dry-run", "--format", "json",
        "--state-dir", str(faults_stack.state_dir), "--transcript", str(tmp_path / "t.jsonl"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    steps = {s["step"]: s for s in json.loads(done.stdout)["steps"]}
    assert steps[3]["title"] == "describe api-*"
    api = block(steps[3]["details"], "api-1")
    assert api["pid"].startswith(f"{faults_stack.stack.status()['api-1']['pid']} (")
    assert "restarts" in api

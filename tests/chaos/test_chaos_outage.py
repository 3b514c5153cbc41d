"""A dependency outage on a real full stack: ``outage: redis`` stops Redis through the
supervisor, the after-probe sees it down (the hypothesis that Redis is back within a second
deviates, exit 1), and the automatic rollback starts it again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from cli_runner import run_aqua
from stack.stack_harness import Stack, make_stack, require_full_stack

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chaos-outage")]

OUTAGE = """\
title: Redis stopped
target: stack
duration: 60s
steady_state_hypothesis:
  title: Redis is ready
  probes:
    - name: redis-ready
      stack: {ready: redis}
      within: 1s
method:
  - outage: redis
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_full_stack()
    for s in make_stack(tmp_path_factory.mktemp("chaos-outage")):
        s.up("--api-replicas", "1")
        yield s


def test_an_outage_stops_the_dependency_and_the_rollback_starts_it(stack: Stack) -> None:
    path = stack.state_dir.parent / f"outage-{os.urandom(4).hex()}.yaml"
    path.write_text(OUTAGE)
    journal = path.with_suffix(".jsonl")
    where = ("--state-dir", str(stack.state_dir), "--journal", str(journal))
    done = run_aqua("chaos", "run", str(path), *where)
    assert done.returncode == 3, done.stdout + done.stderr  # destructive: only with --yes
    assert stack.status()["redis"]["ready"]
    done = run_aqua("chaos", "run", str(path), "--yes", *where)
    assert done.returncode == 1, done.stdout + done.stderr
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    run = events[max(i for i, e in enumerate(events) if e["event"] == "start") :]
    phases = [(e["event"], e["title"], e["status"]) for e in run if "status" in e]
    assert phases == [
        ("before", "redis-ready", "pass"),
        ("method", "stop redis (dependency outage)", "done"),
        ("after", "redis-ready", "fail"),
        ("rollback", "auto: start redis", "done"),
    ]
    assert "stopped on purpose" in run[3]["summary"]
    assert run[-1]["outcome"] == "deviated"
    assert stack.state()["components"]["redis"]["desired"] == "up"
    stack.wait(lambda st: bool(st["redis"]["ready"]), 60, "redis started by the rollback")

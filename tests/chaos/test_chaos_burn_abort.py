"""The ``burn_rate_above`` abort condition, live: a real stack's API fails under load (its
fault rules), the stack's Prometheus scrapes the failures, and the experiment's guard reads
the SLO's burn rate from that Prometheus while the method runs. Above the threshold the
method stops in the middle of its wait and the rollback clears the fault; with a threshold
the burn cannot reach (100 % errors burn a 99 % SLO's budget at 100x) the method runs to its
end: the condition is what stopped it, not anything else.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cli_runner import run_aqua
from stack.faults_harness import FaultStack, fault_stack, slo_spec

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chaos-burn")]


@pytest.fixture(scope="module")
def fs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    yield from fault_stack(tmp_path_factory.mktemp("chaos-burn"))


EXPERIMENT = """\
title: /health fails until the SLO burns too fast
target: stack
duration: 180s
steady_state_hypothesis:
  title: the API is alive
  probes:
    - name: live
      http: {{url: "{{entry_url}}/live", expect_status: 200}}
      within: 10s
method:
  - fault: {{route: /health, error_rate: 1.0, error_status: 503}}
  - wait: {wait}
abort:
  - {{burn_rate_above: {threshold}, slo: {slo}, window: 5m}}
"""

TOTAL = 'sum(rate(http_requests_total{job="api",route="/health"}[1m]))'


def chaos(fs: FaultStack, threshold: float, wait: str) -> tuple[int, str, list[dict[str, Any]]]:
    tmp = fs.state_dir.parent
    slo = tmp / f"slo-{os.urandom(4).hex()}.yaml"
    slo.write_text(slo_spec("/health", objective=99))
    spec = tmp / f"exp-{os.urandom(4).hex()}.yaml"
    spec.write_text(EXPERIMENT.format(threshold=threshold, slo=slo, wait=wait))
    journal = spec.with_suffix(".jsonl")
    done = run_aqua(
        "chaos", "run", str(spec), "--yes", "--state-dir", str(fs.state_dir),
        "--journal", str(journal), env={"AQUA_ADMIN_TOKEN": fs.token}, timeout=400,
    )  # fmt: skip
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    return done.returncode, done.stdout + done.stderr, events


def rollbacks(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["title"], e["status"]) for e in events if e["event"] == "rollback"]


def test_a_real_burn_above_the_threshold_stops_the_method_and_rolls_back(fs: FaultStack) -> None:
    with fs.load("/health", rate=10) as load:
        fs.wait_prometheus(TOTAL, lambda v: v > 0, "the load in Prometheus")
        code, out, events = chaos(fs, 14.4, "150s")
    assert code == 1, out
    abort = next(e for e in events if e["event"] == "abort")
    burned = re.search(r"abort: SLO health burns ([\d.]+)x over 5m, above 14.4x", abort["summary"])
    assert burned, abort
    assert 14.4 < float(burned.group(1)) <= 100.0  # a 99 % SLO burns at most 100x
    wait = [e for e in events if e["event"] == "method" and e["title"] == "wait 150s"]
    assert wait, events
    assert wait[0]["summary"].startswith("stopped waiting after"), wait  # cut short
    assert rollbacks(events) == [("auto: clear every injected fault", "done")]
    assert events[-1]["outcome"] == "aborted"
    assert load.failed > 0  # the burn was the load's own 503s
    r = httpx.get(f"{fs.entry}/health", timeout=30)
    assert r.status_code == 200, r.text  # the rollback cleared the fault


def test_a_burn_below_the_threshold_lets_the_method_finish(fs: FaultStack) -> None:
    with fs.load("/health", rate=10) as load:
        fs.wait_prometheus(TOTAL, lambda v: v > 0, "the load in Prometheus")
        code, out, events = chaos(fs, 150, "20s")
    assert not [e for e in events if e["event"] == "abort"], events
    wait = [e for e in events if e["event"] == "method" and e["title"] == "wait 20s"]
    assert wait[0]["summary"] == "waited 20s", wait
    assert rollbacks(events) == [("auto: clear every injected fault", "done")]
    assert events[-1]["outcome"] != "aborted", events[-1]
    assert code == 0, out
    assert load.failed > 0  # it burned all along, just not fast enough to abort

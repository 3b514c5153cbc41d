"""The stack's faults as chaos actions, against a real ``--lite --faults --limits`` stack.

An API fault (every ``/health`` answered 503) is injected under load with no rollback in the
experiment: the load's failures count, and the automatic rollback clears the rule, so the
API answers again. A CPU burn starts a real busy process that the automatic rollback stops,
reporting the CPU time it used. A leak rule grows the API replica until the kernel
OOM-kills it in its cgroup (the Deployment's 512 MiB) and the supervisor restarts it.
An alert firing in the stack's Alertmanager, the kill switch file and SIGTERM each stop a
method in the middle of a wait and the rollbacks run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_runner import run_aqua
from infra_harness import require_binary
from stack.stack_harness import Stack, make_stack, require_cgroups

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chaos-faults")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_cgroups()
    tmp = tmp_path_factory.mktemp("chaos-faults")
    bins = tmp / "bins"
    bins.mkdir()
    for tool in ("nginx", "alertmanager", "prometheus"):
        (bins / tool).symlink_to(require_binary(tool))
    for s in make_stack(tmp, {"AQUA_STACK_BIN_PATH": str(bins)}):
        s.up("--lite", "--faults", "--limits", "--api-replicas", "1")
        s.wait(lambda st: all(c["ready"] for n, c in st.items() if n.startswith("api")), 60, "api")
        yield s


def entry(stack: Stack) -> str:
    return str(stack.plan()["entry_url"])


def chaos(stack: Stack, spec: str, *args: str) -> tuple[int, str, list[dict[str, Any]]]:
    path = stack.state_dir.parent / f"exp-{os.urandom(4).hex()}.yaml"
    path.write_text(spec)
    journal = path.with_suffix(".jsonl")
    token = stack.admin_token(entry(stack))
    done = run_aqua(
        "chaos",
        "run",
        str(path),
        "--yes",
        "--state-dir",
        str(stack.state_dir),
        "--journal",
        str(journal),
        *args,
        env={"AQUA_ADMIN_TOKEN": token},
    )
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    return done.returncode, done.stdout + done.stderr, events


def alive(title: str, method: str, head: str = "") -> str:
    """An experiment on the stack whose hypothesis is that ``/live`` answers 200."""
    return (
        f"title: {title}\ntarget: stack\nduration: 60s\n{head}"
        "steady_state_hypothesis:\n  title: the API is alive\n  probes:\n    - name: live\n"
        '      http: {url: "{entry_url}/live", expect_status: 200}\n      within: 10s\n'
        f"method:\n{method}"
    )


FAULT = alive(
    "/health answers 503 while /live holds",
    "  - fault: {route: /health, error_rate: 1.0, error_status: 503}\n  - wait: 2s\n",
    head='load: {url: "{entry_url}/health", rate: 10}\n',
)


def test_failed_load_requests_deviate_and_the_fault_is_cleared_automatically(
    stack: Stack,
) -> None:
    code, out, events = chaos(stack, FAULT)
    assert code == 1, out
    assert "hypothesis deviated: load: " in out
    end = events[-1]
    assert end["outcome"] == "deviated"
    assert end["load"]["failed"] > 0, end  # the injected 503s reached the load
    load = [e for e in events if e["event"] == "during" and e["title"] == "load"]
    assert load[0]["status"] == "fail", load
    assert [e["status"] for e in events if e["event"] == "after"] == ["pass"]
    rollbacks = [(e["title"], e["status"]) for e in events if e["event"] == "rollback"]
    assert rollbacks == [("auto: clear every injected fault", "done")]
    r = httpx.get(f"{entry(stack)}/health", timeout=30)
    assert r.status_code == 200, r.text


DURING = """\
title: /health fails for a while, then is cleared within the method
target: stack
duration: 60s
steady_state_hypothesis:
  title: /health answers 200
  probes:
    - name: health
      http: {url: "{entry_url}/health", expect_status: 200}
      within: 10s
      during: {every: 500ms, tolerance: TOLERANCE}
method:
  - fault: {route: /health, error_rate: 1.0, error_status: 503}
  - wait: 3s
  - clear_faults: true
"""


@pytest.mark.parametrize("tolerance", [0, 1000])
def test_a_during_probe_sees_what_the_after_probe_misses(stack: Stack, tolerance: int) -> None:
    code, out, events = chaos(stack, DURING.replace("TOLERANCE", str(tolerance)))
    during = [e for e in events if e["event"] == "during"]
    assert len(during) == 1, events
    failed = re.match(r"(\d+) of (\d+) checks failed", during[0]["summary"])
    assert failed, during
    assert int(failed.group(1)) >= 1  # the 3 s of 503s were seen every half second
    assert [e["status"] for e in events if e["event"] == "after"] == ["pass"]
    if tolerance == 0:
        assert code == 1, out
        assert during[0]["status"] == "fail"
        assert "hypothesis deviated: probe health (during the method)" in out
    else:
        assert code == 0, out
        assert during[0]["status"] == "pass"


BURN = alive(
    "a CPU burn leaves the API alive", "  - cpu_burn: {seconds: 50, workers: 1}\n  - wait: 2s\n"
)


def test_a_cpu_burn_is_stopped_by_its_automatic_rollback(stack: Stack) -> None:
    code, out, events = chaos(stack, BURN)
    assert code == 0, out
    method = [e for e in events if e["event"] == "method"]
    started = re.search(r"pid (\d+)", method[0]["summary"])
    assert started, method
    pid = int(started.group(1))
    rollbacks = [e for e in events if e["event"] == "rollback"]
    assert [(e["title"], e["status"]) for e in rollbacks] == [
        ("auto: stop the CPU burners", "done")
    ]
    used = re.search(r"after ([\d.]+) CPU s", rollbacks[0]["summary"])
    assert used, rollbacks[0]
    # it really burned: an idle interpreter uses a few hundredths of a second in two seconds
    assert float(used.group(1)) >= 0.2
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists():  # stopped and reaped, well before its 50 s bound
        assert time.monotonic() < deadline, f"burner {pid} still running"
        time.sleep(0.1)


def test_an_outage_on_a_lite_stack_is_refused_before_anything_is_injected(stack: Stack) -> None:
    spec = FAULT.replace("  - fault: {route: /health, error_rate: 1.0, error_status: 503}\n", "")
    code, out, events = chaos(stack, spec.replace("  - wait: 2s\n", "  - outage: postgres\n"))
    assert code == 2, out
    assert "this stack runs no postgres" in out
    assert not [e for e in events if e["event"] in ("method", "rollback")]


LEAK = """\
title: a leaking API replica is OOM-killed at its limit and comes back
target: stack
duration: 150s
# the load drives the leak; the requests the killed replica drops are expected
load: {url: "{entry_url}/live", rate: 20, max_failed: 1.0}
steady_state_hypothesis:
  title: the API replica is ready
  probes:
    - name: api-ready
      stack: {ready: api-1}
      within: 60s
method:
  - fault: {route: /live, leak_kb: 4096}
  - expect_oom_kill: {component: api-1, within: 120s}
"""


def test_a_leak_gets_the_api_oom_killed_in_its_cgroup_and_restarted(stack: Stack) -> None:
    before = stack.status()["api-1"]
    code, out, events = chaos(stack, LEAK)
    assert code == 0, out
    method = [e for e in events if e["event"] == "method"]
    evidence = method[1]["summary"]
    assert "killed by SIGKILL, OOM-killed at its memory limit (oom_kill 1)" in evidence
    after = stack.status()["api-1"]
    assert after["restarts"] > before["restarts"]
    assert after["pid"] != before["pid"]
    assert events[-1]["load"]["failed"] > 0  # the requests the killed replica dropped


STOPPABLE = alive(
    "a fault held for a long wait",
    "  - fault: {route: /health, latency_ms: 10}\n  - wait: 60s\n",
).replace("duration: 60s", "duration: 120s")


def start_chaos(stack: Stack, spec: str) -> tuple[subprocess.Popen[str], Path]:
    path = stack.state_dir.parent / f"exp-{os.urandom(4).hex()}.yaml"
    path.write_text(spec)
    journal = path.with_suffix(".jsonl")
    argv = [sys.executable, "-m", "sre_cli", "chaos", "run", str(path), "--yes"]
    argv += ["--state-dir", str(stack.state_dir), "--journal", str(journal)]
    env = {**os.environ, "AQUA_ADMIN_TOKEN": stack.admin_token(entry(stack))}
    proc = subprocess.Popen(
        argv, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while not (journal.exists() and '"event": "method"' in journal.read_text()):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the fault was never injected"
        time.sleep(0.2)
    return proc, journal


def stopped(proc: subprocess.Popen[str], journal: Path) -> tuple[int, str, list[dict[str, Any]]]:
    out = proc.communicate(timeout=60)[0]
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    wait = [e for e in events if e["event"] == "method" and e["title"] == "wait 60s"]
    # stopped before the wait began, or cut it short: never waited the whole minute
    assert all(e["summary"].startswith("stopped waiting after") for e in wait), events
    rollbacks = [(e["title"], e["status"]) for e in events if e["event"] == "rollback"]
    assert rollbacks == [("auto: clear every injected fault", "done")]
    assert events[-1]["outcome"] == "aborted"
    return proc.returncode, out, events


def test_an_alert_firing_aborts_the_method_and_rolls_back(stack: Stack) -> None:
    name = f"ChaosAbort{uuid.uuid4().hex[:6]}"
    spec = STOPPABLE + f"abort:\n  - alert_firing: {name}\n"
    proc, journal = start_chaos(stack, spec)
    am = next(c["url"] for c in stack.plan()["components"] if c["kind"] == "alertmanager")
    alert = [{"labels": {"alertname": name, "severity": "info"}}]
    assert httpx.post(f"{am}/api/v2/alerts", json=alert, timeout=30).status_code == 200
    code, out, events = stopped(proc, journal)
    assert code == 1, out
    abort = next(e for e in events if e["event"] == "abort")
    assert f"abort: alert {name} is firing in Alertmanager" in abort["summary"]


def test_the_kill_switch_file_stops_the_method_and_no_run_starts_while_it_exists(
    stack: Stack,
) -> None:
    switch = stack.state_dir / "chaos.stop"
    proc, journal = start_chaos(stack, STOPPABLE)
    switch.touch()
    try:
        code, out, events = stopped(proc, journal)
        assert code == 3, out
        assert "kill switch: " in next(e for e in events if e["event"] == "abort")["summary"]
        code, out, events = chaos(stack, STOPPABLE)
        assert code == 3, out
        assert "no experiment starts" in out
        assert not [e for e in events if e["event"] in ("method", "rollback")]
    finally:
        switch.unlink()


def test_sigterm_stops_the_method_and_rolls_back(stack: Stack) -> None:
    proc, journal = start_chaos(stack, STOPPABLE)
    proc.send_signal(signal.SIGTERM)
    code, out, events = stopped(proc, journal)
    assert code == 3, out
    assert "kill switch: SIGTERM" in next(e for e in events if e["event"] == "abort")["summary"]


def slo_file(stack: Stack, bad: str) -> Path:
    """An SLO whose error ratio Prometheus computes as ``bad`` (0 or 0.5) of its ``up``
    samples."""
    path = stack.state_dir.parent / f"slo-{os.urandom(4).hex()}.yaml"
    path.write_text(
        "version: prometheus/v1\nservice: drill\nslos:\n  - name: constant\n"
        "    objective: 99\n    window: 30d\n    sli:\n      events:\n"
        f"        error_query: sum(count_over_time(up[{{{{.window}}}}])) * {bad}\n"
        "        total_query: sum(count_over_time(up[{{.window}}]))\n"
    )
    return path


def test_preflight_refuses_a_spent_budget_unless_forced(stack: Stack) -> None:
    spent = STOPPABLE.replace("  - wait: 60s\n", "  - wait: 1s\n")
    spent += f"preflight:\n  slo: {slo_file(stack, '0.5')}\n  min_budget_remaining: 0.25\n"
    spent += "  page_alerts: false\n"
    code, out, events = chaos(stack, spent)
    assert code == 2, out
    assert "preflight refused the experiment: budget constant: " in out
    assert not [e for e in events if e["event"] in ("method", "rollback")]
    pre = next(e for e in events if e["event"] == "preflight")
    assert pre["status"] == "fail"
    assert "below the minimum 25%" in pre["summary"]
    code, out, events = chaos(stack, spent, "--force")
    assert code == 0, out
    pre = next(e for e in events if e["event"] == "preflight")
    assert pre["summary"].endswith("(overridden by --force)")
    assert [e["event"] for e in events if e["event"] == "method"] == ["method", "method"]


def test_preflight_passes_a_whole_budget_and_refuses_during_a_page(stack: Stack) -> None:
    spec = STOPPABLE.replace("  - wait: 60s\n", "  - wait: 1s\n")
    gate = f"preflight:\n  slo: {slo_file(stack, '0')}\n  min_budget_remaining: 0.25\n"
    code, out, events = chaos(stack, spec + gate + "  page_alerts: false\n")
    assert code == 0, out
    assert [(e["title"], e["status"]) for e in events if e["event"] == "preflight"] == [
        ("budget constant", "pass"),
    ]
    am = next(c["url"] for c in stack.plan()["components"] if c["kind"] == "alertmanager")
    name = f"ChaosPage{uuid.uuid4().hex[:6]}"
    alert = [{"labels": {"alertname": name, "severity": "critical"}}]
    assert httpx.post(f"{am}/api/v2/alerts", json=alert, timeout=30).status_code == 200
    code, out, events = chaos(stack, spec + gate)
    assert code == 2, out
    pages = next(e for e in events if e["title"] == "page alerts")
    assert pages["status"] == "fail"
    assert name in pages["summary"]
    assert not [e for e in events if e["event"] in ("method", "rollback")]

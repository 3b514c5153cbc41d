"""Network faults on a real full stack started with ``--network-faults``: toxiproxy sits
between the API/worker and PostgreSQL, Redis and Kafka, and chaos experiments add and remove
its toxics.

The API's own ``/ready`` reports how long its checks of each dependency took, as the API
sees them through the proxy: latency injected shows there, measured against a baseline taken
in the same test (medians, generous tolerances). Resets show as Redis ``down``. Every run's
journal records the fault and the automatic rollback, which leaves the proxy without toxics,
also when the kill switch stops the method.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_runner import ROOT, run_aqua
from infra_harness import require
from polling import wait_for
from stack.stack_harness import Stack, make_stack, require_full_stack

from sre_cli.infra import binaries
from sre_cli.infra.toxiproxy import Toxiproxy

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chaos-network")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_full_stack(tracing=False)
    require(binaries.toxiproxy)
    for s in make_stack(tmp_path_factory.mktemp("chaos-network")):
        s.up("--network-faults", "--api-replicas", "1")
        yield s


def component(stack: Stack, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in stack.plan()["components"] if c["name"] == name)
    return found


def proxy_api(stack: Stack) -> Toxiproxy:
    return Toxiproxy(component(stack, "toxiproxy")["url"])


def readiness(stack: Stack) -> dict[str, Any]:
    """api-1's own ``/ready`` (not through nginx): its verdict and each dependency's check."""
    r = httpx.get(f"{component(stack, 'api-1')['url']}/ready", timeout=30)
    body: dict[str, Any] = r.json()
    return body


def check_ms(stack: Stack, dependency: str, rounds: int = 5) -> float:
    """The median time api-1's readiness check of ``dependency`` took, in ms."""
    samples = []
    for _ in range(rounds):
        check = readiness(stack)["checks"][dependency]
        assert check["status"] == "up", check
        samples.append(float(check["latency_ms"]))
    return statistics.median(samples)


def start_chaos(stack: Stack, experiment: str) -> tuple[subprocess.Popen[str], Path]:
    """``aqua chaos run EXPERIMENT --yes`` (a shipped name or YAML text) in the background,
    once its fault is injected."""
    if "\n" in experiment:
        path = stack.state_dir.parent / f"exp-{os.urandom(4).hex()}.yaml"
        path.write_text(experiment)
        experiment = str(path)
    journal = stack.state_dir.parent / f"journal-{os.urandom(4).hex()}.jsonl"
    argv = [sys.executable, "-m", "sre_cli", "chaos", "run", experiment, "--yes"]
    argv += ["--state-dir", str(stack.state_dir), "--journal", str(journal)]
    proc = subprocess.Popen(
        argv, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )

    def injected() -> bool:
        assert proc.poll() is None, proc.communicate()[0]
        return journal.exists() and '"event": "method"' in journal.read_text()

    wait_for(injected, "the fault to be injected", 90)
    return proc, journal


def finished(proc: subprocess.Popen[str], journal: Path) -> tuple[int, str, list[dict[str, Any]]]:
    out = proc.communicate(timeout=180)[0]
    return proc.returncode, out, [json.loads(line) for line in journal.read_text().splitlines()]


def phases(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["event"], e["status"]) for e in events if "status" in e]


def test_the_services_reach_every_dependency_only_through_its_proxy(stack: Stack) -> None:
    import psutil  # type: ignore[import-untyped]

    proxies = component(stack, "toxiproxy")["extra_ports"]
    direct = {name: component(stack, name)["port"] for name in ("postgres", "redis", "kafka")}
    status = stack.status()
    peers: set[int] = set()
    for name in ("api-1", "worker-1"):
        proc = psutil.Process(status[name]["pid"])
        for p in (proc, *proc.children(recursive=True)):
            peers |= {c.raddr.port for c in p.net_connections(kind="tcp") if c.raddr}
    # Kafka included: the broker's proxied listener advertises the proxy, so the clients stay
    # behind it after bootstrapping.
    assert set(proxies.values()) <= peers, (proxies, peers)
    assert not set(direct.values()) & peers, (direct, peers)
    listed = proxy_api(stack).proxies()
    assert {n: p["listen"] for n, p in listed.items()} == {
        n: f"127.0.0.1:{port}" for n, port in proxies.items()
    }


def test_postgres_latency_experiment_slows_the_api_and_rolls_back(stack: Stack) -> None:
    baseline = check_ms(stack, "database")
    proc, journal = start_chaos(stack, "postgres-latency")
    slowed = check_ms(stack, "database")
    assert proc.poll() is None, "the fault was removed before it was measured"
    code, out, events = finished(proc, journal)
    assert code == 0, out
    # 200 +- 20 ms per answer; the readiness check costs one round trip on a warm pool
    assert 150 <= slowed - baseline < 600, (baseline, slowed)
    assert phases(events) == [
        ("before", "pass"),
        ("method", "done"),
        ("method", "done"),
        ("during", "pass"),
        ("during", "pass"),
        ("after", "pass"),
        ("rollback", "done"),
    ]
    fault = next(e for e in events if e["event"] == "method")
    assert fault["risk"] == "mutate"
    assert "toxic aqua-latency-downstream on proxy postgres (api-1, worker-1" in fault["summary"]
    rollback = next(e for e in events if e["event"] == "rollback")
    assert rollback["title"] == "auto: clear the network faults between the services and postgres"
    assert "removed aqua-latency-downstream" in rollback["summary"]
    assert proxy_api(stack).toxics("postgres") == []
    restored = check_ms(stack, "database")
    assert restored < slowed - 20, (baseline, slowed, restored)


KAFKA_LATENCY = """\
title: slow Kafka link
target: stack
duration: 60s
steady_state_hypothesis:
  title: the API is ready
  probes:
    - name: ready
      http: {url: "{entry_url}/ready", expect_status: 200}
      within: 15s
method:
  - network: {dependency: kafka, latency: 300ms}
  - wait: 15s
"""


def test_kafka_latency_reaches_the_api_through_the_advertised_proxy(stack: Stack) -> None:
    baseline = check_ms(stack, "kafka")

    def kafka_ms() -> float:
        return float(readiness(stack)["checks"]["kafka"]["latency_ms"] or 0.0)

    proc, journal = start_chaos(stack, KAFKA_LATENCY)
    # The API reuses one Kafka check for a second, so poll for the slow one. Its check talks
    # to the broker it learnt from metadata: only when that is the proxy does latency show.
    seen: list[float] = []

    def slow() -> bool:
        seen.append(kafka_ms())
        return seen[-1] - baseline >= 250

    try:
        wait_for(slow, "the Kafka check to slow down", 12)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: baseline {baseline} ms, checks seen {seen}") from None
    assert proc.poll() is None, "the fault was removed before it was measured"
    code, out, events = finished(proc, journal)
    assert code == 0, out
    assert ("rollback", "done") in phases(events)
    assert proxy_api(stack).toxics("kafka") == []
    wait_for(lambda: kafka_ms() - baseline < 150, "the Kafka check to be fast again", 15)


def test_redis_reset_experiment_breaks_the_connections_and_the_api_holds(stack: Stack) -> None:
    assert readiness(stack)["checks"]["redis"]["status"] == "up"
    proc, journal = start_chaos(stack, "redis-reset")
    wait_for(lambda: readiness(stack)["checks"]["redis"]["status"] == "down", "redis down", 15)
    assert readiness(stack)["status"] == "degraded"  # still serving: the database is up
    code, out, events = finished(proc, journal)
    assert code == 0, out
    fault = next(e for e in events if e["event"] == "method")
    assert fault["risk"] == "destructive"
    assert "aqua-reset_peer-downstream on proxy redis" in fault["summary"]
    assert phases(events)[-1] == ("rollback", "done")
    assert proxy_api(stack).toxics("redis") == []
    wait_for(lambda: readiness(stack)["checks"]["redis"]["status"] == "up", "redis back up", 30)


def test_dry_run_and_consent_change_nothing(stack: Stack) -> None:
    where = ("--state-dir", str(stack.state_dir), "--format", "json")
    done = run_aqua("chaos", "run", "redis-reset", "--dry-run", *where)
    assert done.returncode == 0, done.stdout + done.stderr
    records = json.loads(done.stdout)["records"]
    method = next(r for r in records if r["phase"] == "method")
    assert method["status"] == "would"
    assert method["risk"] == "destructive"
    assert "[api-1, worker-1 -> redis via :" in method["summary"]
    rollback = next(r for r in records if r["phase"] == "rollback")
    assert rollback["title"] == "auto: clear the network faults between the services and redis"
    done = run_aqua("chaos", "run", "redis-reset", *where)  # destructive: only with --yes
    assert done.returncode == 3, done.stdout + done.stderr
    assert all(p["toxics"] == [] for p in proxy_api(stack).proxies().values())


LOSS = """\
title: Redis unreachable for a long while
target: stack
duration: 120s
steady_state_hypothesis:
  title: the API is alive
  probes:
    - name: live
      http: {url: "{entry_url}/live", expect_status: 200}
      within: 10s
method:
  - network: {dependency: redis, loss: true}
  - wait: 60s
"""


def test_the_kill_switch_stops_a_network_fault_and_removes_it(stack: Stack) -> None:
    switch = stack.state_dir / "chaos.stop"
    proc, journal = start_chaos(stack, LOSS)
    assert [t["type"] for t in proxy_api(stack).toxics("redis")] == ["timeout"]
    switch.touch()
    try:
        code, out, events = finished(proc, journal)
    finally:
        switch.unlink()
    assert code == 3, out
    assert "kill switch" in next(e for e in events if e["event"] == "abort")["summary"]
    rollbacks = [(e["title"], e["status"]) for e in events if e["event"] == "rollback"]
    assert rollbacks == [("auto: clear the network faults between the services and redis", "done")]
    assert proxy_api(stack).toxics("redis") == []

"""``aqua gameday run`` end to end on one real full stack (``--faults --gameday-alerts``,
seeded): PostgreSQL, Redis, Kafka, two API replicas behind nginx, Prometheus evaluating the
shipped rules with shortened timings, Alertmanager, the open-model load engine.

Each shipped scenario runs once: the fault lands (the SLI leaves its objective), the alert
fires at Alertmanager, the runbook resolves, the SLI recovers; the JSON matches its schema.
A runbook that skips its fix step makes the same scenario fail (exit 1), and without --yes
nothing is injected (exit 3). The tests run in file order on the one stack; each waits until
the alert of the one before has resolved.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_runner import run_aqua
from gameday_variants import STACK_RESTART, scenario_without_fix
from infra_harness import require
from json_schema import assert_matches_schema
from polling import wait_for
from stack.stack_harness import Stack, make_stack, require_full_stack

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("gameday-stack")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from sre_cli.loadtest.native import engine_binary

    require_full_stack()
    require(engine_binary)
    for s in make_stack(tmp_path_factory.mktemp("gameday")):
        s.up("--faults", "--gameday-alerts")
        done = run_aqua(
            "stack", "seed", "--farms", "1", "--ponds", "2", "--hours", "48",
            "--state-dir", str(s.state_dir), timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        yield s


def alertmanager(stack: Stack) -> str:
    return next(str(c["url"]) for c in stack.plan()["components"] if c["kind"] == "alertmanager")


def wait_resolved(stack: Stack, alert: str, timeout: float = 120) -> None:
    """Until ``alert`` is no longer active at the stack's Alertmanager."""
    deadline = time.monotonic() + timeout
    url = f"{alertmanager(stack)}/api/v2/alerts"
    while True:
        active = httpx.get(url, params={"filter": f'alertname="{alert}"'}, timeout=10).json()
        if not [a for a in active if a["status"]["state"] == "active"]:
            return
        assert time.monotonic() < deadline, f"{alert} still active: {active}"
        time.sleep(1)


def gameday(
    stack: Stack, scenario: str, *args: str, timeout: float = 900
) -> tuple[int, str, dict[str, Any]]:
    """``aqua gameday run SCENARIO --format json``: exit code, stderr, the JSON."""
    journal = stack.state_dir.parent / f"gameday-{os.urandom(4).hex()}.jsonl"
    where = ("--state-dir", str(stack.state_dir), "--journal", str(journal))
    done = run_aqua("gameday", "run", scenario, *where, "--format", "json", *args, timeout=timeout)
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    if report:
        assert_matches_schema("gameday-run", report)
    return done.returncode, done.stderr, report


def steps(report: dict[str, Any]) -> dict[str, str]:
    return {s["title"]: s["status"] for s in report["runbook"]["steps"]}


def assert_passed(code: int, err: str, report: dict[str, Any], alert: str) -> None:
    assert code == 0, (err, json.dumps(report, indent=1))
    assert report["verdict"] == "pass"
    assert report["fault"]["landed"], report["fault"]
    assert report["alert"]["name"] == alert
    mttd, mttr = report["alert"]["mttd_s"], report["recovery"]["mttr_s"]
    assert mttd is not None
    assert mttd > 0
    assert mttr is not None
    assert mttr > 0
    assert report["runbook"]["outcome"] == "resolved"
    assert Path(report["runbook"]["journal"]).is_file()
    assert report["requests"]["total"] > 0


def test_without_yes_nothing_is_injected(stack: Stack) -> None:
    code, err, report = gameday(stack, "outage")
    assert code == 3, err
    assert "destructive and runs only with --yes" in " ".join(err.split())
    assert report["fault"]["injected_at"] is None
    assert report["runbook"]["outcome"] == "not-run"
    assert all(c["ready"] for n, c in stack.status().items() if n.startswith("api-"))


def test_outage_is_detected_fixed_and_measured(stack: Stack) -> None:
    code, err, report = gameday(stack, "outage", "--yes")
    assert_passed(code, err, report, "APIDown")
    assert "alert timings: shortened game-day alert timings" in " ".join(err.split())
    assert "api-1 stopped" in report["fault"]["evidence"]
    assert steps(report)["restart api-* (only those not ready)"] == "done"
    # while every replica was down users' requests failed, and that spent budget
    assert report["requests"]["failed"] > 0
    assert report["budget_spent"] > 0
    assert report["recovery"]["sli_before"] < 0.01
    assert all(c["ready"] for n, c in stack.status().items() if n.startswith("api-"))


def failed_without_fix(stack: Stack, name: str, wait: str) -> dict[str, Any]:
    """Game day ``name`` with its runbook's fix taken out: the fault landed and the alert
    fired (they did their part), the runbook's wait failed, nothing recovered, exit 1."""
    scenario = scenario_without_fix(stack.state_dir.parent, name, STACK_RESTART, wait)
    code, err, report = gameday(stack, str(scenario), "--yes")
    assert code == 1, (err, json.dumps(report, indent=1))
    assert report["verdict"] == "fail"
    assert report["fault"]["landed"]
    assert report["alert"]["fired_at"] is not None
    assert report["runbook"]["outcome"] == "check-failed"
    assert report["recovery"]["recovered_at"] is None
    book = report["runbook"]["name"]
    assert book.endswith("-no-fix"), book
    assert f"runbook {book} ended check-failed" in err
    return report


def test_a_runbook_that_skips_its_fix_fails_the_game_day(stack: Stack) -> None:
    wait_resolved(stack, "APIDown")
    failed_without_fix(stack, "outage", "timeout: 90s")
    # the rollbacks, a safety net, started the replicas again
    stack.wait(lambda st: all(c["ready"] for n, c in st.items() if n.startswith("api-")), 90, "api")
    wait_entry_forwards(stack)


def wait_entry_forwards(stack: Stack, timeout: float = 90) -> None:
    """Until nginx forwards to the API again: after every replica failed it keeps them out of
    rotation for a while and answers 502 itself, though the replicas are ready."""
    entry = str(stack.plan()["entry_url"])

    def forwards() -> bool:  # the API's own answer: a 4xx for the empty form
        return httpx.post(f"{entry}/api/v1/auth/token", data={}, timeout=30).status_code < 500

    wait_for(forwards, "nginx to forward to the API again", timeout, every=1)


def test_database_outage_pages_the_dba_team_and_is_fixed(stack: Stack) -> None:
    code, err, report = gameday(stack, "database-outage", "--yes")
    assert_passed(code, err, report, "PostgresDown")
    assert "postgres stopped" in report["fault"]["evidence"]
    assert steps(report)["start postgres"] == "done"
    assert report["requests"]["failed"] > 0
    assert stack.status()["postgres"]["ready"]


# The runbook's last check may wait 7 minutes for the 5-minute latency SLI to clear.
@pytest.mark.timeout(1200)
def test_latency_spike_is_cleared_by_its_runbook(stack: Stack) -> None:
    code, err, report = gameday(stack, "latency-spike", "--yes", timeout=1100)
    assert_passed(code, err, report, "HighLatency")
    assert steps(report)["clear every injected API fault"] == "done"
    assert report["recovery"]["sli_before"] < 0.5
    assert report["recovery"]["sli_after"] < 0.5


def test_memory_leak_is_restarted_away(stack: Stack) -> None:
    code, err, report = gameday(stack, "memory-leak", "--yes")
    assert_passed(code, err, report, "MemoryNearLimit")
    assert "> 0.95" in report["fault"]["evidence"] or "all 1 series" in report["fault"]["evidence"]
    assert steps(report)["restart api-*"] == "done"
    assert report["recovery"]["sli_after"] < 0.9


def test_bad_deploy_is_rolled_back(stack: Stack) -> None:
    code, err, report = gameday(stack, "bad-deploy", "--yes")
    assert_passed(code, err, report, "DeploymentRolloutStuck")
    assert "released revision 2 (AQUA_DB_POOL_SIZE=0)" in report["fault"]["evidence"]
    assert "api-1 not ready on revision 2" in report["fault"]["evidence"]  # the rollout stuck
    assert steps(report)["roll back the release of api-*"] == "done"
    releases = json.loads((stack.state_dir / "releases.json").read_text())["api"]
    assert [r["env"] for r in releases] == [{}, {"AQUA_DB_POOL_SIZE": "0"}, {}]
    assert all(c["ready"] for n, c in stack.status().items() if n.startswith("api-"))


# When the backlog's oldest readings waited more than 60 s before the workers stored them (a
# loaded machine: the burst, the alert and the worker's start take longer), the runbook's last
# check rightly waits until the freshness SLI's 5-minute window is clean again: 10 minutes.
@pytest.mark.timeout(1200)
def test_kafka_lag_with_the_workers_gone_is_seen_at_the_broker_and_drained(stack: Stack) -> None:
    code, err, report = gameday(stack, "kafka-lag", "--yes", timeout=1100)
    assert_passed(code, err, report, "KafkaConsumerLagHigh")
    assert "worker-1 stopped" in report["fault"]["evidence"]
    # the backlog came through the API's own ingestion endpoint, one Kafka message a batch
    assert "1100 batches of readings accepted by the API" in report["fault"]["evidence"]
    # the workers were gone, so the lag the alert saw was read at the broker
    assert steps(report)["restart kafka, worker-* (only those not ready)"] == "done"
    assert report["recovery"]["sli_before"] < 100
    assert report["recovery"]["sli_after"] < 100
    assert all(c["ready"] for n, c in stack.status().items() if n.startswith("worker-"))


def test_a_kafka_lag_runbook_that_does_not_start_the_workers_fails(stack: Stack) -> None:
    wait_resolved(stack, "KafkaConsumerLagHigh")
    report = failed_without_fix(stack, "kafka-lag", "timeout: 120s")
    assert "worker-1 stopped" in report["fault"]["evidence"]
    assert "restart kafka, worker-* (only those not ready)" not in steps(report)
    # the rollbacks, a safety net, started the workers again, and they drain the backlog
    stack.wait(
        lambda st: all(c["ready"] for n, c in st.items() if n.startswith("worker-")), 90, "worker"
    )
    wait_resolved(stack, "KafkaConsumerLagHigh")

"""`aqua stack up --lite` on a machine with none of the servers installed.

The binary lookup is pointed at an empty directory (``AQUA_STACK_BIN_PATH``), so the stack
sees no PostgreSQL, Redis, Kafka, nginx, Prometheus or Alertmanager and runs what it can:
the ML service, the API replicas on SQLite with an in-process queue, and the stack agent.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stack.stack_harness import Stack, make_stack, stack_pids

from sre_cli.stack.state import pid_alive

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("lite")
    empty = tmp / "empty-bin"
    empty.mkdir()
    yield from make_stack(tmp, {"AQUA_STACK_BIN_PATH": str(empty)})


@pytest.fixture(scope="module")
def lite_up(lite: Stack) -> tuple[Stack, str]:
    done = lite.up("--lite", "--api-replicas", "2")
    return lite, done.stdout


def test_lite_comes_up_without_any_server_and_says_what_is_degraded(
    lite_up: tuple[Stack, str],
) -> None:
    stack, out = lite_up
    status = stack.status()
    assert set(status) == {"ml", "api-1", "api-2", "agent"}  # --api-replicas 2: no nginx here
    for name, c in status.items():
        assert c["live"], name
        assert c["ready"], name
        assert c["pid"], name
        assert set(c) == {"name", "pid", "port", "url", "live", "ready", "restarts", "uptime_s"}
    for word in (
        "SQLite",
        "Redis",
        "in-process",
        "nginx is not installed",
        "Prometheus is not installed",
    ):
        assert word in " ".join(out.split()), out
    plan = stack.plan()
    assert plan["lite"]
    assert plan["queue"] == "embedded"
    assert all(pid_alive(c["pid"]) for c in status.values())


def test_up_again_while_up_says_so(lite_up: tuple[Stack, str]) -> None:
    stack, _ = lite_up
    pids = {n: c["pid"] for n, c in stack.status().items()}
    done = stack.up("--lite", "--api-replicas", "2")
    assert "already up" in done.stdout
    assert {n: c["pid"] for n, c in stack.status().items()} == pids


def test_lite_api_serves_with_the_stacks_own_admin(lite_up: tuple[Stack, str]) -> None:
    stack, _ = lite_up
    secrets = json.loads((stack.state_dir / "secrets.json").read_text())
    base = f"http://127.0.0.1:{stack.base + 10}"
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": "admin", "password": "admin"})
    assert r.status_code == 401  # no default password
    r = httpx.post(
        f"{base}/api/v1/auth/token",
        data={"username": secrets["admin_username"], "password": secrets["admin_password"]},
    )
    assert r.status_code == 200, r.text


def test_status_json_reflects_kill(lite_up: tuple[Stack, str]) -> None:
    stack, _ = lite_up
    before = stack.status()["api-2"]
    stack.aqua("kill", "api-2")
    # Right after the kill the old process is gone: status never shows it alive.
    after = stack.status()["api-2"]
    assert after["pid"] != before["pid"]
    assert not pid_alive(before["pid"])
    restarted = stack.wait(
        lambda s: s["api-2"]["ready"] and s["api-2"]["restarts"] == before["restarts"] + 1,
        60,
        "api-2 to be restarted",
    )["api-2"]
    assert restarted["pid"] not in (None, before["pid"])
    assert restarted["uptime_s"] < before["uptime_s"] + 60
    assert "api-2" in stack.aqua("logs", "supervisor").stdout


def test_stopped_on_purpose_stays_down_until_started(lite_up: tuple[Stack, str]) -> None:
    stack, _ = lite_up
    restarts = stack.status()["api-2"]["restarts"]
    stack.aqua("stop", "api-2")
    # Stays down: checked again and again for longer than the first restart backoff.
    until = time.monotonic() + 2.0
    while time.monotonic() < until:
        down = stack.status()["api-2"]
        assert (down["pid"], down["live"], down["ready"]) == (None, False, False), down
    assert stack.state()["components"]["api-2"]["desired"] == "down"
    stack.aqua("start", "api-2")
    up = stack.wait(lambda s: s["api-2"]["ready"], 60, "api-2 to start")["api-2"]
    assert up["restarts"] == restarts + 1


def test_seed_through_the_lite_api(lite_up: tuple[Stack, str]) -> None:
    stack, _ = lite_up
    done = stack.aqua("seed", "--farms", "1", "--ponds", "2", "--traffic", "2", "--rate", "5")
    text = " ".join(done.stdout.split())
    assert "seeded 1 farms, 2 ponds, 288 readings (service.ml.simulator)" in text
    assert "failures: 0" in text
    again = stack.aqua("seed", "--farms", "1", "--ponds", "2")  # idempotent
    assert "1 farms, 2 ponds" in again.stdout


def test_unknown_component_is_a_usage_error(lite_up: tuple[Stack, str]) -> None:
    stack, _ = lite_up
    done = stack.aqua("kill", "nope", check=False)
    assert done.returncode == 2
    assert "no component named 'nope'" in done.stderr
    done = stack.aqua("stop", "postgres", check=False)
    assert done.returncode == 2


def test_zz_down_leaves_no_process_behind(lite_up: tuple[Stack, str]) -> None:
    stack, _ = lite_up
    pids = [c["pid"] for c in stack.status().values()]
    supervisor = stack.state()["supervisor_pid"]
    assert stack_pids(stack.state_dir)
    stack.aqua("down")
    assert stack_pids(stack.state_dir, pids) == []
    for pid in [*pids, supervisor]:
        assert (
            not os.path.exists(f"/proc/{pid}")
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        )
    status = stack.status()
    assert not any(c["live"] or c["pid"] for c in status.values())


def test_taken_port_fails_fast_naming_port_and_component(
    tmp_path: Path, empty_bin_dir: Path
) -> None:
    import socket

    from stack.stack_harness import reserve_port_base

    reserved = reserve_port_base()
    stack = Stack(tmp_path / "s", reserved.base, {"AQUA_STACK_BIN_PATH": str(empty_bin_dir)})
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", reserved.base + 22))
            squatter.listen()
            started = time.monotonic()
            done = stack.aqua("up", "--lite", "--port-base", str(reserved.base), check=False)
        assert done.returncode == 2
        assert time.monotonic() - started < 15
        message = " ".join(done.stderr.split())
        assert f"port {reserved.base + 22} for agent is already in use" in message
        assert not (stack.state_dir / "supervisor.pid").exists()
        assert stack_pids(stack.state_dir) == []
    finally:
        stack.down()
        reserved.release()

"""What the stack agent exports about usage: /proc of real processes, a real PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from infra_harness import require_binary

from sre_cli.infra import binaries
from sre_cli.infra.postgres import PostgresServer
from sre_cli.stack.usage import KUBERNETES_LIMITS, postgres_activity, process_usage

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = {"api": "api-service.yaml", "ml": "ml-service.yaml", "worker": "worker.yaml"}
UNITS = {"Mi": 1024**2, "Gi": 1024**3}


def _quantity(text: str) -> float:
    for suffix, factor in UNITS.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    return float(text)


@pytest.mark.parametrize("kind", sorted(DEPLOYMENTS))
def test_the_stack_limits_are_the_deployments_limits(kind: str) -> None:
    docs = yaml.safe_load_all((ROOT / "manifests" / "base" / DEPLOYMENTS[kind]).read_text())
    deployment = next(d for d in docs if d and d.get("kind") == "Deployment")
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    memory, cpu = KUBERNETES_LIMITS[kind]
    assert (memory, cpu) == (_quantity(str(limits["memory"])), _quantity(str(limits["cpu"])))


def test_process_usage_sees_memory_grow_and_cpu_burn() -> None:
    code = (
        "import sys,time\n"
        "sys.stdout.write('a\\n'); sys.stdout.flush(); sys.stdin.readline()\n"
        "blob = bytearray(64 * 1024 * 1024)\n"
        "end = time.process_time() + 0.3\n"
        "while time.process_time() < end: pass\n"
        "sys.stdout.write('b\\n'); sys.stdout.flush(); sys.stdin.readline()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        assert proc.stdout.readline() == "a\n"
        before = process_usage(proc.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "b\n"
        after = process_usage(proc.pid)
        assert before is not None
        assert after is not None
        assert after.rss_bytes - before.rss_bytes > 60 * 1024 * 1024
        assert after.cpu_seconds - before.cpu_seconds >= 0.25
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert process_usage(proc.pid) is None


@pytest.mark.integration
def test_postgres_activity_counts_sessions_and_a_slow_query(
    postgres_server: PostgresServer,
) -> None:
    psql = binaries.find("psql")
    password = postgres_server.password
    assert postgres_activity(psql, postgres_server.port) is None  # no password: refused
    quiet = postgres_activity(psql, postgres_server.port, password=password)
    assert quiet is not None
    assert quiet.max_connections == int(postgres_server.psql("show max_connections"))
    slow = threading.Thread(target=postgres_server.psql, args=("select pg_sleep(4)",))
    slow.start()
    try:
        seen = None
        for _ in range(200):  # poll until the sleeping session has run for over a second
            seen = postgres_activity(psql, postgres_server.port, password=password)
            assert seen is not None
            if seen.count.get("active", 0) >= 1 and seen.max_tx_duration.get("active", 0) > 1:
                break
            threading.Event().wait(0.05)
        assert seen is not None
        assert seen.count.get("active", 0) >= 1
        assert seen.max_tx_duration["active"] > 1
    finally:
        slow.join(timeout=60)


def test_postgres_activity_is_none_when_nothing_listens() -> None:
    psql = require_binary("psql")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: the connection is refused
        assert postgres_activity(psql, port, timeout=2) is None


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


@pytest.mark.integration
def test_the_agent_exports_usage_limits_and_postgres_sessions(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    import time

    from stack.fake_env import FakeEnv

    from sre_cli.stack.agent import Agent
    from sre_cli.stack.plan import StackOptions, build_plan
    from sre_cli.stack.spec import Ports, StateLayout
    from sre_cli.stack.state import (
        ComponentState,
        StackState,
        atomic_write,
        load_or_create_secrets,
    )

    layout = StateLayout(tmp_path)
    layout.create()
    ports = Ports.from_base(23000).model_copy(update={"postgres": postgres_server.port})
    plan = build_plan(StackOptions(ports=ports), FakeEnv(), layout)
    atomic_write(layout.plan_file, plan.model_dump_json())
    api = next(c for c in plan.components if c.kind == "api")
    me = ComponentState(name=api.name, port=api.port, pid=os.getpid())
    state = StackState(
        supervisor_pid=os.getpid(),
        stack_id="t",
        started_at=time.time(),
        components={api.name: me},
    )
    atomic_write(layout.state_file, state.model_dump_json())
    # The agent reads pg_* as the stack's monitoring role, with its password.
    postgres_server.provision(load_or_create_secrets(layout.secrets_file).database_roles())
    samples = _samples(Agent(layout).metrics())
    labels = f'{{component="{api.name}",kind="api"}}'
    assert samples[f"aqua_stack_component_memory_bytes{labels}"] > 10 * 1024 * 1024
    assert samples[f"aqua_stack_component_cpu_seconds_total{labels}"] > 0
    assert samples[f"aqua_stack_component_memory_limit_bytes{labels}"] == 512 * 1024 * 1024
    assert samples[f"aqua_stack_component_cpu_limit_cores{labels}"] == 0.5
    assert samples["pg_up"] == 1
    assert samples["pg_settings_max_connections"] == float(
        postgres_server.psql("show max_connections")
    )

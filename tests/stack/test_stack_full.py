"""The whole stack on real servers: PostgreSQL, Redis, Kafka, ML, API replicas behind nginx,
Prometheus and Alertmanager, supervised; its failure handling under load; its monitoring live."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from json_schema import assert_matches_schema
from stack.stack_harness import Stack, make_stack, require_full_stack, stack_pids

from sre_cli.stack.configs import monitoring_dir
from sre_cli.stack.state import pid_alive

pytestmark = pytest.mark.integration

#: metric families only a worker exports; their panels need a worker in the stack.
WORKER_METRICS = (
    "worker_",
    "pipeline_end_to_end",
    "aqua_pond_crash_risk",
    "sli:worker",
    "sli:pipeline",
)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_full_stack()
    yield from make_stack(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def stack(full: Stack) -> Stack:
    full.up("--api-replicas", "2")
    return full


def _poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.2)


def _prom(stack: Stack, query: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{stack.base + 20}/api/v1/query?" + urllib.parse.urlencode(
        {"query": query}
    )
    body = httpx.get(url, timeout=10).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_all_components_ready_in_dependency_order(stack: Stack) -> None:
    status = stack.status()
    expected = {
        "postgres",
        "redis",
        "kafka",
        "ml",
        "api-1",
        "api-2",
        "nginx",
        "agent",
        "alertmanager",
        "prometheus",
        "jaeger",
    }
    assert expected <= set(status)
    assert all(
        c["live"] and c["ready"] and c["pid"] and c["restarts"] == 0 for c in status.values()
    ), status
    state = stack.state()["components"]
    ready = {n: c["ready_at"] for n, c in state.items()}
    started = {n: c["started_at"] for n, c in state.items()}
    plan = {c["name"]: c for c in stack.plan()["components"]}
    for name, comp in plan.items():
        for dep in comp["depends_on"]:
            assert ready[dep] <= started[name], f"{name} started before {dep} was ready"
    for name in ("postgres", "kafka", "nginx", "api-1"):  # server logs are linked in logs/
        assert stack.aqua("logs", name, "-n", "5").stdout.strip(), name
    if not any(c["name"].startswith("worker") for c in plan.values()):
        assert any(n["name"].startswith("worker") for n in stack.plan()["not_available"])


def test_a_taken_port_is_a_clear_error_naming_port_and_component(
    stack: Stack, tmp_path: Path
) -> None:
    # A second stack on the first one's ports: refused at once, nothing started.
    other = Stack(tmp_path / "other", stack.base)
    done = other.aqua("up", "--port-base", str(stack.base), check=False)
    assert done.returncode == 2
    assert f"port {stack.base}" in done.stderr or "already in use" in done.stderr, done.stderr
    assert "already in use" in done.stderr
    assert not (other.state_dir / "state.json").exists()


def test_kill_an_api_replica_under_load_no_request_fails(stack: Stack) -> None:
    base = f"http://127.0.0.1:{stack.base}"  # nginx
    token = stack.admin_token(base)
    before = stack.status()["api-1"]
    results: Counter[str] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as c:
            while not stop.is_set():
                try:
                    code = str(c.get("/api/v1/farms").status_code)
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                with lock:
                    results[code] += 1

    def sent() -> int:
        with lock:
            return sum(results.values())

    def served_by_new_api_1() -> bool:
        metrics = httpx.get(f"http://127.0.0.1:{status['api-1']['port']}/metrics", timeout=10)
        return 'route="/api/v1/farms",status="200"' in metrics.text

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        _poll(lambda: sent() >= 100, 60, "load through nginx before the kill")
        stack.aqua("kill", "api-1")
        status = stack.wait(
            lambda s: s["api-1"]["ready"] and s["api-1"]["pid"] != before["pid"], 90, "api-1 back"
        )
        _poll(served_by_new_api_1, 60, "traffic reaches the new api-1")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    total = sum(results.values())
    assert results["200"] == total, f"failed requests through nginx: {results}"
    assert status["api-1"]["restarts"] == before["restarts"] + 1
    assert "api-1: killed by SIGKILL; restarting" in stack.aqua("logs", "supervisor").stdout


def test_status_json_reflects_reality_after_kill(stack: Stack) -> None:
    before = stack.status()["redis"]
    stack.aqua("kill", "redis")
    now = stack.status()["redis"]
    assert now["pid"] != before["pid"]  # never the dead process
    assert not pid_alive(before["pid"])
    after = stack.wait(lambda s: s["redis"]["ready"], 60, "redis restarted")["redis"]
    assert after["restarts"] == before["restarts"] + 1
    assert after["pid"] not in (None, before["pid"])
    assert after["uptime_s"] is not None
    assert after["uptime_s"] < 60


def test_prometheus_scrapes_every_component(stack: Stack) -> None:
    plan = stack.plan()
    deadline = time.monotonic() + 30
    while True:
        up = {
            (r["metric"]["job"], r["metric"]["instance"]): r["value"][1] for r in _prom(stack, "up")
        }
        probed = {
            r["metric"]["component"]: r["value"][1] for r in _prom(stack, "aqua_stack_component_up")
        }
        if all(v == "1" for v in up.values()) and all(
            probed.get(c["name"]) == "1" for c in plan["components"]
        ):
            break
        assert time.monotonic() < deadline, (up, probed)
        time.sleep(1)
    jobs = {job for job, _ in up}
    assert {"api", "ml", "stack", "alertmanager", "prometheus"} <= jobs
    assert sum(1 for job, _ in up if job == "api") == 2


def test_infrastructure_refuses_unauthenticated_callers(stack: Stack) -> None:
    port = {c["kind"]: c["port"] for c in stack.plan()["components"]}
    with socket.create_connection(("127.0.0.1", port["redis"]), timeout=10) as sock:
        sock.sendall(b"CONFIG GET requirepass\r\n")
        assert sock.recv(256).startswith(b"-NOAUTH")
    prometheus = f"http://127.0.0.1:{port['prometheus']}"
    r = httpx.post(
        f"{prometheus}/api/v1/admin/tsdb/delete_series", params={"match[]": "up"}, timeout=10
    )
    assert r.status_code >= 400, r.text
    assert httpx.post(f"{prometheus}/-/quit", timeout=10).status_code >= 400
    r = httpx.post(f"http://127.0.0.1:{port['ml']}/v1/forecast", json={"ponds": []}, timeout=10)
    assert r.status_code == 401
    for secret in (stack.state_dir / "secrets").iterdir():
        assert secret.stat().st_mode & 0o777 == 0o600, secret
    assert (stack.state_dir / "secrets.json").stat().st_mode & 0o777 == 0o600


def _psql(
    port: int, user: str, sql: str, password: str | None, host: str = "127.0.0.1"
) -> subprocess.CompletedProcess[str]:
    from sre_cli.infra import binaries

    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGCONNECT_TIMEOUT="5", PGPASSFILE=os.devnull)
    if password is not None:
        env["PGPASSWORD"] = password
    argv = [str(binaries.find("psql")), "-XAtqw", "-v", "ON_ERROR_STOP=1", "-h", host]
    argv += ["-p", str(port), "-U", user, "-d", "aqua", "-c", sql]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)


def test_postgres_wants_passwords_and_the_app_role_cannot_change_the_schema(stack: Stack) -> None:
    from sre_cli.stack.state import load_or_create_secrets

    port = next(c["port"] for c in stack.plan()["components"] if c["kind"] == "postgres")
    secrets = load_or_create_secrets(stack.state_dir / "secrets.json")
    for user in ("aqua", "aqua_app", "aqua_owner", "aqua_monitor", "postgres"):
        refused = _psql(port, user, "select 1", None)
        assert refused.returncode != 0, user
    app = secrets.postgres_app_password
    # The API serves as the app role: it reads the tables the owner migrated...
    assert _psql(port, "aqua_app", "select count(*) from users", app).returncode == 0
    for sql in ("create table intruder (x int)", "drop table users", "truncate users"):
        done = _psql(port, "aqua_app", sql, app)
        assert done.returncode != 0, sql
        assert "permission denied" in done.stderr or "must be owner" in done.stderr, done.stderr
    owners = _psql(
        port,
        "aqua_app",
        "select distinct tableowner from pg_tables where schemaname = 'public'",
        app,
    )
    assert owners.stdout.split() == ["aqua_owner"], owners
    # ...and the agent reads pg_* as the monitoring role.
    agent = next(c["port"] for c in stack.plan()["components"] if c["kind"] == "agent")
    metrics = httpx.get(f"http://127.0.0.1:{agent}/metrics", timeout=10).text
    assert "\npg_up 1\n" in metrics


def test_prometheus_and_alertmanager_through_nginx_want_the_password(stack: Stack) -> None:
    nginx = next(c["url"] for c in stack.plan()["components"] if c["kind"] == "nginx")
    password = (stack.state_dir / "secrets" / "monitoring_password").read_text()
    for path in ("/prometheus/api/v1/query?query=up", "/alertmanager/api/v2/silences"):
        assert httpx.get(nginx + path, timeout=10).status_code == 401
        assert httpx.get(nginx + path, auth=("aqua", password), timeout=10).status_code == 200


def test_seed_then_every_dashboard_panel_has_data(stack: Stack) -> None:
    done = stack.aqua("seed", "--traffic", "15", "--rate", "10", timeout=300)
    assert "failures: 0" in " ".join(done.stdout.split()), done.stdout
    has_worker = any(c["kind"] == "worker" for c in stack.plan()["components"])
    pending: dict[str, str] = {}
    for path in sorted((monitoring_dir() / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for t in panel["targets"]:
                if not has_worker and any(m in t["expr"] for m in WORKER_METRICS):
                    continue  # no worker in this stack: its panels cannot have data
                pending[f"{path.stem}: {panel['title']} [{t['refId']}]"] = t["expr"]
    deadline = time.monotonic() + 90
    while pending and time.monotonic() < deadline:
        for key, expr in list(pending.items()):
            if _prom(stack, expr):
                del pending[key]
        if pending:
            time.sleep(1)
    assert not pending, f"panels without data: {json.dumps(pending, indent=1)}"


def test_alertmanager_delivers_to_the_stack_receiver(stack: Stack) -> None:
    am = f"http://127.0.0.1:{stack.base + 21}"
    alert = [
        {
            "labels": {"alertname": "AquaStackReceiverTest", "severity": "ticket", "job": "test"},
            "annotations": {"summary": "receiver check"},
        }
    ]
    assert httpx.post(f"{am}/api/v2/alerts", json=alert, timeout=10).status_code == 200
    deadline = time.monotonic() + 60
    while True:
        report = json.loads(stack.aqua("alerts", "--json").stdout)
        assert_matches_schema("stack-alerts", report)
        names = {a["name"] for a in report["received"]}
        if "AquaStackReceiverTest" in names:
            break
        assert time.monotonic() < deadline, report
        time.sleep(1)
    assert "AquaStackReceiverTest" in {a["name"] for a in report["active"]}
    metrics = httpx.get(f"http://127.0.0.1:{stack.base + 22}/metrics", timeout=10).text
    assert 'aqua_stack_alert_notifications_total{status="firing"}' in metrics


def test_zz_down_stops_everything_in_reverse_order(stack: Stack) -> None:
    pids = {n: c["pid"] for n, c in stack.status().items()}
    stack.aqua("down")
    assert stack_pids(stack.state_dir, [*pids.values()]) == []
    for name, pid in pids.items():
        alive = (
            os.path.exists(f"/proc/{pid}")
            and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
        )
        assert not alive, f"{name} (pid {pid}) is still running"
    log = stack.aqua("logs", "supervisor").stdout
    assert "stack up in" in log


def test_zzz_warm_up_again_then_supervisor_killed_hard_down_sweeps(stack: Stack) -> None:
    # Warm: the databases from the first `up` are reused; then the supervisor dies by SIGKILL.
    stack.up("--api-replicas", "2")
    st = stack.state()
    pids = {n: c["pid"] for n, c in st["components"].items()}
    os.kill(st["supervisor_pid"], 9)
    status = stack.wait(lambda s: not s["api-1"]["pid"], 30, "api-1 gone with its supervisor")
    orphaned = {n for n, c in status.items() if c["pid"]}
    # Python services die with their supervisor thread; servers outlive it and status says so.
    assert "postgres" in orphaned
    assert "api-1" not in orphaned
    out = " ".join(stack.aqua("status").stdout.split())
    assert "orphaned" in out
    assert "aqua stack down" in out
    done = stack.aqua("down")
    assert "stopped leftover processes" in done.stdout
    assert stack_pids(stack.state_dir, [*pids.values()]) == []

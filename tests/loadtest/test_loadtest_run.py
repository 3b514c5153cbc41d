"""``aqua loadtest run`` against a real API: a lite stack (SQLite, no servers) on loopback.

The command always runs as a subprocess (``python -m sre_cli loadtest run``): importing
locust monkey-patches the standard library with gevent, which must never happen inside the
pytest process. The stack's API counts every request in ``http_requests_total``; the tests
read it to prove what was (and was not) sent. Target and credentials come from the stack's
state dir, as an operator would use the command.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_runner import run_aqua
from infra_harness import require
from json_schema import assert_matches_schema
from stack.stack_harness import Stack, make_stack

pytestmark = pytest.mark.integration

RESULT_KEYS = {
    "target",
    "users",
    "duration_s",
    "requests",
    "failures",
    "rps",
    "error_rate",
    "latency_ms",
    "by_endpoint",
    "setup",
    "thresholds",
    "verdict",
    "model",
    "intended_rps",
    "achieved_rps",
    "service_time_ms",
    "server",
    "workers",
    "notes",
}


def loadtest(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_aqua("loadtest", "run", *args, timeout=timeout)


@dataclass
class Target:
    stack: Stack
    api_url: str
    empty_run: subprocess.CompletedProcess[str]
    requests_before_seed: float

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return loadtest("--state-dir", str(self.stack.state_dir), *args)

    def api_requests(self) -> float:
        """Users' requests (``/api/...`` routes) the API has answered so far."""
        total = 0.0
        for line in httpx.get(f"{self.api_url}/metrics", timeout=10).text.splitlines():
            if line.startswith("http_requests_total{") and 'route="/api/' in line:
                total += float(line.rpartition(" ")[2])
        return total


def seed_ponds(base: str, secrets: dict[str, Any], n: int = 3) -> None:
    form = {"username": secrets["admin_username"], "password": secrets["admin_password"]}
    token = httpx.post(f"{base}/api/v1/auth/token", data=form, timeout=30).json()
    h = {"Authorization": f"Bearer {token['access_token']}"}
    farm = httpx.post(f"{base}/api/v1/farms", json={"name": "load"}, headers=h, timeout=10)
    assert farm.status_code == 201, farm.text
    for i in range(n):
        body = {"farm_id": farm.json()["id"], "name": f"L{i}", "species": "nile_tilapia",
                "area_m2": 2000.0, "depth_m": 1.2, "stock_count": 10_000,
                "mean_weight_g": 250.0}  # fmt: skip
        r = httpx.post(f"{base}/api/v1/ponds", json=body, headers=h, timeout=10)
        assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A lite stack; a load test against it while it has no ponds; then three ponds."""
    tmp = tmp_path_factory.mktemp("loadtest")
    empty = tmp / "empty-bin"
    empty.mkdir()
    for stack in make_stack(tmp, {"AQUA_STACK_BIN_PATH": str(empty)}):
        stack.up("--lite", "--api-replicas", "1")
        api_url = stack.status()["api-1"]["url"]
        empty_run = loadtest("--state-dir", str(stack.state_dir), "--duration", "3s")
        t = Target(stack, api_url, empty_run, 0.0)
        t.requests_before_seed = t.api_requests()
        seed_ponds(api_url, json.loads((stack.state_dir / "secrets.json").read_text()))
        yield t


def test_no_ponds_is_exit_2_and_sends_no_load(target: Target) -> None:
    done = target.empty_run
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no ponds at" in done.stderr
    assert "nothing was sent" in done.stderr
    assert "Traceback" not in done.stderr
    # the pre-flight's login and pond list only: no scenario request reached the API
    assert target.requests_before_seed == 2


def test_reference_run_passes_generous_thresholds(target: Target) -> None:
    before = target.api_requests()
    done = target.run(
        "--users", "3", "--spawn-rate", "10", "--duration", "5s",
        "--p95-ms", "5000", "--max-error-rate", "0.2", "--min-rps", "0.5",
        "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert_matches_schema("loadtest-run", result)
    assert set(result) == RESULT_KEYS
    assert result["verdict"] == "pass"
    assert result["target"] == target.api_url
    assert result["users"] == 3
    assert 4.5 <= result["duration_s"] <= 8
    assert result["requests"] > 0
    assert result["failures"] == 0
    assert result["error_rate"] == 0
    assert result["rps"] > 0
    lat = result["latency_ms"]
    assert set(lat) == {"p50", "p95", "p99", "max"}
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    names = {(e["method"], e["name"]) for e in result["by_endpoint"]}
    assert ("GET", "/api/v1/ponds/{id}/summary") in names
    for e in result["by_endpoint"]:
        assert set(e) == {"name", "method", "requests", "failures", "p95_ms"}
    assert sum(e["requests"] for e in result["by_endpoint"]) == result["requests"]
    assert [s["name"] for s in result["setup"]] == ["/api/v1/auth/token"]
    assert result["setup"][0]["requests"] == 3  # one login per simulated user
    assert [t["name"] for t in result["thresholds"]] == ["p95_ms", "error_rate", "min_rps"]
    assert all(t["passed"] for t in result["thresholds"])
    # what the API counted: the run's requests, its logins and the pre-flight (login + list),
    # plus at most one request per user cut short when the run stopped
    sent = target.api_requests() - before
    assert result["requests"] + 3 + 2 <= sent <= result["requests"] + 3 + 2 + 3


def test_impossible_threshold_fails_with_exit_1_and_names_it(target: Target) -> None:
    done = target.run("--users", "2", "--duration", "3s", "--p95-ms", "0.001")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verdict: fail" in done.stdout
    assert "p95_ms" in done.stdout
    assert "FAIL" in done.stdout
    assert "threshold failed: p95_ms" in done.stderr
    assert "error_rate" not in done.stderr.split("threshold failed:", 1)[1]


def test_dry_run_prints_the_plan_and_sends_nothing(target: Target) -> None:
    before = target.api_requests()
    done = target.run("--dry-run", "--users", "7", "--duration", "2m", "--p95-ms", "250")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for word in (target.api_url, "7, spawned", "120 s", "reference as admin", "p95 ≤ 250 ms"):
        assert word in out, out
    assert "nothing is sent" in out
    as_json = target.run("--dry-run", "--format", "json")
    assert json.loads(as_json.stdout)["target"] == target.api_url
    assert target.api_requests() == before


def _outward_address() -> str | None:
    """This machine's address on a non-loopback interface (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, no packet leaves
        except OSError:
            return None
        address: str = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_non_loopback_target_is_refused_before_anything_is_sent() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("0.0.0.0", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    connections: list[Any] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        targets = ["http://example.com", "http://10.0.0.1:8000", "http://127.0.0.1@192.0.2.1/"]
        outward = _outward_address()
        if outward:
            targets.append(f"http://{outward}:{port}")
        for url in targets:
            done = loadtest("--target", url, "--dry-run")  # even a dry run refuses
            assert done.returncode == 2, done.stdout + done.stderr
            assert "only loopback targets" in done.stderr, done.stderr
            real = loadtest("--target", url, "--duration", "2s", "--username", "u",
                            "--password-file", __file__)  # fmt: skip
            assert real.returncode == 2, real.stdout + real.stderr
            assert "refusing to load" in real.stderr
            assert "Traceback" not in real.stderr
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert connections == []


def test_nothing_listening_is_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    from sre_cli.infra.process import free_port

    password = tmp_path / "password"
    password.write_text("not-used-at-all\n")
    url = f"http://127.0.0.1:{free_port()}"
    done = loadtest("--target", url, "--username", "admin", "--password-file", str(password),
                    "--duration", "2s")  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"nothing answers at {url}" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_locustfile_runs_its_own_users(target: Target, tmp_path: Path) -> None:
    locustfile = tmp_path / "probe_live.py"
    locustfile.write_text(
        "from locust import HttpUser, constant, task\n\n\n"
        "class Probe(HttpUser):\n"
        "    wait_time = constant(0.1)\n\n"
        "    @task\n"
        "    def live(self):\n"
        '        self.client.get("/live")\n'
    )
    done = target.run("--scenario", str(locustfile), "--users", "2", "--duration", "2s",
                      "--min-rps", "100000", "--format", "json")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert [(e["method"], e["name"]) for e in result["by_endpoint"]] == [("GET", "/live")]
    assert result["requests"] > 5
    assert [t["name"] for t in result["thresholds"] if not t["passed"]] == ["min_rps"]
    assert "threshold failed: min_rps" in done.stderr


def test_several_logins_are_created_once_and_reused(target: Target) -> None:
    from sre_cli.loadtest.native import engine_binary

    require(engine_binary)
    args = ("--logins", "3", "--arrival-rate", "20", "--duration", "3s",
            "--p95-ms", "100000", "--max-error-rate", "0.2", "--format", "json")  # fmt: skip
    first = target.run(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    kept = target.stack.state_dir / "loadtest-users.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    users = json.loads(kept.read_text())["users"]
    assert sorted(users) == ["load-01", "load-02", "load-03"]
    assert json.loads(first.stdout)["users"] == 3
    again = target.run(*args)  # the same users, logged in with the kept passwords
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(kept.read_text())["users"] == users
    admin = target.stack.admin_token(target.api_url)
    listed = httpx.get(f"{target.api_url}/api/v1/users", params={"limit": 100},
                       headers={"Authorization": f"Bearer {admin}"}, timeout=10)  # fmt: skip
    names = {u["username"]: u["role"] for u in listed.json()["items"]}
    assert {n: names.get(n) for n in users} == dict.fromkeys(users, "operator")
    dry = target.run("--logins", "3", "--arrival-rate", "20", "--dry-run", "--format", "json")
    assert json.loads(dry.stdout)["logins"] == ["admin"]  # a dry run creates and sends nothing


def test_workers_spread_the_users_over_processes_and_every_request_counts(
    target: Target,
) -> None:
    before = target.api_requests()
    done = target.run(
        "--users", "4", "--workers", "2", "--spawn-rate", "20", "--duration", "8s",
        "--p95-ms", "5000", "--max-error-rate", "0.2", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["verdict"] == "pass"
    assert result["users"] == 4
    # two worker processes each sent load, and the master merged every request they made
    workers = result["workers"]
    assert len(workers) == 2, workers
    assert min(workers) > 0, workers
    assert sum(workers) == result["requests"]
    assert result["setup"][0]["requests"] == 4  # one login per user, wherever it ran
    sent = target.api_requests() - before
    # the run's requests, 4 logins, the master's and each worker's pre-flight (login + list),
    # plus at most one request per user cut short when the run stopped
    assert result["requests"] + 4 + 6 <= sent <= result["requests"] + 4 + 6 + 4


def test_workers_are_the_closed_model_only(target: Target) -> None:
    done = target.run("--workers", "2", "--arrival-rate", "10", "--duration", "2s")
    assert done.returncode == 2
    assert "--workers spreads the closed model's users" in done.stderr

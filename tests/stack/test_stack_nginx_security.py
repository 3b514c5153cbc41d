"""The stack's nginx in front of a real API: client addresses it overwrites, headers it adds.

A password guesser rotating ``X-Forwarded-For`` and ``X-Real-IP`` through nginx is still one
client to the API (nginx overwrites both with the address it saw, and the API trusts only that
hop), so the per-IP login limit answers 429. The same rotation sent to the API directly from a
peer it does not trust is one client too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from infra_harness import require_binary
from stack.fake_env import FakeEnv

from sre_cli.infra.process import free_port
from sre_cli.stack.configs import nginx_http_body
from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import Ports, StateLayout

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PER_IP = 5


@pytest.fixture(scope="module")
def api_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    workdir = tmp_path_factory.mktemp("api")
    port = free_port()
    env = {
        **os.environ,
        "AQUA_HOST": "127.0.0.1",
        "AQUA_PORT": str(port),
        "AQUA_WORKERS": "1",
        "AQUA_ENVIRONMENT": "test",
        "AQUA_SQLITE_PATH": str(workdir / "api.sqlite3"),
        "AQUA_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'api.sqlite3'}",
        "AQUA_BOOTSTRAP_ADMIN_USERNAME": "admin",
        "AQUA_BOOTSTRAP_ADMIN_PASSWORD": "admin-password-for-tests",
        "AQUA_ARGON2_TIME_COST": "1",
        "AQUA_ARGON2_MEMORY_KIB": "64",
        "AQUA_ARGON2_PARALLELISM": "1",
        "AQUA_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "AQUA_LOGIN_LIMIT_PER_IP": str(PER_IP),
        "AQUA_LOGIN_LIMIT_PER_USER": "0",
        "AQUA_LOGIN_BACKOFF_BASE_SECONDS": "0",
        "AQUA_LOGIN_LIMIT_WINDOW_SECONDS": "3600",
        "AQUA_DRAIN_SECONDS": "0",
    }
    log = (workdir / "api.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.api", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (workdir / "api.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("the API did not get ready")
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def nginx_url(api_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_binary("nginx")
    from sre_cli.infra.nginx import NginxServer

    tmp = tmp_path_factory.mktemp("nginx")
    port = free_port()
    plan = build_plan(
        StackOptions(ports=Ports(nginx=port, api=api_port), api_replicas=1),
        FakeEnv(),
        StateLayout(tmp / "stack"),
    )
    with NginxServer(tmp / "nginx", lambda p: nginx_http_body(plan, p), port) as server:
        yield server.url


def _attempts(url: str, n: int, offset: int) -> list[int]:
    codes = []
    for i in range(n):
        r = httpx.post(
            f"{url}/api/v1/auth/token",
            data={"username": f"guess{offset + i}", "password": "wrong-password"},
            headers={"X-Forwarded-For": f"203.0.113.{offset + i}", "X-Real-IP": f"10.9.8.{i}"},
            timeout=30,
        )
        codes.append(r.status_code)
    return codes


def test_rotating_forwarded_for_through_nginx_is_limited(nginx_url: str) -> None:
    assert _attempts(nginx_url, PER_IP + 3, 0) == [401] * PER_IP + [429] * 3


def test_nginx_hides_its_version_and_adds_security_headers(nginx_url: str) -> None:
    r = httpx.get(f"{nginx_url}/api/v1/farms", timeout=30)
    assert r.status_code == 401
    assert r.headers["server"] == "nginx"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]

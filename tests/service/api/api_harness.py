"""Helpers of the API service tests: settings, a running app with per-role tokens, readings."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI

from service.api.app import create_app
from service.api.settings import ApiSettings

with warnings.catch_warnings():
    # starlette's test client nags about its httpx backend at import time.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
PASSWORDS = {"operator": "operator-password-1", "viewer": "viewer-password-12"}
# Tests log in as often as they like; the login limits' own tests switch them on.
NO_LOGIN_LIMITS = {
    "login_limit_per_user": 0,
    "login_limit_per_ip": 0,
    "login_backoff_base_seconds": 0,
}
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}
PROCESSED_READINGS = 'worker_messages_processed_total{topic="sensor-readings"}'


def metric(text: str, sample: str) -> float:
    """The value of one sample (``name{labels}``) of a Prometheus text page; 0 if absent."""
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return 0.0


def harness_fixture(request: pytest.FixtureRequest, name: str) -> Any:
    """A session server fixture of tests/conftest.py, requested only by the tests that need it
    (the fixture itself skips, or fails under CI, when its server is missing)."""
    return request.getfixturevalue(name)


def create_pg_database(server_url: str) -> str:
    """Create an empty database on the server; return its asyncpg SQLAlchemy URL."""
    import asyncpg

    name = f"api_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base, _, _ = server_url.rpartition("/")
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


def migrated(database_url: str) -> str:
    """Apply every migration to the database at ``database_url``; return the URL."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.data import migrate

    async def upgrade() -> None:
        engine = create_async_engine(database_url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(upgrade())
    return database_url


def settings_for(database_url: str, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "bootstrap_admin_username": ADMIN,
        "bootstrap_admin_password": ADMIN_PASSWORD,
        "configure_logging": False,
        "rate_limit_requests": 0,
        **NO_LOGIN_LIMITS,
        **CHEAP_ARGON2,
    }
    values.update(overrides)
    return ApiSettings(**values)


@dataclass
class Api:
    """A running app with a client and a token per role."""

    client: TestClient
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str = ADMIN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get_readings(self, pond_id: int, role: str = ADMIN, **params: Any) -> Any:
        """``GET /ponds/{pond_id}/readings`` with ``params``, as ``role``: the response."""
        return self.client.get(
            f"/api/v1/ponds/{pond_id}/readings", params=params, headers=self.auth(role)
        )

    def login(self, username: str, password: str) -> dict[str, Any]:
        r = self.client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def make_users(self) -> None:
        self.tokens[ADMIN] = self.login(ADMIN, ADMIN_PASSWORD)["access_token"]
        for role, password in PASSWORDS.items():
            r = self.client.post(
                "/api/v1/users",
                json={"username": role, "password": password, "role": role},
                headers=self.auth(),
            )
            assert r.status_code == 201, r.text
            self.tokens[role] = self.login(role, password)["access_token"]

    def add_organisation(self, name: str) -> dict[str, str]:
        """Another organisation with an admin, an operator and a viewer (``NAME-admin``, ...,
        each with the role's password of this module); their access tokens by role."""
        from service.api.organisations import add_organisation

        rt = self.app.state.runtime
        admin = f"{name}-admin"
        portal = self.client.portal
        assert portal is not None, "the client runs outside its context"
        portal.call(add_organisation, rt.db, rt.passwords, name, admin, ADMIN_PASSWORD)
        tokens = {ADMIN: self.login(admin, ADMIN_PASSWORD)["access_token"]}
        for role, password in PASSWORDS.items():
            r = self.client.post(
                "/api/v1/users",
                json={"username": f"{name}-{role}", "password": password, "role": role},
                headers={"Authorization": f"Bearer {tokens[ADMIN]}"},
            )
            assert r.status_code == 201, r.text
            tokens[role] = self.login(f"{name}-{role}", password)["access_token"]
        return tokens

    def farm(self, name: str = "North") -> int:
        r = self.client.post("/api/v1/farms", json={"name": name}, headers=self.auth("operator"))
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def pond(self, farm_id: int, name: str = "P1", **fields: Any) -> int:
        body = {
            "farm_id": farm_id,
            "name": name,
            "species": "nile_tilapia",
            "area_m2": 2000.0,
            "depth_m": 1.2,
            "stock_count": 10_000,
            "mean_weight_g": 250.0,
            **fields,
        }
        r = self.client.post("/api/v1/ponds", json=body, headers=self.auth("operator"))
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def readings(self, pond_id: int, readings: list[dict[str, Any]], role: str = "operator") -> Any:
        return self.client.post(
            f"/api/v1/ponds/{pond_id}/readings",
            json={"readings": readings},
            headers=self.auth(role),
        )

    def ingest(self, pond_id: int, readings: list[dict[str, Any]], timeout: float = 20.0) -> Any:
        """Post readings and return once they are stored.

        With the default in-process queue the API answers 202 and its worker stores the batch
        a moment later: wait until the worker has processed one more readings message.
        """
        before = self.processed_batches()
        r = self.readings(pond_id, readings)
        assert r.status_code in (200, 202), r.text
        if r.status_code == 202:
            deadline = time.monotonic() + timeout
            while self.processed_batches() <= before:
                assert time.monotonic() < deadline, "the in-process worker did not store the batch"
                time.sleep(0.02)
        return r

    def wait_local_tier(self, live: bool = True, timeout: float = 10.0) -> None:
        """Until the process's local cache tier is on (it follows invalidations through Redis)
        or, with ``live=False``, off (it heard its Redis connection close)."""
        local = self.app.state.runtime.cache.local
        deadline = time.monotonic() + timeout
        while local.live != live:
            assert time.monotonic() < deadline, f"local tier not {'on' if live else 'off'} yet"
            time.sleep(0.02)

    def processed_batches(self) -> float:
        """Readings messages the in-process worker has finished (stored or dropped)."""
        return metric(self.client.get("/metrics").text, PROCESSED_READINGS)


@contextmanager
def running_api(settings: ApiSettings, *, users: bool = True) -> Iterator[Api]:
    """Start the app (lifespan included) and log in one user per role."""
    app = create_app(settings)
    with TestClient(app) as client:
        api = Api(client=client, app=app)
        if users:
            api.make_users()
        yield api


def limited_client(database_url: str, peer: str, **settings: object) -> TestClient:
    """An app whose login limits are off but those ``settings`` turn on, every request coming
    from ``peer`` (use it as a context manager)."""
    from fastapi.testclient import TestClient

    return TestClient(create_app(settings_for(database_url, **settings)), client=(peer, 40000))


def series(
    sensor: str, values: list[float], *, end: datetime | None = None, step_minutes: int = 10
) -> list[dict[str, Any]]:
    """Readings of one sensor ending at ``end`` (default: now, whole seconds), oldest first."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    n = len(values)
    return [
        {
            "sensor": sensor,
            "ts": (end - timedelta(minutes=step_minutes * (n - 1 - i))).isoformat(),
            "value": v,
        }
        for i, v in enumerate(values)
    ]


REPO_ROOT = Path(__file__).resolve().parents[3]


class ApiProcess:
    """``python -m service.api serve`` as a real subprocess on a free port."""

    def __init__(self, workdir: Path, env: dict[str, str], *, workers: int = 1) -> None:
        from sre_cli.infra.process import free_port

        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / "api.log"
        self.env = {
            **os.environ,
            "AQUA_HOST": "127.0.0.1",
            "AQUA_PORT": str(self.port),
            "AQUA_WORKERS": str(workers),
            "AQUA_ENVIRONMENT": "test",
            "AQUA_BOOTSTRAP_ADMIN_USERNAME": ADMIN,
            "AQUA_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "AQUA_ARGON2_TIME_COST": "1",
            "AQUA_ARGON2_MEMORY_KIB": "64",
            "AQUA_ARGON2_PARALLELISM": "1",
            "AQUA_RATE_LIMIT_REQUESTS": "0",
            **{f"AQUA_{k.upper()}": str(v) for k, v in NO_LOGIN_LIMITS.items()},
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ApiProcess:
        from service.ml.devserver import wait_ready

        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.api", "serve"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if wait_ready(self.proc, self.base_url, timeout, "api", self.log_tail):
            return self
        self.stop()
        raise RuntimeError(f"api not ready within {timeout} s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def token(self, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> str:
        import httpx

        r = httpx.post(
            f"{self.base_url}/api/v1/auth/token",
            data={"username": username, "password": password},
            timeout=10,
        )
        r.raise_for_status()
        return str(r.json()["access_token"])


@dataclass
class Clock:
    """Stands in for the ``time`` module of one service module (see :func:`clock_of`):
    ``time()`` and ``monotonic()`` both read ``now``, which the test moves."""

    now: float

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def clock_of(module: ModuleType, monkeypatch: pytest.MonkeyPatch, now: float) -> Clock:
    """Give ``module`` (only it) a :class:`Clock` at ``now`` as its ``time``."""
    fake = Clock(now)
    monkeypatch.setattr(module, "time", fake)
    return fake

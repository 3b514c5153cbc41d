"""Helpers of the pipeline tests: a fresh database, the API in-process, workers as processes.

Every test gets its own PostgreSQL database and its own Kafka topic prefix (so tests sharing
one broker never see each other's messages) and its own consumer group.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from api.api_harness import ADMIN, ADMIN_PASSWORD, create_pg_database, migrated, settings_for
from polling import wait_for

from service.api.app import create_app
from service.api.settings import ApiSettings
from sre_cli.infra.process import free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[3]
SENSORS = ("dissolved_oxygen", "temperature", "ph", "ammonia")
VALUE = {"dissolved_oxygen": 6.0, "temperature": 25.0, "ph": 7.5, "ammonia": 0.5}


def create_database(server_url: str) -> str:
    """A new empty database on the server, migrated; its asyncpg SQLAlchemy URL."""
    return migrated(create_pg_database(server_url))


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import asyncpg

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def count_readings(url: str) -> int:
    return int(query(url, "SELECT count(*) FROM readings")[0][0])


def batch(
    n: int, start: datetime, value_of: Callable[[int], float] | None = None
) -> list[dict[str, Any]]:
    """``n`` readings, cycling through the sensors, one second apart per sensor round."""
    out = []
    for i in range(n):
        sensor = SENSORS[i % len(SENSORS)]
        ts = start + timedelta(seconds=i // len(SENSORS))
        value = value_of(i) if value_of else VALUE[sensor]
        out.append({"sensor": sensor, "ts": ts.isoformat(), "value": value})
    return out


def keys_of(pond_id: int, readings: list[dict[str, Any]]) -> set[tuple[int, str, datetime]]:
    return {(pond_id, r["sensor"], datetime.fromisoformat(r["ts"])) for r in readings}


def stored_keys(url: str) -> set[tuple[int, str, datetime]]:
    return {
        (p, s, t.astimezone(UTC))
        for p, s, t in query(url, "SELECT pond_id, sensor, ts FROM readings")
    }


def wait_for_rows(url: str, n: int, stall: float = 60.0, what: str = "rows") -> None:
    """Wait until ``n`` readings are stored; fail when the count stops growing for ``stall`` s.

    Exactly-once is the subject here, not speed: a slow machine gets time as long as rows keep
    arriving, and a stuck pipeline fails with the count it stopped at.
    """
    last, since = -1, time.monotonic()
    while True:
        count = count_readings(url)
        if count >= n:
            return
        now = time.monotonic()
        if count != last:
            last, since = count, now
        elif now - since > stall:
            raise AssertionError(f"{what}: {count} of {n} stored, none more for {stall:.0f} s")
        time.sleep(0.25)


@dataclass
class Api:
    client: TestClient
    token: str = ""
    ponds: list[int] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def make_ponds(self, n: int, timezone: str = "UTC") -> list[int]:
        r = self.client.post(
            "/api/v1/farms",
            json={"name": f"farm-{uuid.uuid4().hex[:6]}", "timezone": timezone},
            headers=self.auth,
        )
        assert r.status_code == 201, r.text
        farm = r.json()["id"]
        for i in range(n):
            r = self.client.post(
                "/api/v1/ponds",
                json={
                    "farm_id": farm,
                    "name": f"P{i}",
                    "species": "nile_tilapia",
                    "area_m2": 2000.0,
                    "depth_m": 1.2,
                    "stock_count": 10_000,
                    "mean_weight_g": 250.0,
                },
                headers=self.auth,
            )
            assert r.status_code == 201, r.text
            self.ponds.append(int(r.json()["id"]))
        return self.ponds[-n:]

    def post(self, pond_id: int, readings: list[dict[str, Any]]) -> httpx.Response:
        # Starlette types its TestClient against httpx2, absent here: its calls return Any.
        r: httpx.Response = self.client.post(
            f"/api/v1/ponds/{pond_id}/readings", json={"readings": readings}, headers=self.auth
        )
        return r


def api_settings(database_url: str, **overrides: Any) -> ApiSettings:
    """The API tests' settings, without the access log; the database is migrated already."""
    values: dict[str, Any] = {"access_log": False, "db_migrate_on_start": False, **overrides}
    return settings_for(database_url, **values)


@contextmanager
def running_api(settings: ApiSettings) -> Iterator[Api]:
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/v1/auth/token", data={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        yield Api(client=client, token=r.json()["access_token"])


class WorkerProcess:
    """``python -m service.worker`` as a child process with its own metrics port and log."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "worker") -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "AQUA_WORKER_METRICS_PORT": str(self.port)}
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 60.0) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.worker"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self.ready, f"worker ready (log {self.log_path})", ready_timeout)
        return self

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> dict[str, float]:
        """Samples of /metrics as ``{'name{labels}': value}``."""
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def metric(self, prefix: str) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith(prefix))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def story(self, lines: int = 60) -> str:
        """The worker's own records and every warning, without the Kafka client's chatter."""
        out = []
        for r in self.log_records():
            if r.get("level") in ("INFO", "DEBUG") and str(r.get("logger", "")).startswith("kafka"):
                continue
            extra = {
                k: v
                for k, v in r.items()
                if k not in ("timestamp", "level", "message", "logger", "service")
            }
            out.append(f"{r.get('timestamp')} {r.get('level')} {r.get('message')} {extra or ''}")
        if self.proc is not None and self.proc.poll() is not None:
            out.append(f"(exited {self.proc.returncode})")
        return "\n".join(out[-lines:])

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


@dataclass
class Pipeline:
    bootstrap: str
    database_url: str
    prefix: str
    log_dir: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    def worker_env(self, **extra: str) -> dict[str, str]:
        return {
            "AQUA_KAFKA_BOOTSTRAP": self.bootstrap,
            "AQUA_KAFKA_TOPIC_PREFIX": self.prefix,
            "AQUA_DATABASE_URL": self.database_url,
            "AQUA_WORKER_GROUP": f"{self.prefix}worker",
            "AQUA_WORKER_SESSION_TIMEOUT_MS": "6000",
            "AQUA_WORKER_BACKOFF_SECONDS": "0.05",
            "AQUA_WORKER_BACKOFF_MAX_SECONDS": "1",
            "AQUA_WORKER_NIGHTLY_ENABLED": "false",
            "AQUA_LOG_LEVEL": "INFO",
            **extra,
        }

    def worker(self, **extra: str) -> WorkerProcess:
        w = WorkerProcess(self.worker_env(**extra), self.log_dir, name=f"worker{len(self.workers)}")
        self.workers.append(w)
        return w

    def api_overrides(self, **extra: Any) -> dict[str, Any]:
        return {
            "queue": "kafka",
            "kafka_bootstrap": self.bootstrap,
            "kafka_topic_prefix": self.prefix,
            "kafka_publish_timeout_seconds": 3.0,
            **extra,
        }

    def api(self, **extra: Any) -> AbstractContextManager[Api]:
        """An API in this process that publishes to this pipeline's topics (settings
        :meth:`api_overrides`, then ``extra``)."""
        return running_api(api_settings(self.database_url, **self.api_overrides(**extra)))

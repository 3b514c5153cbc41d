"""Graceful shutdown of the real server (2 uvicorn workers): SIGTERM in the middle of a stream
of requests, some of them slow, fails none of them."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from api.api_harness import ApiProcess, create_pg_database, harness_fixture

pytestmark = pytest.mark.integration

DRAIN_SECONDS = 2.0
SLOW_MS = 1200
LATENCY_RULE = 'fault_injection_rule{kind="latency_seconds",route="/api/v1/farms/{farm_id}"} 1.2'


@dataclass
class Traffic:
    """Clients that stop sending once readiness fails, as a load balancer would."""

    base_url: str
    headers: dict[str, str]
    routable: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ok: int = 0
    slow_ok: int = 0
    failures: list[str] = field(default_factory=list)
    saw_503_ready: bool = False

    def client_loop(self, path: str, slow: bool = False) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30) as client:
            while self.routable.is_set():
                try:
                    r = client.get(path)
                    good = r.status_code == 200
                    detail = f"{path} -> {r.status_code} {r.text[:120]}"
                except httpx.HTTPError as exc:
                    good, detail = False, f"{path} -> {type(exc).__name__}: {exc}"
                with self.lock:
                    if good:
                        self.ok += 1
                        self.slow_ok += slow
                    else:
                        self.failures.append(detail)

    def balancer_loop(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=2) as client:
            while self.routable.is_set():
                try:
                    if client.get("/ready").status_code == 503:
                        self.saw_503_ready = True
                        self.routable.clear()
                except httpx.HTTPError:
                    self.routable.clear()  # gone without ever saying "not ready"
                time.sleep(0.05)


def _until_every_worker_has_the_rule(base_url: str) -> None:
    """Until ten scrapes in a row, answered by either worker, show the latency rule."""
    deadline = time.monotonic() + 30
    in_a_row = 0
    while in_a_row < 10:
        assert time.monotonic() < deadline, "the fault rule did not reach both workers"
        text = httpx.get(f"{base_url}/metrics", timeout=10).text
        in_a_row = in_a_row + 1 if LATENCY_RULE in text else 0
        time.sleep(0.02)


def test_sigterm_under_load_fails_no_request(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg = harness_fixture(request, "postgres_server")
    redis = harness_fixture(request, "redis_server")
    redis_url = redis.url.rsplit("/", 1)[0] + "/6"
    api = ApiProcess(
        tmp_path,
        {
            "AQUA_DATABASE_URL": create_pg_database(pg.url),
            "AQUA_REDIS_URL": redis_url,
            "AQUA_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "AQUA_SHUTDOWN_TIMEOUT_SECONDS": "15",
            "AQUA_FAULTS_ENABLED": "true",
            "AQUA_FAULTS_SYNC_SECONDS": "0.1",
            "AQUA_ACCESS_LOG": "false",
        },
        workers=2,
    ).start()
    try:
        h = {"Authorization": f"Bearer {api.token()}"}
        farm = httpx.post(f"{api.base_url}/api/v1/farms", json={"name": "f"}, headers=h).json()
        pond = httpx.post(
            f"{api.base_url}/api/v1/ponds",
            json={
                "farm_id": farm["id"],
                "name": "p",
                "species": "nile_tilapia",
                "area_m2": 100.0,
                "depth_m": 1.0,
            },
            headers=h,
        ).json()
        httpx.put(
            f"{api.base_url}/api/v1/admin/faults",
            json={"route": "/api/v1/farms/{farm_id}", "latency_ms": SLOW_MS},
            headers=h,
        ).raise_for_status()
        _until_every_worker_has_the_rule(api.base_url)

        traffic = Traffic(api.base_url, h)
        traffic.routable.set()
        threads = (
            [
                threading.Thread(
                    target=traffic.client_loop, args=(f"/api/v1/ponds/{pond['id']}/summary",)
                )
                for _ in range(4)
            ]
            + [
                threading.Thread(
                    target=traffic.client_loop, args=(f"/api/v1/farms/{farm['id']}", True)
                )
                for _ in range(3)
            ]
            + [threading.Thread(target=traffic.balancer_loop)]
        )
        for t in threads:
            t.start()
        # SIGTERM once traffic flows and slow requests have come back: more are in flight.
        deadline = time.monotonic() + 60
        while not (traffic.ok > 50 and traffic.slow_ok >= 3):
            assert time.monotonic() < deadline, (traffic.ok, traffic.slow_ok, traffic.failures)
            time.sleep(0.05)
        assert api.proc is not None
        api.proc.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        for t in threads:
            t.join(60)
        returncode = api.proc.wait(60)
        stopped_after = time.monotonic() - sent_at
    finally:
        api.stop()

    assert traffic.failures == []
    assert traffic.saw_503_ready, "readiness never answered 503 before the server went away"
    assert traffic.ok > 50
    assert traffic.slow_ok >= 3
    assert returncode == 0, api.log_tail()
    assert stopped_after >= DRAIN_SECONDS
    log = api.log_tail(2000)
    assert log.count("draining: readiness now 503") == 2
    assert log.count("api stopped: pools closed") == 2

"""Redis: summary cache (hit, invalidation), per-user rate limits, shared fault rules, and
the service staying up when Redis goes away."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from api.api_harness import (
    ApiProcess,
    create_pg_database,
    harness_fixture,
    running_api,
    series,
    settings_for,
)

from sre_cli.infra.redis import RedisServer

pytestmark = pytest.mark.integration

# Fixed windows start on multiples of their length: a day-long one keeps a test inside one.
DAY = 86_400


def _counter(text: str, line_prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_summary_cache_hit_and_invalidation(sqlite_url: str, redis_url: str) -> None:
    with running_api(settings_for(sqlite_url, redis_url=redis_url)) as api:
        c, h = api.client, api.auth("viewer")
        pond = api.pond(api.farm())
        api.ingest(pond, series("dissolved_oxygen", [6.5]))
        url = f"/api/v1/ponds/{pond}/summary"

        first = c.get(url, headers=h)
        second = c.get(url, headers=h)
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
        assert first.json() == second.json()
        metrics = c.get("/metrics").text
        assert _counter(metrics, 'cache_hits_total{cache="pond_summary"}') == 1
        assert _counter(metrics, 'cache_misses_total{cache="pond_summary"}') == 1

        # New readings invalidate once stored (by the in-process worker): the next read sees them.
        api.ingest(pond, series("dissolved_oxygen", [2.0], step_minutes=1))
        third = c.get(url, headers=h)
        assert third.headers["x-cache"] == "miss"
        assert third.json()["status"] == "critical"
        assert c.get(url, headers=h).headers["x-cache"] == "hit"

        # So does a change to the pond itself.
        c.patch(f"/api/v1/ponds/{pond}", json={"stock_count": 1}, headers=api.auth("operator"))
        fourth = c.get(url, headers=h)
        assert fourth.headers["x-cache"] == "miss"
        assert fourth.json()["pond"]["stock_count"] == 1


def test_rate_limit_429_per_user(sqlite_url: str, redis_url: str) -> None:
    settings = settings_for(
        sqlite_url, redis_url=redis_url, rate_limit_requests=5, rate_limit_window_seconds=DAY
    )
    with running_api(settings) as api:
        # Logging in the three users already used three requests of each login bucket,
        # not of the per-user buckets, which count authenticated requests.
        statuses = [
            api.client.get("/api/v1/farms", headers=api.auth("viewer")).status_code
            for _ in range(6)
        ]
        assert statuses == [200] * 5 + [429]
        limited = api.client.get("/api/v1/farms", headers=api.auth("viewer"))
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= DAY
        # Another user has their own budget.
        assert api.client.get("/api/v1/farms", headers=api.auth("operator")).status_code == 200
        assert _counter(api.client.get("/metrics").text, "rate_limited_requests_total") == 2


def _wait_for_shared_hits(redis_url: str, hits: int, timeout: float = 10.0) -> None:
    """Until some user's shared rate-limit counter in Redis holds ``hits``."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            counts = [int(v) for v in client.mget(client.keys("aqua:rl:user:*") or ["-"]) if v]
            if max(counts, default=0) >= hits:
                return
            assert time.monotonic() < deadline, f"shared counters {counts}, not {hits}"
            time.sleep(0.02)
    finally:
        client.close()


def test_rate_limit_is_shared_between_processes(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
) -> None:
    """Two server processes (``python -m service.api serve``) on one PostgreSQL and Redis."""
    pg = harness_fixture(request, "postgres_server")
    env = {
        "AQUA_DATABASE_URL": create_pg_database(pg.url),
        "AQUA_REDIS_URL": redis_url,
        "AQUA_RATE_LIMIT_REQUESTS": "6",
        "AQUA_RATE_LIMIT_WINDOW_SECONDS": str(DAY),
        "AQUA_RATE_LIMIT_SYNC_SECONDS": "0.05",
        "AQUA_ACCESS_LOG": "false",
    }
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = ApiProcess(tmp_path / "one", env).start()
    try:
        two = ApiProcess(tmp_path / "two", env).start()  # after one has migrated the database
        try:
            admin = {"Authorization": f"Bearer {one.token()}"}
            r = httpx.post(
                f"{one.base_url}/api/v1/users",
                json={"username": "viewer", "password": "viewer-password-12", "role": "viewer"},
                headers=admin,
                timeout=10,
            )
            assert r.status_code == 201, r.text
            # Same user, same signing key: the viewer's token is valid on both processes.
            h = {"Authorization": f"Bearer {two.token('viewer', 'viewer-password-12')}"}
            first = [
                httpx.get(f"{one.base_url}/api/v1/farms", headers=h).status_code for _ in range(4)
            ]
            assert first == [200] * 4
            _wait_for_shared_hits(redis_url, 4)  # the first process has shared its count
            then = [
                httpx.get(f"{two.base_url}/api/v1/farms", headers=h).status_code for _ in range(3)
            ]
            assert then == [200, 200, 429]
        finally:
            two.stop()
    finally:
        one.stop()


def test_fault_rules_reach_other_workers(sqlite_url: str, redis_url: str) -> None:
    settings = settings_for(
        sqlite_url, redis_url=redis_url, faults_enabled=True, faults_sync_seconds=0.1
    )
    with running_api(settings) as one, running_api(settings, users=False) as two:
        r = one.client.put(
            "/api/v1/admin/faults", json={"route": "/live", "error_rate": 1.0}, headers=one.auth()
        )
        assert r.status_code == 200
        deadline = time.monotonic() + 5
        while two.client.get("/live").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert two.client.get("/live").status_code == 500
        one.client.delete("/api/v1/admin/faults", headers=one.auth())
        deadline = time.monotonic() + 5
        while two.client.get("/live").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert two.client.get("/live").status_code == 200


def test_redis_down_keeps_serving_and_reports_degraded(
    sqlite_url: str, own_redis: RedisServer
) -> None:
    redis = own_redis
    settings = settings_for(
        sqlite_url, redis_url=redis.url, redis_retry_seconds=0.2, rate_limit_requests=1000
    )
    with running_api(settings) as api:
        c, h = api.client, api.auth("viewer")
        pond = api.pond(api.farm())
        url = f"/api/v1/ponds/{pond}/summary"
        assert c.get(url, headers=h).headers["x-cache"] == "miss"
        assert c.get(url, headers=h).headers["x-cache"] == "hit"

        redis.stop()
        # The local cache tier answers until its subscription sees the connection close
        # (a few milliseconds); from then on summaries come from the database.
        api.wait_local_tier(live=False, timeout=5)
        started = time.monotonic()
        for _ in range(10):
            r = c.get(url, headers=h)
            assert r.status_code == 200
            assert r.headers["x-cache"] == "miss"
        assert api.ingest(pond, series("ph", [7.1])).status_code == 202
        assert time.monotonic() - started < 5, "requests waited on the dead Redis"
        ready = c.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["redis"]["status"] == "down"
        assert 'dependency_up{dependency="redis"} 0.0' in c.get("/metrics").text

        redis.start()
        deadline = time.monotonic() + 10
        while c.get("/ready").json()["status"] != "ready" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.get("/ready").json()["status"] == "ready"
        c.get(url, headers=h)
        assert c.get(url, headers=h).headers["x-cache"] == "hit"
        assert 'dependency_up{dependency="redis"} 1.0' in c.get("/metrics").text

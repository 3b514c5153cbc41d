"""The local summary tier: hits answered by the hot path with the route's checks, its TTL,
Redis going away, and invalidation reaching every process on real Redis."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import jwt
import pytest
from api.api_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    Api,
    ApiProcess,
    create_pg_database,
    harness_fixture,
    running_api,
    settings_for,
)
from polling import wait_for

from service.api.cache import LocalTier, SummaryCache
from service.api.metrics import ApiMetrics
from service.api.softredis import SoftRedis
from service.data.summary_keys import invalidate_summaries, summary_key
from sre_cli.infra.redis import RedisServer

SUMMARY = "/api/v1/ponds/{}/summary"
LOCAL_HITS = 'cache_hits_total{cache="pond_summary_local"}'
REDIS_HITS = 'cache_hits_total{cache="pond_summary"}'
REDIS_MISSES = 'cache_misses_total{cache="pond_summary"}'


def _counter(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _counters(api: Api) -> dict[str, float]:
    text = api.client.get("/metrics").text
    return {name: _counter(text, name) for name in (LOCAL_HITS, REDIS_HITS, REDIS_MISSES)}


def _warm(api: Api, pond: int, headers: dict[str, str]) -> httpx.Response:
    """Miss (database), hit from Redis (copied locally): the next read is a local hit."""
    api.wait_local_tier()
    url = SUMMARY.format(pond)
    assert api.client.get(url, headers=headers).headers["x-cache"] == "miss"
    from_redis: httpx.Response = api.client.get(url, headers=headers)
    assert from_redis.headers["x-cache"] == "hit"
    return from_redis


# The tier on its own: no I/O.


def test_local_tier_keeps_only_copies_not_invalidated_while_read() -> None:
    tier = LocalTier(ttl_seconds=60, max_entries=2)
    assert tier.get((1, 1)) is None  # not live: nothing is served
    tier.put((1, 1), b"a", tier.mark())
    assert tier.get((1, 1)) is None
    tier.reset(live=True)

    since = tier.mark()
    tier.put((1, 1), b"a", since)
    assert tier.get((1, 1)) == b"a"

    since = tier.mark()  # a read of pond 1 starts...
    tier.drop([(1, 1)])  # ...an invalidation arrives while it is in flight...
    tier.put((1, 1), b"stale", since)  # ...so its result is not kept
    assert tier.get((1, 1)) is None
    assert tier.invalidated_since((1, 1), since)
    assert not tier.invalidated_since((1, 2), since)

    since = tier.mark()
    tier.reset(live=True)  # a resubscription: anything read before may be stale
    tier.put((1, 2), b"b", since)
    assert tier.get((1, 2)) is None

    since = tier.mark()
    for pond in (1, 2, 3):
        tier.put((1, pond), b"x", since)
    assert len(tier) == 2
    assert tier.get((1, 1)) is None  # the oldest made room


def test_local_tier_entries_expire() -> None:
    tier = LocalTier(ttl_seconds=0.05, max_entries=10)
    tier.reset(live=True)
    tier.put((1, 1), b"a", tier.mark())
    assert tier.get((1, 1)) == b"a"
    wait_for(lambda: tier.get((1, 1)) is None, "the entry outlived its TTL", 10, every=0.005)


def _cache_without_redis() -> SummaryCache:
    metrics = ApiMetrics()
    redis = SoftRedis(None, timeout=0.1, retry_seconds=1, metrics=metrics)
    return SummaryCache(redis, ttl_seconds=30, metrics=metrics)


def test_concurrent_misses_share_one_computation() -> None:
    cache = _cache_without_redis()
    calls = 0
    release = asyncio.Event()

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        mine = calls
        await release.wait()
        return f"v{mine}".encode()

    async def main() -> None:
        readers = [asyncio.create_task(cache.read_through((1, 1), compute)) for _ in range(10)]
        await asyncio.sleep(0.01)
        readers[0].cancel()  # a client that gives up does not cancel the others' read
        await cache.invalidate(1, 1)  # a write: requests from now on must not join that read
        late = asyncio.create_task(cache.read_through((1, 1), compute))
        await asyncio.sleep(0.01)
        release.set()
        assert await asyncio.gather(*readers[1:]) == [(b"v1", False)] * 9
        assert await late == (b"v2", False)
        assert calls == 2

    asyncio.run(main())


def test_a_failed_computation_fails_every_request_sharing_it() -> None:
    cache = _cache_without_redis()

    async def compute() -> bytes:
        await asyncio.sleep(0.01)
        raise LookupError("no such pond")

    async def main() -> None:
        results = await asyncio.gather(
            *(cache.read_through((1, 7), compute) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, LookupError) for r in results)

    asyncio.run(main())


# One app on real Redis.


@pytest.mark.integration
def test_local_hit_answers_like_the_route(database_url: str, redis_url: str) -> None:
    settings = settings_for(database_url, redis_url=redis_url, cache_local_ttl_seconds=30)
    with running_api(settings) as api:
        c, h = api.client, api.auth("viewer")
        pond = api.pond(api.farm())
        from_redis = _warm(api, pond, h)
        before = _counters(api)

        local = c.get(SUMMARY.format(pond), headers={**h, "X-Request-ID": "local-1"})
        assert local.status_code == 200
        assert local.content == from_redis.content
        for header in ("content-type", "content-length", "x-cache"):
            assert local.headers[header] == from_redis.headers[header]
        assert local.headers["x-request-id"] == "local-1"
        assert local.headers["traceparent"].startswith("00-")
        after = _counters(api)
        assert after[LOCAL_HITS] == before[LOCAL_HITS] + 1
        assert after[REDIS_HITS] == before[REDIS_HITS]
        metrics = c.get("/metrics").text
        assert (
            'http_requests_total{method="GET",route="/api/v1/ponds/{pond_id}/summary",'
            'status="200"} 3.0' in metrics
        )

        # Checks stay the route's: no token or a bad one is 401, a path the route would not
        # take as is goes to the route.
        no_token = c.get(SUMMARY.format(pond))
        assert no_token.status_code == 401
        assert no_token.headers["www-authenticate"] == "Bearer"
        bad = c.get(SUMMARY.format(pond), headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert c.get(SUMMARY.format(0), headers=h).status_code == 422
        padded = c.get(f"/api/v1/ponds/0{pond}/summary", headers=h)
        assert (padded.status_code, padded.content) == (200, from_redis.content)
        slash = c.get(SUMMARY.format(pond) + "/", headers=h, follow_redirects=False)
        assert slash.status_code in (307, 404)


@pytest.mark.integration
def test_local_hit_needs_the_read_scope(sqlite_url: str, redis_url: str) -> None:
    settings = settings_for(sqlite_url, redis_url=redis_url, cache_local_ttl_seconds=30)
    with running_api(settings) as api:
        pond = api.pond(api.farm())
        _warm(api, pond, api.auth("viewer"))
        # Signed with the service's key, but without scopes: only a 403 may come back.
        now = int(time.time())
        token = jwt.encode(
            {
                "sub": "1",
                "role": "viewer",
                "scopes": [],
                "typ": "access",
                "ver": 0,
                "jti": "a-token-without-scopes",
                "iat": now,
                "exp": now + 60,
                "iss": settings.jwt_issuer,
                "aud": settings.jwt_audience,
            },
            settings.jwt_secret.get_secret_value(),
            algorithm=settings.jwt_algorithm,
        )
        r = api.client.get(SUMMARY.format(pond), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403


@pytest.mark.integration
def test_local_hits_count_against_the_rate_limit(sqlite_url: str, redis_url: str) -> None:
    settings = settings_for(
        sqlite_url,
        redis_url=redis_url,
        cache_local_ttl_seconds=30,
        rate_limit_requests=5,
        rate_limit_window_seconds=86_400,
    )
    with running_api(settings) as api:
        pond = api.pond(api.farm())
        h = api.auth("viewer")
        _warm(api, pond, h)  # two requests of the viewer's five
        statuses = [api.client.get(SUMMARY.format(pond), headers=h) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        limited = statuses[-1]
        assert 1 <= int(limited.headers["retry-after"]) <= 86_400
        assert limited.json()["detail"].startswith("rate limit exceeded")
        assert _counter(api.client.get("/metrics").text, "rate_limited_requests_total") == 1


@pytest.mark.integration
def test_local_copies_expire_after_their_ttl(sqlite_url: str, redis_url: str) -> None:
    settings = settings_for(sqlite_url, redis_url=redis_url, cache_local_ttl_seconds=0.3)
    with running_api(settings) as api:
        pond = api.pond(api.farm())
        h = api.auth("viewer")
        _warm(api, pond, h)
        start = _counters(api)
        api.client.get(SUMMARY.format(pond), headers=h)
        assert _counters(api)[LOCAL_HITS] == start[LOCAL_HITS] + 1
        local = api.app.state.runtime.cache.local
        ref = (api.client.get("/api/v1/users/me", headers=h).json()["org_id"], pond)
        assert local.get(ref) is not None
        wait_for(lambda: local.get(ref) is None, "the local copy outlived its TTL", 10, every=0.005)
        api.client.get(SUMMARY.format(pond), headers=h)  # expired: read from Redis again
        after = _counters(api)
        assert after[LOCAL_HITS] == start[LOCAL_HITS] + 1
        assert after[REDIS_HITS] == start[REDIS_HITS] + 1


@pytest.mark.integration
def test_local_tier_off_while_redis_is_down(sqlite_url: str, own_redis: RedisServer) -> None:
    redis = own_redis
    settings = settings_for(
        sqlite_url, redis_url=redis.url, redis_retry_seconds=0.2, cache_local_ttl_seconds=30
    )
    with running_api(settings) as api:
        c, h = api.client, api.auth("viewer")
        pond = api.pond(api.farm())
        url = SUMMARY.format(pond)
        _warm(api, pond, h)
        assert c.get(url, headers=h).headers["x-cache"] == "hit"

        redis.stop()
        # The subscriber sees the connection close; from then on nothing is served from
        # a copy that no longer hears of writes.
        api.wait_local_tier(live=False, timeout=5)
        local_hits = _counters(api)[LOCAL_HITS]
        for _ in range(5):
            r = c.get(url, headers=h)
            assert (r.status_code, r.headers["x-cache"]) == (200, "miss")
        assert _counters(api)[LOCAL_HITS] == local_hits

        redis.start()
        api.wait_local_tier()
        # Redis came back empty and is retried after AQUA_REDIS_RETRY_SECONDS: a miss
        # fills it, a hit is copied locally, then the local tier answers again.
        deadline = time.monotonic() + 10
        while _counters(api)[LOCAL_HITS] == local_hits:
            assert time.monotonic() < deadline, "local tier never served again"
            assert c.get(url, headers=h).status_code == 200
            time.sleep(0.05)


# Two real processes sharing PostgreSQL and Redis.


def _pg_url(request: pytest.FixtureRequest) -> str:
    server = harness_fixture(request, "postgres_server")
    return create_pg_database(server.url)


def _metric(base: str, name: str) -> float:
    return _counter(httpx.get(f"{base}/metrics", timeout=5).text, name)


@pytest.mark.integration
def test_a_write_invalidates_every_process_copy(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "AQUA_DATABASE_URL": _pg_url(request),
        "AQUA_REDIS_URL": redis_url,
        # Long enough that only an invalidation can explain a fresh answer within the test.
        "AQUA_CACHE_LOCAL_TTL_SECONDS": "60",
        "AQUA_CACHE_TTL_SECONDS": "600",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ApiProcess(tmp_path / "a", env).start()
    b = ApiProcess(tmp_path / "b", env).start()
    try:
        h = {"Authorization": f"Bearer {a.token(ADMIN, ADMIN_PASSWORD)}"}
        farm = httpx.post(f"{a.base_url}/api/v1/farms", json={"name": "F"}, headers=h).json()
        pond_body = {
            "farm_id": farm["id"],
            "name": "P",
            "species": "nile_tilapia",
            "area_m2": 2000.0,
            "depth_m": 1.2,
            "stock_count": 10_000,
            "mean_weight_g": 250.0,
        }
        pond = httpx.post(f"{a.base_url}/api/v1/ponds", json=pond_body, headers=h).json()["id"]
        path = SUMMARY.format(pond)

        def stock(base: str) -> int:
            r = httpx.get(base + path, headers=h, timeout=5)
            assert r.status_code == 200, r.text
            return int(r.json()["pond"]["stock_count"])

        def local_hit(base: str) -> bool:
            """Read once; whether the local tier answered (nothing else reads meanwhile)."""
            hits = _metric(base, LOCAL_HITS)
            stock(base)
            return _metric(base, LOCAL_HITS) > hits

        def warm(base: str) -> None:
            wait_for(
                lambda: local_hit(base), f"{base} never answered from its copy", 10, every=0.005
            )

        def cold(base: str) -> None:
            wait_for(lambda: not local_hit(base), f"{base} kept its copy", 10.0, every=0.005)

        # Both processes answer from their own copy.
        for base in (a.base_url, b.base_url):
            warm(base)
        assert stock(b.base_url) == 10_000

        # A write through A: B drops its copy as the message arrives.
        r = httpx.patch(
            f"{a.base_url}/api/v1/ponds/{pond}", json={"stock_count": 7}, headers=h, timeout=5
        )
        assert r.status_code == 200, r.text
        assert stock(a.base_url) == 7  # the writer itself: at once
        # Well within the local TTL (60 s): only the invalidation explains it.
        wait_for(lambda: stock(b.base_url) == 7, "B kept serving its stale copy", 10.0, every=0.005)

        # Any process can invalidate (the worker does, after storing readings): here, this one.
        for base in (a.base_url, b.base_url):
            warm(base)

        async def invalidate() -> None:
            from redis.asyncio import Redis

            client = Redis.from_url(redis_url)
            try:
                ref = (farm["org_id"], pond)
                await invalidate_summaries(client, [ref])
                assert await client.exists(summary_key(ref)) == 0
            finally:
                await client.aclose()

        asyncio.run(invalidate())
        for base in (a.base_url, b.base_url):
            # Once the message is in, a read is no longer answered from the local copy.
            cold(base)
    finally:
        for proc in (a, b):
            proc.stop()

"""The worker keeps the API's cached summaries fresh in Kafka mode: after storing readings it
invalidates the cached summaries of their ponds (in Redis and in the API processes' local
tiers); with Redis down it stores on regardless."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from infra_harness import require_binary
from polling import wait_for
from worker.pipeline_harness import Pipeline, count_readings

from sre_cli.infra.process import free_port

pytestmark = pytest.mark.integration

INVALIDATED = 'worker_cache_invalidations_total{outcome="ok"}'


def _oxygen(value: float, ts: datetime) -> list[dict[str, Any]]:
    return [{"sensor": "dissolved_oxygen", "ts": ts.isoformat(), "value": value}]


def test_worker_invalidates_cached_summaries_of_the_ponds_it_stored(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    require_binary("redis-server")
    from sre_cli.infra.redis import RedisServer

    redis = RedisServer(tmp_path / "redis", port=free_port()).start()
    try:
        worker = pipeline.worker(AQUA_REDIS_URL=redis.url, AQUA_REDIS_RETRY_SECONDS="0.2").start()
        # A TTL far longer than the test: a fresh summary can only come from the invalidation.
        with pipeline.api(redis_url=redis.url, cache_ttl_seconds=600) as api:
            (pond,) = api.make_ponds(1)
            url = f"/api/v1/ponds/{pond}/summary"
            now = datetime.now(UTC).replace(microsecond=0)

            def summary() -> tuple[str, str]:
                r = api.client.get(url, headers=api.auth)
                assert r.status_code == 200, r.text
                return r.headers["x-cache"], r.json()["status"]

            assert api.post(pond, _oxygen(6.5, now - timedelta(minutes=10))).status_code == 202
            wait_for(lambda: worker.metric(INVALIDATED) >= 1, "the first batch stored", 60)
            assert summary() == ("miss", "ok")
            assert summary() == ("hit", "ok")

            # Kafka mode: the API only publishes to Kafka; the worker's invalidation is what
            # makes this a miss (the second read above left a local copy in the API as well).
            assert api.post(pond, _oxygen(2.0, now)).status_code == 202
            wait_for(lambda: worker.metric(INVALIDATED) >= 2, "the second batch stored", 60)
            assert count_readings(pipeline.database_url) == 2
            assert summary() == ("miss", "critical")
            assert summary() == ("hit", "critical")
            ready = httpx.get(f"http://127.0.0.1:{worker.port}/ready", timeout=2)
            assert ready.status_code == 200
            assert ready.json()["checks"]["redis"] == "up"

            # Redis down: the worker stores on, says so, and is still ready.
            redis.stop()
            assert api.post(pond, _oxygen(7.0, now + timedelta(minutes=1))).status_code == 202
            wait_for(lambda: count_readings(pipeline.database_url) == 3, "stored without Redis", 60)
            wait_for(
                lambda: worker.metric('worker_cache_invalidations_total{outcome="failed"}') >= 1,
                "the failed invalidation counted",
                10,
            )
            ready = httpx.get(f"http://127.0.0.1:{worker.port}/ready", timeout=2)
            assert ready.status_code == 200
            assert ready.json()["checks"]["redis"] == "down"
            assert worker.metric('worker_dependency_up{dependency="redis"}') == 0

            # Back: a batch stored after the skip window invalidates again.
            redis.start()
            for minute in range(2, 30):
                reading = _oxygen(2.5, now + timedelta(minutes=minute))
                assert api.post(pond, reading).status_code == 202
                with contextlib.suppress(AssertionError):
                    wait_for(lambda: worker.metric(INVALIDATED) >= 3, "an invalidation", 2)
                    break
            else:
                raise AssertionError(f"no invalidation after Redis returned: {worker.metrics()}")
            assert worker.metric('worker_dependency_up{dependency="redis"}') == 1
            assert summary() == ("miss", "critical")
            assert worker.metric('worker_messages_failed_total{topic="sensor-readings"}') == 0
        assert worker.stop() == 0
    finally:
        redis.stop()

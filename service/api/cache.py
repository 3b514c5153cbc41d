"""Read-through cache of pond summaries in Redis.

Summaries are stored as the JSON bytes of the response, so a hit is answered without touching
the database or re-serialising. Writes to a pond or its readings delete its entry; the TTL
bounds staleness when a delete is lost (Redis down at write time) or races a concurrent fill.
With Redis down every lookup is a miss and the summary is computed from the database.
"""

from __future__ import annotations

import contextlib

from service.api.metrics import ApiMetrics
from service.api.softredis import RedisUnavailable, SoftRedis

CACHE_NAME = "pond_summary"


class SummaryCache:
    def __init__(self, redis: SoftRedis, *, ttl_seconds: int, metrics: ApiMetrics) -> None:
        self._redis = redis
        self.ttl_seconds = ttl_seconds
        self._hits = metrics.cache_hits.labels(CACHE_NAME)
        self._misses = metrics.cache_misses.labels(CACHE_NAME)

    @staticmethod
    def key(pond_id: int) -> str:
        return f"aqua:summary:v1:pond:{pond_id}"

    async def get(self, pond_id: int) -> bytes | None:
        try:
            value = await self._redis.call(lambda r: r.get(self.key(pond_id)))
        except RedisUnavailable:
            value = None
        if isinstance(value, bytes):
            self._hits.inc()
            return value
        self._misses.inc()
        return None

    async def put(self, pond_id: int, payload: bytes) -> None:
        with contextlib.suppress(RedisUnavailable):
            await self._redis.call(lambda r: r.set(self.key(pond_id), payload, ex=self.ttl_seconds))

    async def invalidate(self, pond_id: int) -> None:
        with contextlib.suppress(RedisUnavailable):
            await self._redis.call(lambda r: r.delete(self.key(pond_id)))

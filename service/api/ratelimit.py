"""Per-user rate limiting with fixed windows.

Counters live in Redis so every worker and replica shares them (one ``INCR`` + ``EXPIRE NX``
round trip per request). When Redis is down the limiter falls back to a counter in this process:
limits still hold per worker, which is looser but never fails a request because of Redis::

    decision = await limiter.hit("user:42")
    if not decision.allowed:
        ...  # 429 with Retry-After: decision.retry_after
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from service.api.softredis import RedisUnavailable, SoftRedis


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class RateLimiter:
    def __init__(self, redis: SoftRedis, *, limit: int, window_seconds: int) -> None:
        self._redis = redis
        self.limit = limit
        self.window = window_seconds
        self._local: dict[str, int] = {}
        self._local_window = -1

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def hit(self, key: str, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        window = int(now // self.window)
        retry_after = max(1, math.ceil((window + 1) * self.window - now))
        redis_key = f"aqua:rl:{key}:{window}"
        try:
            count = await self._redis.call(lambda r: self._incr(r, redis_key))
        except RedisUnavailable:
            count = self._incr_local(key, window)
        allowed = count <= self.limit
        return Decision(allowed, self.limit, max(self.limit - count, 0), retry_after)

    async def _incr(self, client: Redis, key: str) -> int:
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.window + 1, nx=True)
        count, _ = await pipe.execute()
        return int(count)

    def _incr_local(self, key: str, window: int) -> int:
        if window != self._local_window:
            self._local.clear()
            self._local_window = window
        count = self._local.get(key, 0) + 1
        self._local[key] = count
        return count

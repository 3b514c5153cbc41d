"""Per-user rate limiting with fixed windows, shared through Redis without a round trip per
request.

The first hit of a key (user) in a window goes to Redis at once and returns the total of all
processes; later hits are counted locally and decided at once, and every ``sync_seconds`` each
process adds its new hits to the shared counters (one pipelined ``INCRBY`` per active key) and
learns the totals. A decision therefore sees the other processes' hits with at most
``sync_seconds`` of delay: a user can exceed the limit by at most what the other workers
admitted in that interval. Within one process it is exact. When Redis is down or not
configured, limits still hold per process::

    decision = await limiter.hit("user:42")
    if not decision.allowed:
        ...  # 429 with Retry-After: decision.retry_after
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from service.api.softredis import RedisUnavailable, SoftRedis

log = logging.getLogger("aqua.api.ratelimit")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class RateLimiter:
    def __init__(
        self, redis: SoftRedis, *, limit: int, window_seconds: int, sync_seconds: float = 0.1
    ) -> None:
        self._redis = redis
        self.limit = limit
        self.window = window_seconds
        self.sync_seconds = sync_seconds
        self._window_index = -1
        self._local: dict[str, int] = {}  # hits admitted by this process in this window
        self._pending: dict[str, int] = {}  # of those, not yet added to Redis
        self._shared: dict[str, int] = {}  # totals of all processes, as Redis last reported

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _roll(self, window: int) -> None:
        if window != self._window_index:
            self._window_index = window
            self._local, self._pending, self._shared = {}, {}, {}

    async def hit(self, key: str, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        window = int(now // self.window)
        self._roll(window)
        first = key not in self._local
        local = self._local[key] = self._local.get(key, 0) + 1
        pending = self._pending[key] = self._pending.get(key, 0) + 1
        if first and self._redis.configured:
            # A key new to this process: ask Redis at once, so a worker that has not seen
            # this user yet knows what the others admitted. Later hits are shared in batches.
            await self.sync_keys({key: pending}, window)
            pending = self._pending.get(key, 0)
        count = max(self._shared.get(key, 0) + pending, local)
        retry_after = max(1, math.ceil((window + 1) * self.window - now))
        return Decision(count <= self.limit, self.limit, max(self.limit - count, 0), retry_after)

    async def sync_once(self, now: float | None = None) -> None:
        """Add this process's new hits to Redis and adopt the shared totals."""
        now = time.time() if now is None else now
        self._roll(int(now // self.window))
        if not self._pending:
            return
        await self.sync_keys(dict(self._pending), self._window_index)

    async def sync_keys(self, counts: dict[str, int], window: int) -> None:
        """Add ``counts`` (taken out of the pending hits) to Redis; adopt the totals."""
        for key in counts:
            self._pending.pop(key, None)
        try:
            totals = await self._redis.call(lambda r: self._flush(r, window, counts))
        except RedisUnavailable:
            return  # the local counts keep limiting this process
        if window == self._window_index:
            self._shared.update(totals)

    async def sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sync_seconds)
            try:
                await self.sync_once()
            except Exception:  # never let the sync loop die; limits fall back to local counts
                log.exception("rate limit sync failed")

    async def _flush(self, client: Redis, window: int, pending: dict[str, int]) -> dict[str, int]:
        pipe = client.pipeline(transaction=False)
        keys = list(pending)
        for key in keys:
            redis_key = f"aqua:rl:{key}:{window}"
            pipe.incrby(redis_key, pending[key])
            pipe.expire(redis_key, self.window + 1, nx=True)
        replies = await pipe.execute()
        return {key: int(replies[2 * i]) for i, key in enumerate(keys)}

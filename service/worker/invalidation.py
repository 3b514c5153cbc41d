"""Keeping the API's cached pond summaries fresh when the worker stores readings.

The API caches each pond's summary in Redis, and each API process keeps a short-lived local
copy; a write to a pond calls :func:`service.data.summary_keys.invalidate_summaries`, which
deletes the Redis entry and tells every API process to drop its copy. With a queue, readings
are written here instead, so after each database commit the worker does the same for the ponds
it just stored readings for, in one round trip per batch::

    invalidator = SummaryInvalidator("redis://127.0.0.1:6379/0", metrics=metrics)
    await invalidator.invalidate([(1, 7), (1, 9)])   # (organisation, pond); never raises
    await invalidator.aclose()

Redis is optional and soft here too: unset (``AQUA_REDIS_URL``), nothing is done; down, the
failure is logged once, counted, and Redis is skipped for ``retry_seconds``; the batch is
never held back or retried for it. The cache's TTL (``AQUA_CACHE_TTL_SECONDS``) bounds how long
a summary can stay stale when a delete is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.common.redisclient import fail_fast_redis
from service.data.summary_keys import PondRef, invalidate_summaries
from service.pipeline.metrics import WorkerMetrics

log = logging.getLogger("aqua.worker.cache")


class SummaryInvalidator:
    def __init__(
        self,
        url: str | None,
        *,
        metrics: WorkerMetrics,
        timeout_s: float = 0.25,
        retry_seconds: float = 2.0,
    ) -> None:
        self._client: Redis | None = None
        if url:
            self._client = fail_fast_redis(url, timeout_s)
            metrics.dependency_up.labels("redis").set(1)
        self.retry_seconds = retry_seconds
        self._metrics = metrics
        self._outcomes = {
            name: metrics.cache_invalidations.labels(name) for name in ("ok", "failed", "skipped")
        }
        self._down_until = 0.0
        self.up: bool | None = None  # None: not tried yet

    @property
    def configured(self) -> bool:
        return self._client is not None

    @property
    def state(self) -> str:
        """For /ready: disabled, up, down (or unknown before the first call)."""
        if self._client is None:
            return "disabled"
        return {None: "unknown", True: "up", False: "down"}[self.up]

    async def invalidate(self, refs: Collection[PondRef]) -> None:
        """Invalidate the cached summaries of ``refs``; failures are logged, never raised."""
        client = self._client
        if client is None or not refs:
            return
        if time.monotonic() < self._down_until:
            self._outcomes["skipped"].inc(len(refs))
            return
        try:
            await invalidate_summaries(client, refs)
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until = time.monotonic() + self.retry_seconds
            self._outcomes["failed"].inc(len(refs))
            if self.up is not False:
                log.warning(
                    "redis unavailable: cached summaries expire by their TTL meanwhile",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
                )
            self.up = False
            self._metrics.dependency_up.labels("redis").set(0)
            return
        self._outcomes["ok"].inc(len(refs))
        if self.up is not True:
            if self.up is False:
                log.info("redis available again: invalidating cached summaries")
            self._metrics.dependency_up.labels("redis").set(1)
        self.up = True

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

"""Redis as a soft dependency: every call may fail, and failing is cheap.

After a failure the client is considered down for ``retry_seconds``; calls during that time
fail at once instead of each waiting for a timeout. The ``dependency_up{dependency="redis"}``
gauge follows, and the transitions are logged once, not per request::

    try:
        value = await redis.call(lambda r: r.get("k"))
    except RedisUnavailable:
        value = None   # serve without the cache
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from service.api.metrics import ApiMetrics
from service.common.errors import DependencyUnavailable
from service.common.redisclient import fail_fast_redis

log = logging.getLogger("aqua.api.redis")
T = TypeVar("T")


class RedisUnavailable(DependencyUnavailable):
    """Redis is not configured, recently failed, or failed now."""


class SoftRedis:
    def __init__(
        self,
        url: str | None,
        *,
        timeout: float,
        retry_seconds: float,
        metrics: ApiMetrics,
    ) -> None:
        self.client: Redis | None = None
        self.url = url
        if url:
            self.client = fail_fast_redis(url, timeout)
        self.retry_seconds = retry_seconds
        self.timeout = timeout
        self._metrics = metrics
        self._down_until = 0.0
        self._up: bool | None = None
        if self.client is not None:
            metrics.set_dependency("redis", True)

    @property
    def configured(self) -> bool:
        return self.client is not None

    @property
    def up(self) -> bool:
        return self.client is not None and self._up is not False

    async def call(self, op: Callable[[Redis], Awaitable[T]]) -> T:
        client = self.client
        if client is None:
            raise RedisUnavailable("redis is not configured")
        if time.monotonic() < self._down_until:
            raise RedisUnavailable("redis recently failed")
        try:  # socket connect/read timeouts bound every command
            result = await op(client)
        except (RedisError, OSError, TimeoutError) as exc:
            self._mark_down(exc)
            raise RedisUnavailable(str(exc) or type(exc).__name__) from exc
        self._mark_up()
        return result

    def subscriber(self) -> Redis:
        """A client of its own for a subscription: no retries, so a lost connection surfaces
        to the subscriber (which must assume it missed messages) instead of being hidden."""
        if self.url is None:
            raise RedisUnavailable("redis is not configured")
        return Redis.from_url(
            self.url, socket_connect_timeout=self.timeout, retry=Retry(NoBackoff(), 0)
        )

    async def ping(self) -> float:
        """Ping regardless of the back-off; latency in seconds or :class:`RedisUnavailable`."""
        self._down_until = 0.0
        started = time.perf_counter()
        await self.call(lambda r: r.ping())
        return time.perf_counter() - started

    def _mark_down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.retry_seconds
        if self._up is not False:
            log.warning("redis unavailable, serving without it", extra={"error": repr(exc)[:300]})
        self._up = False
        self._metrics.set_dependency("redis", False)

    def _mark_up(self) -> None:
        if self._up is False:
            log.info("redis available again")
        if self._up is not True:
            self._metrics.set_dependency("redis", True)
        self._up = True

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

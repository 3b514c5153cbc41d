"""The asyncio Redis client the API and the worker use: short timeouts, one immediate retry."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def fail_fast_redis(url: str, timeout: float) -> Redis:
    """A client whose every call answers or fails within about ``timeout`` seconds (connect
    and read), retried once at once: Redis is a soft dependency, never worth a long wait."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )

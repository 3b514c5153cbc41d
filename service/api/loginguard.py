"""Limits on password guessing: attempts per username and per client IP, and a back-off per
username that doubles with each failure.

Both limits count every attempt before the password is checked (argon2 is the expensive
part). The client IP is the peer address, or, when the peer is a trusted proxy, the last hop
of its ``X-Forwarded-For`` (nginx overwrites that header with its own peer address, so a
client cannot choose it). After ``backoff_after`` failures in a row a username is locked for
``base``, then 2×, 4×… up to ``max`` seconds; a successful login resets it. Failures are shared
through Redis (with a local fallback when Redis is down)::

    guard = LoginGuard.from_settings(settings, redis)
    retry_after = await guard.admit("ana", client_ip(request, trusted))
    if retry_after: ...                   # 429 with Retry-After
    await guard.failed("ana")             # or guard.succeeded("ana")
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import time
from collections.abc import Iterable, Sequence

from starlette.requests import HTTPConnection

from service.api.ratelimit import RateLimiter
from service.api.settings import ApiSettings
from service.api.softredis import RedisUnavailable, SoftRedis

FAILURES_KEY = "aqua:login-failures:"
LOCKED_KEY = "aqua:login-locked:"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy that says whom it
    forwards for (the last hop of ``X-Forwarded-For``, the one the proxy itself wrote)."""
    host = peer or "unknown"
    if not trusted or not forwarded_for:
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if not any(address in network for network in trusted):
        return host
    last = forwarded_for.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return host


def request_client_ip(conn: HTTPConnection, trusted: Sequence[Network]) -> str:
    return client_ip(
        conn.client.host if conn.client else None, conn.headers.get("x-forwarded-for"), trusted
    )


class LoginGuard:
    def __init__(
        self,
        redis: SoftRedis,
        *,
        per_user: int,
        per_ip: int,
        window_seconds: int,
        backoff_after: int,
        backoff_base_seconds: float,
        backoff_max_seconds: float,
        sync_seconds: float = 0.1,
    ) -> None:
        self._redis = redis
        self.users = RateLimiter(
            redis, limit=per_user, window_seconds=window_seconds, sync_seconds=sync_seconds
        )
        self.ips = RateLimiter(
            redis, limit=per_ip, window_seconds=window_seconds, sync_seconds=sync_seconds
        )
        self.backoff_after = backoff_after
        self.backoff_base = backoff_base_seconds
        self.backoff_max = backoff_max_seconds
        # Used when Redis is unavailable: username -> (failures, locked until).
        self._local: dict[str, tuple[int, float]] = {}

    @classmethod
    def from_settings(cls, settings: ApiSettings, redis: SoftRedis) -> LoginGuard:
        return cls(
            redis,
            per_user=settings.login_limit_per_user,
            per_ip=settings.login_limit_per_ip,
            window_seconds=settings.login_limit_window_seconds,
            backoff_after=settings.login_backoff_after,
            backoff_base_seconds=settings.login_backoff_base_seconds,
            backoff_max_seconds=settings.login_backoff_max_seconds,
            sync_seconds=settings.rate_limit_sync_seconds,
        )

    @property
    def limiters(self) -> list[RateLimiter]:
        return [limiter for limiter in (self.users, self.ips) if limiter.enabled]

    async def admit(self, username: str, ip: str) -> int:
        """Seconds to wait before trying again (0: go ahead). Counts the attempt."""
        waits = [await self._locked_for(username)]
        if self.ips.enabled:
            decision = await self.ips.hit(f"login-ip:{ip}")
            waits.append(0 if decision.allowed else decision.retry_after)
        if self.users.enabled:
            decision = await self.users.hit(f"login-user:{username}")
            waits.append(0 if decision.allowed else decision.retry_after)
        return max(waits)

    async def failed(self, username: str) -> None:
        if self.backoff_base <= 0:
            return
        try:
            failures = int(await self._redis.call(lambda r: r.incr(FAILURES_KEY + username)))
            await self._redis.call(
                lambda r: r.expire(FAILURES_KEY + username, math.ceil(self.backoff_max * 2))
            )
        except RedisUnavailable:
            failures = self._local.get(username, (0, 0.0))[0] + 1
            self._local[username] = (failures, time.monotonic() + self._delay(failures))
            return
        delay = self._delay(failures)
        if delay > 0:
            try:
                await self._redis.call(
                    lambda r: r.set(LOCKED_KEY + username, "1", px=max(1, int(delay * 1000)))
                )
            except RedisUnavailable:
                self._local[username] = (failures, time.monotonic() + delay)

    async def succeeded(self, username: str) -> None:
        if self.backoff_base <= 0:
            return
        self._local.pop(username, None)
        with contextlib.suppress(RedisUnavailable):
            await self._redis.call(
                lambda r: r.delete(FAILURES_KEY + username, LOCKED_KEY + username)
            )

    def _delay(self, failures: int) -> float:
        excess = failures - self.backoff_after
        if excess < 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_base * 2 ** min(excess, 60)))

    async def _locked_for(self, username: str) -> int:
        if self.backoff_base <= 0:
            return 0
        try:
            wait = int(await self._redis.call(lambda r: r.pttl(LOCKED_KEY + username))) / 1000.0
        except RedisUnavailable:
            local = self._local.get(username)
            wait = 0.0 if local is None else local[1] - time.monotonic()
        return math.ceil(wait) if wait > 0 else 0

"""The login guard's arithmetic and the client address it limits, on a clock the test moves.

The client address decides which login limit a request counts against, so a client must not
be able to choose it: only a trusted proxy's own hop of ``X-Forwarded-For`` names the client.
The back-off runs on Redis when it is configured and on the process's own table otherwise;
both are driven here without sleeping (the local table through a fake monotonic clock, Redis
through the lock's own time-to-live).
"""

from __future__ import annotations

import asyncio
import math

import pytest
from api.api_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    Clock,
    clock_of,
    limited_client,
    settings_for,
)
from fastapi.testclient import TestClient

from service.api import loginguard
from service.api.app import create_app
from service.api.loginguard import FAILURES_KEY, LOCKED_KEY, LoginGuard, client_ip, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", " ", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # One hop: the proxy wrote it.
        ("10.1.2.3", "203.0.113.5", "203.0.113.5"),
        # Two and three hops: the last one is the proxy's; what the client sent before it
        # (a spoofed address, a trusted-looking one) is ignored.
        ("10.1.2.3", "198.51.100.7, 203.0.113.5", "203.0.113.5"),
        ("10.1.2.3", "10.9.9.9,198.51.100.7 ,  203.0.113.5 ", "203.0.113.5"),
        ("::1", "2001:db8::1, 2001:db8::2", "2001:db8::2"),
        # An untrusted peer, even one claiming a trusted proxy's address, is the client.
        ("192.0.2.1", "203.0.113.5", "192.0.2.1"),
        ("192.0.2.1", "10.0.0.1, 203.0.113.5", "192.0.2.1"),
        ("11.0.0.1", "203.0.113.5", "11.0.0.1"),
        # A trusted peer without a usable header is the client.
        ("10.1.2.3", "", "10.1.2.3"),
        ("10.1.2.3", "203.0.113.5, garbage", "10.1.2.3"),
        (None, "203.0.113.5", "unknown"),
    ],
)
def test_client_ip_takes_only_the_trusted_proxys_hop(
    peer: str | None, forwarded: str, expected: str
) -> None:
    assert client_ip(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_thelimited_client() -> None:
    assert client_ip("10.1.2.3", "203.0.113.5", []) == "10.1.2.3"
    assert parse_networks(["", "  ", "10.0.0.1"]) == parse_networks(["10.0.0.1/32"])


def _attempts(c: TestClient, forwarded: list[str]) -> list[int]:
    return [
        c.post(
            "/api/v1/auth/token",
            data={"username": f"user{i}", "password": "wrong-password"},
            headers={"X-Forwarded-For": hop},
        ).status_code
        for i, hop in enumerate(forwarded)
    ]


def test_a_client_behind_an_untrusted_proxy_cannot_spoof_its_way_past_the_ip_limit(
    sqlite_url: str,
) -> None:
    # The peer is a proxy, but not one the service trusts: every request is that peer's.
    with limited_client(
        sqlite_url, "192.0.2.50", login_limit_per_ip=2, trusted_proxies=["10.0.0.0/8"]
    ) as c:
        codes = _attempts(c, ["203.0.113.1", "10.0.0.1, 203.0.113.2", "203.0.113.3"])
    assert codes == [401, 401, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_ip_limit(sqlite_url: str) -> None:
    with limited_client(
        sqlite_url, "10.0.0.2", login_limit_per_ip=2, trusted_proxies=["10.0.0.0/8"]
    ) as c:
        # The client puts other addresses first; the proxy's hop stays the same: one client.
        spoofed = _attempts(c, [f"198.51.100.{i}, 203.0.113.1" for i in range(3)])
        others = _attempts(c, ["203.0.113.2", "203.0.113.3"])
    assert spoofed == [401, 401, 429]
    assert others == [401, 401]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The login guard's monotonic clock, moved by the test (only the guard's module sees it)."""
    return clock_of(loginguard, monkeypatch, 1000.0)


def _guard(sqlite_url: str, **settings: object) -> LoginGuard:
    values: dict[str, object] = {
        "login_limit_per_user": 0,
        "login_limit_per_ip": 0,
        "login_backoff_after": 2,
        "login_backoff_base_seconds": 4,
        "login_backoff_max_seconds": 20,
        **settings,
    }
    guard: LoginGuard = create_app(settings_for(sqlite_url, **values)).state.runtime.login
    return guard


def test_local_back_off_doubles_caps_expires_and_resets(sqlite_url: str, clock: Clock) -> None:
    guard = _guard(sqlite_url)

    async def scenario() -> list[object]:
        seen: list[object] = []
        # One failure is below backoff_after; the second locks for the base, each further one
        # doubles it up to the cap: 4, 8, 16, 20, 20.
        for _ in range(6):
            await guard.failed("ana")
            seen.append(await guard.admit("ana", "192.0.2.1"))
        clock.now += 19.5
        seen.append(await guard.admit("ana", "192.0.2.1"))  # half a second left: 1
        clock.now += 0.5
        seen.append(await guard.admit("ana", "192.0.2.1"))  # exactly over: 0
        seen.append(await guard.admit("bob", "192.0.2.1"))  # others are not affected
        await guard.succeeded("ana")
        seen.append(await guard.admit("ana", "192.0.2.1"))
        await guard.failed("ana")  # counting starts again
        seen.append(await guard.admit("ana", "192.0.2.1"))
        return seen

    assert asyncio.run(scenario()) == [0, 4, 8, 16, 20, 20, 1, 0, 0, 0, 0]


def test_delay_doubles_from_the_threshold_up_to_the_cap(sqlite_url: str) -> None:
    guard = _guard(sqlite_url, login_backoff_after=3, login_backoff_base_seconds=1.5)
    delays = [guard._delay(n) for n in range(1, 9)]
    assert delays == [0.0, 0.0, 1.5, 3.0, 6.0, 12.0, 20.0, 20.0]
    assert guard._delay(10**6) == 20.0  # no overflow however many failures


def test_disabled_back_off_never_locks(sqlite_url: str, clock: Clock) -> None:
    guard = _guard(sqlite_url, login_backoff_base_seconds=0)

    async def scenario() -> int:
        for _ in range(10):
            await guard.failed("ana")
        return await guard.admit("ana", "192.0.2.1")

    assert asyncio.run(scenario()) == 0
    assert guard._local == {}


@pytest.mark.integration
def test_redis_back_off_doubles_caps_and_resets(sqlite_url: str, redis_url: str) -> None:
    guard = _guard(sqlite_url, redis_url=redis_url)

    async def scenario() -> tuple[list[int], list[int], int, list[int]]:
        waits: list[int] = []
        locks: list[int] = []
        for _ in range(6):
            await guard.failed("ana")
            waits.append(await guard.admit("ana", "192.0.2.1"))
            locks.append(await guard._redis.call(lambda r: r.pttl(LOCKED_KEY + "ana")))
        failures_ttl = await guard._redis.call(lambda r: r.ttl(FAILURES_KEY + "ana"))
        await guard.succeeded("ana")
        after = [
            await guard.admit("ana", "192.0.2.1"),
            await guard._redis.call(lambda r: r.exists(FAILURES_KEY + "ana", LOCKED_KEY + "ana")),
        ]
        await guard._redis.close()
        return waits, locks, failures_ttl, after

    waits, locks, failures_ttl, after = asyncio.run(scenario())
    assert waits == [0, 4, 8, 16, 20, 20]
    # The lock lives exactly the back-off (milliseconds; Redis may have spent a few).
    assert locks[0] == -2
    for lock, delay in zip(locks[1:], [4, 8, 16, 20, 20], strict=True):
        assert delay * 1000 - 1000 < lock <= delay * 1000
    # Failures are remembered for twice the longest back-off, then forgotten.
    assert math.ceil(20 * 2) - 1 <= failures_ttl <= math.ceil(20 * 2)
    assert after == [0, 0]


def test_a_success_lifts_the_back_off_over_http(sqlite_url: str, clock: Clock) -> None:
    with limited_client(
        sqlite_url, "192.0.2.9", login_backoff_after=1, login_backoff_base_seconds=30
    ) as c:
        token = "/api/v1/auth/token"
        assert c.post(token, data={"username": ADMIN, "password": "nope"}).status_code == 401
        locked = c.post(token, data={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert (locked.status_code, locked.headers["retry-after"]) == (429, "30")
        clock.now += 29.5  # half a second left: still locked, for one more second
        locked = c.post(token, data={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert (locked.status_code, locked.headers["retry-after"]) == (429, "1")
        clock.now += 0.5
        ok = c.post(token, data={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert ok.status_code == 200
        # The success reset the count: one more failure locks for the base again, not 60 s.
        assert c.post(token, data={"username": ADMIN, "password": "nope"}).status_code == 401
        again = c.post(token, data={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert (again.status_code, again.headers["retry-after"]) == (429, "30")


def test_a_proxy_range_may_be_written_with_host_bits() -> None:
    assert parse_networks(["10.1.2.3/8"]) == parse_networks(["10.0.0.0/8"])


def test_a_back_off_under_a_second_still_locks_and_resets(sqlite_url: str, clock: Clock) -> None:
    guard = _guard(sqlite_url, login_backoff_after=1, login_backoff_base_seconds=0.5)

    async def scenario() -> list[int]:
        await guard.failed("ana")
        locked = await guard.admit("ana", "192.0.2.1")  # half a second, rounded up
        await guard.failed("ana")
        doubled = await guard.admit("ana", "192.0.2.1")
        await guard.succeeded("ana")
        reset = await guard.admit("ana", "192.0.2.1")
        await guard.failed("ana")
        return [locked, doubled, reset, await guard.admit("ana", "192.0.2.1")]

    assert asyncio.run(scenario()) == [1, 1, 0, 1]
    clock.now += 0.5
    assert asyncio.run(guard.admit("ana", "192.0.2.1")) == 0

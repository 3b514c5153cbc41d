"""toxiproxy from the harness, in front of the harness's real Redis and PostgreSQL: what a
client sees through the proxy when a toxic is added, and after it is removed.

Delays are measured against a baseline taken in the same test through the same proxy (the
median of a few round trips), with a generous tolerance: the machine is shared.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from infra_harness import ToxiproxyFactory, require

from sre_cli.errors import ConfigError
from sre_cli.infra import binaries
from sre_cli.infra.postgres import PostgresServer
from sre_cli.infra.process import PortInUse, free_port
from sre_cli.infra.redis import RedisServer
from sre_cli.infra.toxiproxy import Proxy, Toxic, Toxiproxy, ToxiproxyServer

pytestmark = pytest.mark.integration

LATENCY_MS = 250


def _median_seconds(call: Callable[[], object], rounds: int = 5) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


@pytest.fixture
def redis_proxy(
    toxiproxy_factory: ToxiproxyFactory, redis_server: RedisServer
) -> Iterator[tuple[Toxiproxy, int]]:
    """A toxiproxy in front of Redis: its client and the proxy's port."""
    server = toxiproxy_factory({"redis": redis_server.port})
    yield server.client(), server.proxies[0].listen
    server.client().reset()


def _redis_client(port: int, timeout: float = 10.0) -> redis.Redis:
    # No retries: a broken connection must show, not be papered over by a reconnect.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(port=port, socket_timeout=timeout, retry=Retry(NoBackoff(), 0))


def test_latency_added_on_the_proxy_is_seen_by_a_redis_client(
    redis_proxy: tuple[Toxiproxy, int],
) -> None:
    api, port = redis_proxy
    client = _redis_client(port)
    baseline = _median_seconds(client.ping)
    api.add_toxic("redis", Toxic("latency", {"latency": LATENCY_MS, "jitter": 0}))
    slowed = _median_seconds(client.ping)
    added_ms = (slowed - baseline) * 1000
    assert LATENCY_MS * 0.8 <= added_ms <= LATENCY_MS + 2000, f"added {added_ms:.0f} ms"
    assert [t["name"] for t in api.toxics("redis")] == ["latency_downstream"]

    assert api.remove_toxics("redis") == ["latency_downstream"]
    restored = _median_seconds(client.ping)
    assert (restored - baseline) * 1000 < LATENCY_MS * 0.5, (baseline, restored)
    assert api.toxics("redis") == []


def test_reset_peer_breaks_open_and_new_connections_until_removed(
    redis_proxy: tuple[Toxiproxy, int],
) -> None:
    api, port = redis_proxy
    client = _redis_client(port)
    assert client.set("toxiproxy:fish", "carp")
    api.add_toxic("redis", Toxic("reset_peer", {"timeout": 0}))
    with pytest.raises(redis.ConnectionError, match=r"reset|closed"):
        client.get("toxiproxy:fish")
    with pytest.raises(redis.ConnectionError, match=r"reset|closed"):
        _redis_client(port).ping()

    api.remove_toxics("redis")
    assert _redis_client(port).get("toxiproxy:fish") == b"carp"


def test_timeout_toxic_holds_every_answer_back(redis_proxy: tuple[Toxiproxy, int]) -> None:
    api, port = redis_proxy
    api.add_toxic("redis", Toxic("timeout", {"timeout": 0}))
    with pytest.raises(redis.TimeoutError):
        _redis_client(port, timeout=1.0).ping()
    api.remove_toxics("redis")
    assert _redis_client(port).ping()


def test_bandwidth_toxic_slows_a_large_read(redis_proxy: tuple[Toxiproxy, int]) -> None:
    api, port = redis_proxy
    client = _redis_client(port, timeout=30.0)
    client.set("toxiproxy:big", b"x" * 96 * 1024)
    baseline = _median_seconds(lambda: client.get("toxiproxy:big"), rounds=3)
    api.add_toxic("redis", Toxic("bandwidth", {"rate": 48}))  # KB/s: about 2 s for 96 KiB
    slowed = _median_seconds(lambda: client.get("toxiproxy:big"), rounds=1)
    assert slowed - baseline >= 1.0, (baseline, slowed)


def test_latency_is_seen_by_a_postgres_client(
    toxiproxy_factory: ToxiproxyFactory, postgres_server: PostgresServer
) -> None:
    import asyncpg

    server = toxiproxy_factory({"postgres": postgres_server.port})
    api, port = server.client(), server.proxies[0].listen
    url = postgres_server.url.replace(f":{postgres_server.port}/", f":{port}/")

    async def measure() -> tuple[float, float]:
        conn = await asyncpg.connect(url, timeout=10)
        try:

            async def query_seconds() -> float:
                samples = []
                for _ in range(5):
                    started = time.perf_counter()
                    assert await conn.fetchval("SELECT 1") == 1
                    samples.append(time.perf_counter() - started)
                return statistics.median(samples)

            baseline = await query_seconds()
            api.add_toxic("postgres", Toxic("latency", {"latency": LATENCY_MS, "jitter": 0}))
            return baseline, await query_seconds()
        finally:
            api.reset()
            await conn.close()

    baseline, slowed = asyncio.run(measure())
    added_ms = (slowed - baseline) * 1000
    assert LATENCY_MS * 0.8 <= added_ms <= LATENCY_MS + 2000, f"added {added_ms:.0f} ms"


def test_a_taken_proxy_port_is_refused_before_the_server_starts(tmp_path: Path) -> None:
    require(binaries.toxiproxy)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ToxiproxyServer(tmp_path, proxies=[Proxy("redis", port, free_port())])
        with pytest.raises(PortInUse, match="proxy redis"):
            server.start()
    assert not server.running()


def test_a_toxic_on_an_unknown_proxy_is_a_clear_error(redis_proxy: tuple[Toxiproxy, int]) -> None:
    api, _ = redis_proxy
    with pytest.raises(ConfigError, match="not found"):
        api.add_toxic("kafka", Toxic("latency", {"latency": 10}))
    with pytest.raises(ConfigError, match="unknown toxic type"):
        api.add_toxic("redis", Toxic("slicer", {}))


def test_version_is_the_pinned_one(redis_proxy: tuple[Toxiproxy, int]) -> None:
    from sre_cli.infra import versions

    api, _ = redis_proxy
    pinned = versions.toxiproxy_version()
    assert binaries.toxiproxy_version() == pinned.lstrip("v")
    assert api.version() == pinned

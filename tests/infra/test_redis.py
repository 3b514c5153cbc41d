"""Redis from the harness: SET then GET through the redis client."""

from __future__ import annotations

import uuid

import pytest

from sre_cli.infra.redis import RedisServer, ping

pytestmark = pytest.mark.integration


def test_set_and_get(redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        key = f"smoke:{uuid.uuid4().hex}"
        assert client.set(key, "trout", ex=60) is True
        assert client.get(key) == b"trout"
        assert client.config_get("save") == {"save": ""}
    finally:
        client.close()


def test_ping_and_url(redis_server: RedisServer) -> None:
    assert ping(redis_server.port)
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"

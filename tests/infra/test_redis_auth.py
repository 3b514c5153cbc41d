"""Redis with a password: unauthenticated clients can do nothing, CONFIG included."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sre_cli.infra.redis import RedisServer, ping

pytestmark = pytest.mark.integration


def _raw(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(command)
        return sock.recv(256)


def test_requirepass_refuses_unauthenticated_commands(tmp_path: Path) -> None:
    with RedisServer(tmp_path, password="a-test-password-0123") as server:
        assert server.conf_path.stat().st_mode & 0o777 == 0o600
        assert _raw(server.port, b"CONFIG GET requirepass\r\n").startswith(b"-NOAUTH")
        assert _raw(server.port, b"PING\r\n").startswith(b"-NOAUTH")
        assert not ping(server.port, password="wrong")
        assert ping(server.port, password="a-test-password-0123")
        import redis

        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping()
        finally:
            client.close()

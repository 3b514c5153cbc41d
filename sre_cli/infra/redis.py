"""Redis on 127.0.0.1 in the foreground, no persistence, data dir in ``workdir``.

Readiness is a real ``PING`` answered with ``+PONG`` (raw RESP over a socket, so this module
needs no client package)::

    with RedisServer(tmp) as r:
        redis.Redis.from_url(r.url).set("k", "v")
"""

from __future__ import annotations

import socket
from pathlib import Path

from sre_cli.infra import binaries
from sre_cli.infra.process import LOOPBACK, Server

__all__ = ["RedisServer", "ping"]


def ping(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """True when the Redis server at host:port answers PING with PONG."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = sock.recv(64)
    return reply.startswith(b"+PONG")


class RedisServer(Server):
    """``redis-server`` bound to 127.0.0.1 without RDB snapshots or AOF."""

    name = "redis"
    ready_timeout = 20.0

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "redis-data"

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _argv(self) -> list[str]:
        return [
            str(binaries.find("redis-server")),
            "--bind",
            LOOPBACK,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]

    def _probe(self) -> bool:
        return ping(self.port)

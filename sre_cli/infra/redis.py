"""Redis on 127.0.0.1 in the foreground, no persistence, data dir in ``workdir``.

Readiness is a real ``PING`` answered with ``+PONG`` (raw RESP over a socket, so this module
needs no client package)::

    with RedisServer(tmp) as r:
        redis.Redis.from_url(r.url).set("k", "v")
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from sre_cli.infra import binaries
from sre_cli.infra.process import LOOPBACK, Server

__all__ = ["RedisServer", "ping"]


def ping(
    port: int, host: str = LOOPBACK, timeout: float = 1.0, password: str | None = None
) -> bool:
    """True when the Redis server at host:port answers PING with PONG (after AUTH when a
    password is given)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if password is not None:
            secret = password.encode()
            sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret))
            if not sock.recv(64).startswith(b"+OK"):
                return False
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = sock.recv(64)
    return reply.startswith(b"+PONG")


class RedisServer(Server):
    """``redis-server`` bound to 127.0.0.1 without RDB snapshots or AOF; with ``password``,
    every client must AUTH first (``requirepass``, from a 0600 config file, never argv)."""

    name = "redis"
    ready_timeout = 20.0

    def __init__(
        self, workdir: Path, port: int | None = None, *, password: str | None = None
    ) -> None:
        super().__init__(workdir, port)
        self.password = password

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{LOOPBACK}:{self.port}/0"

    @property
    def conf_path(self) -> Path:
        return self.workdir / "redis.conf"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "redis-data"

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.password:
            fd = os.open(self.conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f'requirepass "{self.password}"\n')
            os.chmod(self.conf_path, 0o600)

    def _argv(self) -> list[str]:
        conf = [str(self.conf_path)] if self.password else []
        return [
            str(binaries.find("redis-server")),
            *conf,
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
        return ping(self.port, password=self.password)

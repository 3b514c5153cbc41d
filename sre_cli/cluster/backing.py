"""The reference stack's data stores for the local cluster: the harness's own servers,
listening on the node's bridge address as well as on loopback.

Why not pods: PostgreSQL refuses to run as root and Kafka wants a JVM, neither has an image
here, and the tests already know these servers (readiness by a real query, clean stop). The
pods reach them through Services without selector (``postgres``, ``redis``, ``kafka``) whose
endpoints are the bridge address, so the workloads keep the names the manifests use. Every
store requires a password on the bridge (PostgreSQL scram-sha-256 from the pod subnet, for the
owner and app roles only, never the superuser; Redis ``requirepass``); Kafka's bridge listener
is plaintext, reachable only from the pod subnet.

Example::

    stores = BackingStores(workdir, node_ip="10.244.0.1", pod_subnet="10.244.0.0/24")
    stores.start()          # secrets generated, servers ready
    stores.endpoints()      # {"postgres": 5432-ish port, ...}
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from urllib.parse import quote

from sre_cli.errors import ComponentError
from sre_cli.infra.kafka import KafkaServer
from sre_cli.infra.pgroles import APP, OWNER, DatabaseRoles
from sre_cli.infra.postgres import DB_NAME, PostgresServer
from sre_cli.infra.process import free_port
from sre_cli.infra.redis import RedisServer

__all__ = [
    "BackingStores",
    "BridgeKafka",
    "open_postgres",
    "open_redis",
    "postgres_url",
    "redis_url",
]


class BridgePostgres(PostgresServer):
    """The harness's PostgreSQL, listening on loopback and on the node's bridge address."""

    def __init__(self, workdir: Path, *, node_ip: str) -> None:
        super().__init__(workdir, roles=DatabaseRoles.generate())
        self.node_ip = node_ip

    @property
    def listen_addresses(self) -> str:
        return f"127.0.0.1,{self.node_ip}"


def open_postgres(server: PostgresServer, pod_subnet: str) -> None:
    """Let the pod subnet in as the owner and app roles, with their passwords
    (scram-sha-256), and reload the rules."""
    hba = server.data_dir / "pg_hba.conf"
    with hba.open("a", encoding="utf-8") as fh:
        fh.write(f"host {DB_NAME} {OWNER},{APP} {pod_subnet} scram-sha-256\n")
    if server.psql("select pg_reload_conf()") != "t":
        raise ComponentError("postgres: reloading pg_hba.conf failed")


def open_redis(server: RedisServer, node_ip: str, password: str) -> None:
    """Make a running harness Redis listen on the bridge too, behind ``requirepass``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_resp("CONFIG", "SET", "bind", f"127.0.0.1 {node_ip}"))
        sock.sendall(_resp("CONFIG", "SET", "requirepass", password))
        data = b""
        while data.count(b"\r\n") < 2:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
    if data != b"+OK\r\n+OK\r\n":
        raise ComponentError(f"redis: opening it on {node_ip} failed: {data[:200]!r}")


def _resp(*words: str) -> bytes:
    out = f"*{len(words)}\r\n"
    for w in words:
        out += f"${len(w.encode())}\r\n{w}\r\n"
    return out.encode()


def postgres_url(server: PostgresServer, role: str, host: str, port: int) -> str:
    """The asyncpg URL of ``role`` (owner or app) as the pods reach the server."""
    assert server.roles is not None
    password = quote(server.roles.password(role), safe="")
    return f"postgresql+asyncpg://{role}:{password}@{host}:{port}/{DB_NAME}"


def redis_url(password: str, host: str, port: int) -> str:
    return f"redis://:{password}@{host}:{port}/0"


class BridgeKafka(KafkaServer):
    """Kafka with a second listener (``POD``) on the bridge, advertised as such to pods."""

    def __init__(self, workdir: Path, *, node_ip: str, pod_port: int) -> None:
        super().__init__(workdir)
        self.node_ip = node_ip
        self.pod_port = pod_port

    def properties(self) -> dict[str, str]:
        props = super().properties()
        props["listeners"] += f",POD://{self.node_ip}:{self.pod_port}"
        props["advertised.listeners"] += f",POD://{self.node_ip}:{self.pod_port}"
        props["listener.security.protocol.map"] += ",POD:PLAINTEXT"
        return props


class BackingStores:
    """PostgreSQL, Redis and Kafka for the pods; passwords generated per cluster."""

    def __init__(self, workdir: Path, *, node_ip: str, pod_subnet: str) -> None:
        self.workdir = workdir
        self.node_ip = node_ip
        self.pod_subnet = pod_subnet
        self.redis_password = secrets.token_urlsafe(24)
        self.postgres = BridgePostgres(workdir / "postgres", node_ip=node_ip)
        self.redis = RedisServer(workdir / "redis")
        self.kafka_pod_port = free_port()
        self.kafka = BridgeKafka(workdir / "kafka", node_ip=node_ip, pod_port=self.kafka_pod_port)

    def start(self) -> None:
        self.postgres.start()
        open_postgres(self.postgres, self.pod_subnet)
        self.redis.start()
        open_redis(self.redis, self.node_ip, self.redis_password)
        self.kafka.start()

    def pids(self) -> dict[str, int]:
        out = {}
        for name, server in (
            ("postgres", self.postgres),
            ("redis", self.redis),
            ("kafka", self.kafka),
        ):
            proc = server.process
            if proc is not None and proc.pid is not None:
                out[name] = proc.pid
        return out

    def stop(self) -> None:
        for server in (self.kafka, self.redis, self.postgres):
            server.stop()

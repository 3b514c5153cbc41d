"""The reference stack's data stores for the local cluster: the harness's own servers,
listening on the node's bridge address as well as on loopback.

Why not pods: PostgreSQL refuses to run as root and Kafka wants a JVM, neither has an image
here, and the tests already know these servers (readiness by a real query, clean stop). The
pods reach them through Services without selector (``postgres``, ``redis``, ``kafka``) whose
endpoints are the bridge address, so the workloads keep the names the manifests use. Every
store requires a password on the bridge (PostgreSQL scram-sha-256 from the pod subnet, Redis
``requirepass``); Kafka's bridge listener is plaintext, reachable only from the pod subnet.

Example::

    stores = BackingStores(workdir, node_ip="10.244.0.1", pod_subnet="10.244.0.0/24")
    stores.start()          # secrets generated, servers ready
    stores.endpoints()      # {"postgres": 5432-ish port, ...}
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

from sre_cli.infra.kafka import KafkaServer
from sre_cli.infra.postgres import DB_NAME, DB_USER, PostgresServer
from sre_cli.infra.process import free_port
from sre_cli.infra.redis import RedisServer

__all__ = ["BackingStores", "BridgeKafka", "BridgePostgres", "BridgeRedis"]


class BridgePostgres(PostgresServer):
    """PostgreSQL on loopback (trust, for the harness) and the bridge (password, for pods)."""

    def __init__(self, workdir: Path, *, node_ip: str, pod_subnet: str, password: str) -> None:
        super().__init__(workdir)
        self.node_ip = node_ip
        self.pod_subnet = pod_subnet
        self.password = password

    def _prepare(self) -> None:
        super()._prepare()
        hba = self.data_dir / "pg_hba.conf"
        line = f"host {DB_NAME} {DB_USER} {self.pod_subnet} scram-sha-256\n"
        if line not in hba.read_text(encoding="utf-8"):
            with hba.open("a", encoding="utf-8") as fh:
                fh.write(line)

    def _argv(self) -> list[str]:
        argv = super()._argv()
        return [
            f"listen_addresses=127.0.0.1,{self.node_ip}" if a.startswith("listen_addresses=") else a
            for a in argv
        ] + ["-c", "password_encryption=scram-sha-256"]

    def _after_ready(self) -> None:
        super()._after_ready()
        self.psql(f"alter role {DB_USER} password '{self.password}'")

    def pod_url(self, host: str) -> str:
        return f"postgresql://{DB_USER}:{self.password}@{host}:{self.port}/{DB_NAME}"


class BridgeRedis(RedisServer):
    """Redis on loopback and the bridge, with a password (``requirepass``)."""

    def __init__(self, workdir: Path, *, node_ip: str, password: str) -> None:
        super().__init__(workdir)
        self.node_ip = node_ip
        self.password = password

    def _argv(self) -> list[str]:
        argv = super()._argv()
        i = argv.index("--bind")
        argv[i + 1 : i + 2] = ["127.0.0.1", self.node_ip]
        return [*argv, "--requirepass", self.password]

    def _probe(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
            data = b""
            while data.count(b"\r\n") < 2:
                chunk = sock.recv(64)
                if not chunk:
                    return False
                data += chunk
        return data == b"+OK\r\n+PONG\r\n"

    def pod_url(self, host: str) -> str:
        return f"redis://:{self.password}@{host}:{self.port}/0"


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
        self.postgres = BridgePostgres(
            workdir / "postgres",
            node_ip=node_ip,
            pod_subnet=pod_subnet,
            password=secrets.token_urlsafe(24),
        )
        self.redis = BridgeRedis(
            workdir / "redis", node_ip=node_ip, password=secrets.token_urlsafe(24)
        )
        self.kafka_pod_port = free_port()
        self.kafka = BridgeKafka(workdir / "kafka", node_ip=node_ip, pod_port=self.kafka_pod_port)

    def start(self) -> None:
        self.postgres.start()
        self.redis.start()
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

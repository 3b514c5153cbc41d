"""A single-node Kafka 4.x broker in KRaft combined mode (broker + controller), from jars.

The jars come from ``scripts/fetch-kafka`` (version pinned in ``scripts/versions.env``).
``start`` writes ``server.properties``, formats the log dir once with ``StorageTool`` and runs
``kafka.Kafka`` with a small heap. Readiness is a ``describe_cluster`` through kafka-python's
admin client that lists this broker unfenced, not an open port::

    with KafkaServer(tmp) as kafka:
        KafkaProducer(bootstrap_servers=kafka.bootstrap).send("topic", b"x")

Internal topics have one partition and replication factor 1, so the first consumer group
comes up in a second instead of creating fifty offset partitions.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sre_cli.errors import ComponentError, MissingDependency
from sre_cli.infra import binaries
from sre_cli.infra.process import LOOPBACK, Server, free_port, tcp_open

__all__ = ["DEFAULT_JVM_OPTS", "KafkaServer", "new_cluster_id"]

NODE_ID = 1
# Serial GC and C1-only JIT: fewer threads and far less compile work while starting on two
# shared cores (start time about halves under load); peak throughput is not the point here.
DEFAULT_JVM_OPTS: tuple[str, ...] = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
_LOG4J2 = """\
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""


def new_cluster_id() -> str:
    """22 characters of URL-safe base64 over 16 random bytes, as Kafka's own ``Uuid``."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # a leading dash reads as a CLI option
            return cluster_id


def _admin_client(bootstrap: str, timeout_ms: int) -> Any:
    try:
        from kafka import KafkaAdminClient
    except ImportError as exc:
        raise MissingDependency(
            "kafka-python is not installed (needed to check the broker is ready)",
            hint="install aqua with its service extra: "
            "pip install '/path/to/aqua[service]' (README)",
        ) from exc
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="aqua-infra",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


class KafkaServer(Server):
    """Kafka broker and controller in one JVM on two free ports of 127.0.0.1."""

    name = "kafka"
    ready_timeout = 120.0
    stop_timeout = 30.0

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        controller_port: int | None = None,
        heap: str = "512m",
        extra_properties: dict[str, str] | None = None,
        jvm_opts: Sequence[str] = DEFAULT_JVM_OPTS,
        proxied: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(workdir, port)
        #: (listen port, advertised port): a second listener, ``PROXIED``, for clients that
        #: come through a TCP proxy on the advertised port; its metadata names the proxy, so
        #: they stay behind it after bootstrapping.
        self.proxied = proxied
        self._requested_controller_port = controller_port
        self.controller_port = controller_port or 0
        self.heap = heap
        self.jvm_opts = tuple(jvm_opts)
        self.extra_properties = dict(extra_properties or {})

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def home(self) -> Path:
        return self.workdir / "kafka"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def properties_path(self) -> Path:
        return self.home / "server.properties"

    def create_topics(self, names: Sequence[str], partitions: int = 1) -> None:
        """Create topics (replication factor 1); existing ones are left alone."""
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = _admin_client(self.bootstrap, 10_000)
        try:
            for name in names:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            admin.close()

    # -- Server hooks --------------------------------------------------------------------------

    def properties(self) -> dict[str, str]:
        """The broker's ``server.properties`` as a mapping (ports must be chosen first)."""
        props = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.voters": f"{NODE_ID}@{LOOPBACK}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.proxied is not None:
            listen, advertised = self.proxied
            props["listeners"] += f",PROXIED://{LOOPBACK}:{listen}"
            props["advertised.listeners"] += f",PROXIED://{LOOPBACK}:{advertised}"
            props["listener.security.protocol.map"] += ",PROXIED:PLAINTEXT"
        props.update(self.extra_properties)
        return props

    def _prepare(self) -> None:
        if self._requested_controller_port is None:
            self.controller_port = free_port()
            while self.controller_port == self.port:
                self.controller_port = free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.properties").write_text(_LOG4J2, encoding="utf-8")
        text = "".join(f"{key}={value}\n" for key, value in self.properties().items())
        self.properties_path.write_text(text, encoding="utf-8")
        if not (self.data_dir / "meta.properties").is_file():
            self._format()

    def _java(self, main: str, *args: str) -> list[str]:
        libs = binaries.kafka_libs()
        return [
            str(binaries.find("java")),
            f"-Xms{min(128, _megabytes(self.heap))}m",
            f"-Xmx{self.heap}",
            *self.jvm_opts,
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _format(self) -> None:
        import subprocess

        cluster_id_path = self.home / "cluster.id"
        if not cluster_id_path.is_file():
            cluster_id_path.write_text(new_cluster_id(), encoding="utf-8")
        cluster_id = cluster_id_path.read_text(encoding="utf-8").strip()
        # With a static controller.quorum.voters the format must not use --standalone.
        argv = self._java(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.properties_path),
            "-g",
        )
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
            raise ComponentError("kafka: storage format failed:\n" + "\n".join(tail))

    def _argv(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.properties_path))

    def _probe(self) -> bool:
        if not tcp_open(self.port):
            return False
        admin = _admin_client(self.bootstrap, 3000)
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
        brokers = cluster.get("brokers", []) if isinstance(cluster, dict) else []
        return any(b.get("broker_id") == NODE_ID and not b.get("is_fenced") for b in brokers)


def _megabytes(size: str) -> int:
    """``'512m'`` -> 512, ``'1g'`` -> 1024 (JVM heap size notation)."""
    unit = size[-1].lower()
    number = int(size[:-1]) if unit in "kmg" else int(size)
    return {"k": number // 1024, "m": number, "g": number * 1024}.get(unit, number // (1 << 20))

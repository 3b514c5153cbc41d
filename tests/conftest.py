"""Session fixtures: real servers on 127.0.0.1 from :mod:`sre_cli.infra`.

Each pytest-xdist worker is its own session, so each worker gets its own servers on free
ports in its own temporary directory; nothing is shared between workers. A server starts
the first time a test asks for it and stops at the end of the session. A missing binary
skips the test with the provisioning hint, or fails it under ``CI=true``
(:func:`infra_harness.require_binary`).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import pytest
from infra_harness import (
    NginxFactory,
    PrometheusFactory,
    ToxiproxyFactory,
    require,
    require_binary,
)

from sre_cli.errors import MissingDependency

if TYPE_CHECKING:
    from sre_cli.infra.alertmanager import AlertmanagerServer
    from sre_cli.infra.jaeger import JaegerServer
    from sre_cli.infra.kafka import KafkaServer
    from sre_cli.infra.nginx import NginxServer
    from sre_cli.infra.postgres import PostgresServer
    from sre_cli.infra.process import Server
    from sre_cli.infra.prometheus import ConfigSource, PrometheusServer
    from sre_cli.infra.redis import RedisServer
    from sre_cli.infra.toxiproxy import ToxiproxyServer

__all__ = ["require_binary"]

S = TypeVar("S")
Srv = TypeVar("Srv", bound="Server")
P = ParamSpec("P")


def pytest_configure(config: pytest.Config) -> None:
    _interrupt_on_sigterm()


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a CI time limit, a cancelled run) ends the session as Ctrl-C does: the
    fixtures tear down, so the servers, which run in process groups of their own, stop too.
    In every process: the pytest-xdist controller and each worker."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends at once
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope="session")
def tmp_workdir() -> Iterator[Path]:
    """A directory for this session's servers, removed at the end (AQUA_KEEP_TMP=1 keeps it).

    It is world-traversable (0755) because PostgreSQL runs as the ``postgres`` OS user, which
    cannot enter pytest's private ``/tmp/pytest-of-root``.
    """
    base = Path(tempfile.mkdtemp(prefix="aqua-test-"))
    base.chmod(0o755)
    yield base
    if os.environ.get("AQUA_KEEP_TMP") != "1":
        shutil.rmtree(base, ignore_errors=True)


def _unique_dir(parent: Path, stem: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=parent))


def _serve(
    server: Callable[[Path], AbstractContextManager[S]], tmp_workdir: Path, stem: str
) -> Iterator[S]:
    """One server in its own directory under ``tmp_workdir``, stopped when the session ends."""
    with server(_unique_dir(tmp_workdir, stem)) as started:
        yield started


def _start_each(build: Callable[P, Srv]) -> Iterator[Callable[P, Srv]]:
    """The body of a factory fixture: each call starts the server ``build`` makes; all of them
    stop when the session ends, the last started first."""
    started: list[Srv] = []

    def factory(*args: P.args, **kwargs: P.kwargs) -> Srv:
        server = build(*args, **kwargs)
        started.append(server)
        return server.start()

    yield factory
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_workdir: Path) -> Iterator[PostgresServer]:
    for tool in ("initdb", "postgres", "psql"):
        require_binary(tool)
    from sre_cli.infra.postgres import PostgresServer

    yield from _serve(PostgresServer, tmp_workdir, "postgres")


@pytest.fixture(scope="session")
def redis_server(tmp_workdir: Path) -> Iterator[RedisServer]:
    require_binary("redis-server")
    from sre_cli.infra.redis import RedisServer

    yield from _serve(RedisServer, tmp_workdir, "redis")


def _kafka_client() -> None:
    try:
        import kafka  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            "kafka-python is not installed", hint="pip install 'aqua-sre[service]'"
        ) from exc


@pytest.fixture(scope="session")
def kafka_server(tmp_workdir: Path) -> Iterator[KafkaServer]:
    require_binary("java")
    from sre_cli.infra import binaries
    from sre_cli.infra.kafka import KafkaServer

    require(binaries.kafka_libs)
    require(_kafka_client)
    yield from _serve(KafkaServer, tmp_workdir, "kafka")


@pytest.fixture(scope="session")
def jaeger_server(tmp_workdir: Path) -> Iterator[JaegerServer]:
    from sre_cli.infra import binaries
    from sre_cli.infra.jaeger import JaegerServer

    require(binaries.jaeger)
    yield from _serve(JaegerServer, tmp_workdir, "jaeger")


@pytest.fixture(scope="session")
def toxiproxy_factory(tmp_workdir: Path) -> Iterator[ToxiproxyFactory]:
    """Start a toxiproxy per call, one proxy per ``name=upstream port`` on a free loopback
    port; all stop at session end."""
    from sre_cli.infra import binaries
    from sre_cli.infra.process import free_port
    from sre_cli.infra.toxiproxy import Proxy, ToxiproxyServer

    require(binaries.toxiproxy)

    def build(upstreams: dict[str, int]) -> ToxiproxyServer:
        proxies = [Proxy(name, free_port(), port) for name, port in upstreams.items()]
        return ToxiproxyServer(_unique_dir(tmp_workdir, "toxiproxy"), proxies=proxies)

    yield from _start_each(build)


@pytest.fixture(scope="session")
def alertmanager_server(tmp_workdir: Path) -> Iterator[AlertmanagerServer]:
    require_binary("alertmanager")
    from sre_cli.infra.alertmanager import AlertmanagerServer

    yield from _serve(AlertmanagerServer, tmp_workdir, "alertmanager")


@pytest.fixture(scope="session")
def prometheus_factory(tmp_workdir: Path) -> Iterator[PrometheusFactory]:
    """Start a Prometheus per call (own port and workdir); all stop at session end."""
    require_binary("prometheus")
    from sre_cli.infra.prometheus import PrometheusServer

    def build(
        config_yaml: ConfigSource,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        storage_dir: Path | None = None,
    ) -> PrometheusServer:
        return PrometheusServer(
            _unique_dir(tmp_workdir, "prometheus"),
            config_yaml,
            port=port,
            extra_args=extra_args,
            storage_dir=storage_dir,
        )

    yield from _start_each(build)


@pytest.fixture(scope="session")
def nginx_factory(tmp_workdir: Path) -> Iterator[NginxFactory]:
    """Start an nginx per call; ``conf_text_builder(port)`` returns the ``http {}`` body."""
    require_binary("nginx")
    from sre_cli.infra.nginx import NginxServer

    def build(conf_text_builder: Callable[[int], str], *, port: int | None = None) -> NginxServer:
        return NginxServer(_unique_dir(tmp_workdir, "nginx"), conf_text_builder, port=port)

    yield from _start_each(build)

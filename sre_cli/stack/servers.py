"""Servers of the stack, started through the real-server library :mod:`sre_cli.infra`.

:class:`ServerRunner` adapts an infra :class:`~sre_cli.infra.process.Server` to the
supervisor's :class:`~sre_cli.stack.runners.Runner`: the server's own ``start`` prepares its
data (``initdb``, Kafka storage format, rendered configs) and waits for its readiness probe;
the supervisor then confirms with its protocol probe. Each server keeps its data in
``ROOT/data/NAME/`` across restarts and ``down``/``up``; its log is linked at
``ROOT/logs/NAME.log``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sre_cli.errors import ConfigError
from sre_cli.stack.configs import (
    alertmanager_yaml,
    external_url,
    monitoring_htpasswd,
    nginx_http_body,
    prometheus_yaml,
)
from sre_cli.stack.runners import Runner, describe_returncode
from sre_cli.stack.spec import ComponentSpec, StackPlan, StateLayout

if TYPE_CHECKING:
    from sre_cli.infra.process import Server
    from sre_cli.infra.toxiproxy import Proxy

__all__ = ["ServerRunner", "fault_proxies", "server_runner"]

KAFKA_HEAP = "512m"


class ServerRunner:
    """One start of an infra server; ``kill`` SIGKILLs its main process as a crash would."""

    def __init__(self, build: Callable[[], Server], log_link: Path) -> None:
        self._build = build
        self._log_link = log_link
        self.server: Server | None = None

    @property
    def pid(self) -> int | None:
        proc = self.server.process if self.server is not None else None
        return proc.pid if proc is not None else None

    def start(self) -> None:
        self.server = self._build()
        self._link_log(self.server.log_path)
        self.server.start()

    def _link_log(self, target: Path) -> None:
        link = self._log_link
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and os.readlink(link) == str(target):
            return
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(target)

    def running(self) -> bool:
        return self.server is not None and self.server.running()

    def exit_description(self) -> str | None:
        proc = self.server.process if self.server is not None else None
        if proc is None or proc.returncode is None:
            return None
        return describe_returncode(proc.returncode)

    def stop(self, timeout: float = 15.0) -> None:
        if self.server is not None:
            self.server.stop()

    def kill(self) -> int | None:
        pid = self.pid
        if pid is None or not self.running():
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return pid


def _behind_nginx(plan: StackPlan, spec: ComponentSpec) -> tuple[str, ...]:
    """Links in the UI point at nginx's /prometheus/ or /alertmanager/; the server itself
    still answers at ``/`` on loopback (aqua, the agent, Prometheus' own alerting)."""
    url = external_url(plan, spec.kind)
    return (f"--web.external-url={url}", "--web.route-prefix=/") if url else ()


def fault_proxies(plan: StackPlan, spec: ComponentSpec) -> list[Proxy]:
    """toxiproxy's proxies: one per dependency, named after it, to the server's own port (for
    Kafka, the broker's listener behind the proxy)."""
    from sre_cli.infra.toxiproxy import Proxy

    proxies = []
    for dependency, listen in spec.extra_ports.items():
        server = plan.component(dependency)
        upstream = server.extra_ports["proxied"] if dependency == "kafka" else server.port
        proxies.append(Proxy(dependency, listen, upstream))
    return proxies


def server_runner(spec: ComponentSpec, plan: StackPlan, layout: StateLayout) -> Runner:
    """The runner of a server: postgres, redis, kafka, nginx, prometheus, alertmanager,
    jaeger, toxiproxy."""
    workdir = layout.workdir(spec.name)
    port = spec.port

    def build() -> Server:
        match spec.kind:
            case "postgres":
                from sre_cli.infra.postgres import PostgresServer
                from sre_cli.stack.state import load_or_create_secrets

                # WAL archiving: `aqua backup` restores to any point since the oldest backup.
                # Passwords for every role; the services get the least-privilege ones.
                secrets = load_or_create_secrets(layout.secrets_file)
                return PostgresServer(
                    workdir,
                    port,
                    wal_archive=True,
                    password=secrets.postgres_password,
                    roles=secrets.database_roles(),
                )
            case "redis":
                from sre_cli.infra.redis import RedisServer
                from sre_cli.stack.state import load_or_create_secrets

                password = load_or_create_secrets(layout.secrets_file).redis_password
                return RedisServer(workdir, port, password=password)
            case "kafka":
                from sre_cli.infra.kafka import KafkaServer

                # --network-faults: a second listener behind toxiproxy's Kafka proxy.
                proxy = plan.proxied("kafka")
                listen = spec.extra_ports.get("proxied")
                return KafkaServer(
                    workdir,
                    port,
                    controller_port=spec.extra_ports["controller"],
                    heap=KAFKA_HEAP,
                    proxied=(listen, proxy) if listen and proxy else None,
                )
            case "nginx":
                from sre_cli.infra.nginx import NginxServer
                from sre_cli.stack.state import load_or_create_secrets

                htpasswd: list[Path] = []
                nginx = NginxServer(workdir, lambda p: nginx_http_body(plan, p, htpasswd[0]), port)
                # Prometheus and Alertmanager are reached through nginx with basic auth.
                password = load_or_create_secrets(layout.secrets_file).monitoring_password
                htpasswd.append(
                    nginx.write_worker_file("monitoring.htpasswd", monitoring_htpasswd(password))
                )
                return nginx
            case "prometheus":
                from sre_cli.infra.prometheus import PrometheusServer

                text = prometheus_yaml(plan, layout)
                (layout.config_dir / "prometheus.yml").write_text(text, encoding="utf-8")
                # Exemplars: the latency histograms' trace ids, so a slow bucket leads to a trace.
                # No admin API or lifecycle endpoints: series cannot be deleted nor the server
                # stopped over HTTP (the supervisor restarts it; the config is never reloaded).
                return PrometheusServer(
                    workdir,
                    text,
                    port,
                    extra_args=("--enable-feature=exemplar-storage", *_behind_nginx(plan, spec)),
                    admin_api=False,
                )
            case "jaeger":
                from sre_cli.infra.jaeger import JaegerServer

                return JaegerServer(workdir, port, otlp_http_port=spec.extra_ports["otlp"])
            case "toxiproxy":
                from sre_cli.infra.toxiproxy import ToxiproxyServer

                return ToxiproxyServer(workdir, port, proxies=fault_proxies(plan, spec))
            case "alertmanager":
                from sre_cli.infra.alertmanager import AlertmanagerServer

                text = alertmanager_yaml(plan)
                (layout.config_dir / "alertmanager.yml").write_text(text, encoding="utf-8")
                return AlertmanagerServer(workdir, text, port, _behind_nginx(plan, spec))
        raise ConfigError(f"{spec.name}: no server launcher for kind {spec.kind}")

    return ServerRunner(build, layout.log(spec.name))

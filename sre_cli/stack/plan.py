"""Resolve ``aqua stack up`` options into a :class:`StackPlan` for this machine.

What is installed decides the plan, and the plan says so: the full stack needs every server
(a missing one is a :class:`MissingDependency` pointing at ``aqua doctor`` or ``--lite``);
``--lite`` runs what it can without any server and lists what is degraded; a service whose
code is not in this tree (``service.worker`` before it exists) is reported as not available,
never started and never faked.

Example::

    plan = build_plan(StackOptions(lite=True), MachineEnvironment())
    plan.degraded   # ('database: SQLite ...', 'cache: none ...', ...)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import Field

from sre_cli.defaults import script
from sre_cli.errors import MissingDependency, UsageError
from sre_cli.stack.spec import (
    MAX_API_REPLICAS,
    MAX_WORKERS,
    ComponentKind,
    ComponentSpec,
    NotAvailable,
    Ports,
    Probe,
    StackFeatures,
    StackPlan,
    StateLayout,
)

__all__ = ["SERVICE_MODULES", "Environment", "MachineEnvironment", "StackOptions", "build_plan"]

#: component kind -> (module that must exist, binaries it needs)
SERVICE_MODULES = {
    "ml": "service.ml.app",
    "api": "service.api.app",
    "worker": "service.worker.__main__",
}
SERVER_BINARIES = {
    "postgres": ("pg_ctl",),
    "redis": ("redis-server",),
    "kafka": ("java",),
    "nginx": ("nginx",),
    "prometheus": ("prometheus",),
    "alertmanager": ("alertmanager",),
    "jaeger": ("jaeger",),
    "toxiproxy": ("toxiproxy",),
}
#: binaries a shipped script builds into the cache (not found on PATH)
_BUILT = {"jaeger", "toxiproxy"}
#: when set, servers are looked up only in these directories (``os.pathsep``-separated);
#: pointing it at an empty directory shows what the stack does on a machine without servers.
BIN_PATH_ENV = "AQUA_STACK_BIN_PATH"
PROVISION_HINT = (
    "`aqua doctor` says how to install each one; or start the embedded stack with "
    "`aqua stack up --lite`"
)


class Environment(Protocol):
    """What this machine has; injected so tests can take servers away."""

    def has_binary(self, name: str) -> bool: ...

    def has_module(self, module: str) -> bool: ...

    def kafka_missing(self) -> str | None: ...


class MachineEnvironment:
    """The real machine: binaries through :mod:`sre_cli.infra.binaries`, modules by import spec."""

    def has_binary(self, name: str) -> bool:
        names = (name, f"prometheus-{name}") if name == "alertmanager" else (name,)
        override = os.environ.get(BIN_PATH_ENV)
        if override is not None:  # only these directories (an empty dir: nothing installed)
            return any(shutil.which(n, path=override) is not None for n in names)
        try:
            from sre_cli.infra import binaries
        except ImportError:  # the library is not there: plain PATH lookup
            return any(shutil.which(n) is not None for n in names)
        try:
            if name in _BUILT:
                getattr(binaries, name)()
            else:
                binaries.find(name)
        except MissingDependency:
            return False
        return True

    def has_module(self, module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            return False

    def kafka_missing(self) -> str | None:
        if not self.has_binary("java"):
            return "java is not installed"
        if os.environ.get(BIN_PATH_ENV) is not None:
            return f"{BIN_PATH_ENV} hides the Kafka jars"
        try:
            from sre_cli.infra import binaries
        except ImportError:
            return "the real-server library sre_cli.infra is not available"
        try:
            binaries.kafka_libs()
        except MissingDependency as exc:
            return exc.message
        return None


class StackOptions(StackFeatures):
    """What ``aqua stack up`` asks for; :func:`build_plan` resolves it for this machine."""

    lite: bool = False
    #: None: 2 behind nginx, 1 when there is no nginx to spread load over more.
    api_replicas: int | None = None
    workers: int = 1
    ports: Ports = Field(default_factory=Ports)


def _not_in_tree(kind: str) -> str:
    module = SERVICE_MODULES[kind].removesuffix(".__main__")
    return f"{module} is not in this tree yet"


@dataclass(frozen=True)
class _Kind:
    """What every component of one kind shares: its URL (``{port}`` filled in), its probe,
    what Prometheus scrapes and how long it may take to get ready."""

    url: str
    probe: Probe
    metrics_path: str = ""
    ready_timeout_s: float = 60.0


def _http_kind(live: str, ready: str, metrics_path: str, ready_timeout_s: float = 60.0) -> _Kind:
    probe = Probe(kind="http", live_path=live, ready_path=ready)
    return _Kind("http://127.0.0.1:{port}", probe, metrics_path, ready_timeout_s)


_KINDS: dict[ComponentKind, _Kind] = {
    "postgres": _Kind("postgresql://aqua@127.0.0.1:{port}/aqua", Probe(kind="postgres")),
    "redis": _Kind("redis://127.0.0.1:{port}/0", Probe(kind="redis")),
    "kafka": _Kind("kafka://127.0.0.1:{port}", Probe(kind="kafka"), ready_timeout_s=120.0),
    "ml": _http_kind("/live", "/ready", "/metrics", ready_timeout_s=120.0),
    "api": _http_kind("/live", "/ready", "/metrics", ready_timeout_s=90.0),
    "worker": _http_kind("/live", "/ready", "/metrics", ready_timeout_s=90.0),
    "nginx": _http_kind("/nginx/health", "/ready", ""),
    "agent": _http_kind("/health", "/health", "/metrics"),
    "alertmanager": _http_kind("/-/healthy", "/-/ready", "/metrics"),
    "prometheus": _http_kind("/-/healthy", "/-/ready", "/metrics"),
    "jaeger": _http_kind("/api/services", "/api/services", ""),
    "toxiproxy": _http_kind("/version", "/proxies", ""),
}


def _component(
    kind: ComponentKind,
    port: int,
    depends_on: tuple[str, ...] = (),
    replica: int | None = None,
    extra_ports: dict[str, int] | None = None,
) -> ComponentSpec:
    """A component of ``kind`` on ``port``; a replica is named ``KIND-N``."""
    k = _KINDS[kind]
    return ComponentSpec(
        name=kind if replica is None else f"{kind}-{replica}",
        kind=kind,
        port=port,
        url=k.url.format(port=port),
        probe=k.probe,
        depends_on=depends_on,
        replica=replica,
        ready_timeout_s=k.ready_timeout_s,
        extra_ports=extra_ports or {},
        metrics_path=k.metrics_path,
    )


@dataclass
class _Draft:
    """A plan being built: what each component builder reads (options, machine) and adds to."""

    options: StackOptions
    env: Environment
    layout: StateLayout
    comps: list[ComponentSpec] = field(default_factory=list)
    missing: list[NotAvailable] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)

    @property
    def ports(self) -> Ports:
        return self.options.ports

    def has_service(self, kind: str) -> bool:
        return self.env.has_module(SERVICE_MODULES[kind])

    def has_server(self, kind: str) -> bool:
        return all(self.env.has_binary(b) for b in SERVER_BINARIES[kind])

    def present(self, *names: str) -> tuple[str, ...]:
        """Those of ``names`` already in the plan, in the given order."""
        return tuple(n for n in names if any(c.name == n for c in self.comps))


def _api_replicas(d: _Draft) -> int:
    replicas = d.options.api_replicas
    if replicas is None:
        replicas = 2 if not d.options.lite or d.has_server("nginx") else 1
    if not 1 <= replicas <= MAX_API_REPLICAS:
        raise UsageError(f"--api-replicas must be between 1 and {MAX_API_REPLICAS}")
    return replicas


def _datastores(d: _Draft) -> str:
    """PostgreSQL, Redis and Kafka (all required), or the embedded stand-ins of ``--lite``;
    the database URL the services use."""
    p = d.ports
    if d.options.lite:
        sqlite = d.layout.workdir("api") / "aqua.sqlite3"
        d.degraded += [
            f"database: SQLite ({sqlite}) instead of PostgreSQL",
            "cache: none (no Redis): every read goes to the database; rate limits are per replica",
            "queue: in-process in each API replica (no Kafka, no worker processes)",
        ]
        return f"sqlite+aiosqlite:///{sqlite}"
    servers = ("postgres", "redis", "nginx", "prometheus", "alertmanager")
    absent = [k for k in servers if not d.has_server(k)]
    kafka_reason = d.env.kafka_missing()
    if kafka_reason:
        absent.append(f"kafka ({kafka_reason})")
    if absent:
        raise MissingDependency(
            f"the full stack needs servers that are not installed: {', '.join(absent)}",
            hint=PROVISION_HINT,
        )
    d.comps.append(_component("postgres", p.postgres))
    d.comps.append(_component("redis", p.redis))
    kafka_ports = {"controller": p.kafka_controller}
    if d.options.network_faults:
        kafka_ports["proxied"] = p.kafka_proxied
    d.comps.append(_component("kafka", p.kafka, extra_ports=kafka_ports))
    # The services' least-privilege role; its password is added at launch (never in the plan).
    return f"postgresql+asyncpg://aqua_app@127.0.0.1:{p.postgres}/aqua"


def _fault_proxy(d: _Draft) -> None:
    """toxiproxy in front of PostgreSQL, Redis and Kafka (``--network-faults``): one proxy
    each, which the API and the workers connect through instead of the servers' own ports.

    Kafka hands its clients the broker's advertised address after the first request, so a
    proxy in front of the plain listener would be bypassed from then on: the broker gets a
    second listener (``kafka_proxied``) that advertises the proxy's port, and the proxy
    forwards to it. The supervisor, aqua's tools and the probes keep the direct ports."""
    if not d.options.network_faults:
        return
    if d.options.lite:
        raise UsageError(
            "--network-faults puts a proxy in front of PostgreSQL, Redis and Kafka; "
            "a --lite stack has none of them"
        )
    if not d.has_server("toxiproxy"):
        raise MissingDependency(
            "--network-faults needs toxiproxy, which is not built",
            hint=f"run {script('build-toxiproxy')} (builds it from its Go module); "
            "or start the stack without --network-faults",
        )
    p = d.ports
    proxies = {
        "postgres": p.toxiproxy_postgres,
        "redis": p.toxiproxy_redis,
        "kafka": p.toxiproxy_kafka,
    }
    d.comps.append(_component("toxiproxy", p.toxiproxy, extra_ports=proxies))


def _ml(d: _Draft) -> None:
    if d.has_service("ml"):
        d.comps.append(_component("ml", d.ports.ml))
    else:
        d.missing.append(NotAvailable(name="ml", reason=_not_in_tree("ml")))


def _api(d: _Draft, replicas: int) -> list[str]:
    """``replicas`` API processes; api-1 migrates the schema, so the others wait for it."""
    if not d.has_service("api"):
        d.missing.append(NotAvailable(name="api", reason=_not_in_tree("api")))
        return []
    base_deps = d.present("postgres", "redis", "ml", "toxiproxy")
    for i in range(1, replicas + 1):
        deps = base_deps if i == 1 else (*base_deps, "api-1")
        d.comps.append(_component("api", d.ports.api + i - 1, deps, replica=i))
    return [f"api-{i}" for i in range(1, replicas + 1)]


def _queue(d: _Draft) -> Literal["kafka", "embedded", "direct"]:
    """Where readings go, and the Kafka workers that consume them."""
    options = d.options
    if options.lite:
        return "embedded"
    queue: Literal["kafka", "embedded", "direct"] = "kafka"
    if not (options.workers and d.has_service("worker")):
        # Readings published to Kafka with nobody consuming them would never be stored.
        queue = "direct"
        why = "no worker in this tree yet" if options.workers else "--workers 0"
        d.degraded.append(f"queue: {why}; the API stores readings itself and Kafka stays idle")
    if options.workers:
        if d.has_service("worker"):
            deps = d.present("kafka", "postgres", "ml", "toxiproxy")
            for i in range(1, options.workers + 1):
                d.comps.append(_component("worker", d.ports.worker + i - 1, deps, replica=i))
        else:
            d.missing += [
                NotAvailable(name=f"worker-{i}", reason=_not_in_tree("worker"))
                for i in range(1, options.workers + 1)
            ]
    return queue


def _front_door(d: _Draft, api_names: list[str]) -> str:
    """nginx over the API replicas when it is there; the URL clients use."""
    if not api_names:
        return ""
    if not d.options.lite or d.has_server("nginx"):
        d.comps.append(_component("nginx", d.ports.nginx, tuple(api_names)))
        return d.comps[-1].url
    entry_url = f"http://127.0.0.1:{d.ports.api}"
    d.degraded.append(f"load balancer: nginx is not installed; clients use api-1 at {entry_url}")
    return entry_url


def _tracing(d: _Draft) -> None:
    """Jaeger, the services' trace store, in the full stack when it is built."""
    if d.options.lite:
        return
    if d.has_server("jaeger"):
        extra = {"otlp": d.ports.jaeger_otlp}
        d.comps.append(_component("jaeger", d.ports.jaeger, extra_ports=extra))
    else:
        built_by = script("build-jaeger")
        d.degraded.append(f"tracing: Jaeger is not built ({built_by} builds it); no spans are kept")


def _monitoring(d: _Draft) -> None:
    """The alert receiver, Alertmanager and Prometheus, each when it is installed."""
    d.comps.append(_component("agent", d.ports.agent))
    if d.has_server("alertmanager"):
        d.comps.append(_component("alertmanager", d.ports.alertmanager, ("agent",)))
    else:
        d.degraded.append("alerting: Alertmanager is not installed; alerts are not delivered")
    if d.has_server("prometheus"):
        deps = ("alertmanager",) if d.has_server("alertmanager") else ()
        d.comps.append(_component("prometheus", d.ports.prometheus, deps))
    else:
        d.degraded.append("monitoring: Prometheus is not installed; nothing is scraped")


def build_plan(options: StackOptions, env: Environment, layout: StateLayout) -> StackPlan:
    """The components to run, given the options and what ``env`` has: one builder a part."""
    if not 0 <= options.workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be between 0 and {MAX_WORKERS}")
    d = _Draft(options, env, layout)
    replicas = _api_replicas(d)
    database_url = _datastores(d)
    _fault_proxy(d)
    _ml(d)
    api_names = _api(d, replicas)
    queue = _queue(d)
    entry_url = _front_door(d, api_names)
    _tracing(d)
    _monitoring(d)
    plan = StackPlan(
        lite=options.lite,
        api_replicas=replicas,
        workers=options.workers if not options.lite else 0,
        ports=options.ports,
        components=tuple(d.comps),
        not_available=tuple(d.missing),
        degraded=tuple(d.degraded),
        entry_url=entry_url,
        database_url=database_url,
        queue=queue,
        **options.features(),
    )
    plan.check_port_collisions()
    plan.start_order()  # validates the dependency graph
    return plan

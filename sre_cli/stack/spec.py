"""The reference stack as data: ports, component specs, and where a stack keeps its state.

A stack is a :class:`StackPlan`: an ordered list of :class:`ComponentSpec` (name, kind, port,
dependencies, readiness probe, URL) plus what is degraded or not available on this machine.
``aqua stack up`` builds the plan once (:func:`sre_cli.stack.plan.build_plan`), writes it to
the state dir, and every other command and the supervisor read it back from there.

Default ports (``--port-base B`` moves every one to ``B + offset``)::

    component          default   offset
    nginx              8080      +0     entry point, load-balances the API replicas
    ml                 8001      +1
    worker-i metrics   8002+i-1  +2..   (at most 8 workers)
    api-i              8010+i-1  +10..  (at most 10 replicas)
    prometheus         9090      +20
    alertmanager       9093      +21
    agent              9095      +22    alert webhook receiver + stack health exporter
    postgres           5433      +23    (5432 is left to a distribution's own cluster)
    redis              6380      +24
    kafka              9092      +25
    kafka controller   9096      +26
    jaeger             16686     +27    trace store: query API and UI
    jaeger OTLP        4318      +28    where the services send spans (OTLP/HTTP)
    toxiproxy          8474      +29    fault proxy's API (``--network-faults`` only)
    proxy: postgres    15433     +30    the services reach PostgreSQL, Redis and Kafka
    proxy: redis       16380     +31    through these proxies (``--network-faults``)
    proxy: kafka       19092     +32
    kafka proxied      9097      +33    the broker's listener behind the Kafka proxy

Example::

    layout = StateLayout(Path("~/.local/state/aqua/stack").expanduser())
    plan = StackPlan.model_validate_json(layout.plan_file.read_text())
    [c.name for c in plan.start_order()]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sre_cli.errors import ConfigError, UsageError

__all__ = [
    "MAX_API_REPLICAS",
    "MAX_WORKERS",
    "ComponentKind",
    "ComponentSpec",
    "NotAvailable",
    "Ports",
    "Probe",
    "SLOServeTarget",
    "StackPlan",
    "StateLayout",
    "default_state_dir",
]

MAX_API_REPLICAS = 10
MAX_WORKERS = 8

ComponentKind = Literal[
    "postgres",
    "redis",
    "kafka",
    "ml",
    "api",
    "worker",
    "nginx",
    "prometheus",
    "alertmanager",
    "agent",
    "jaeger",
    "toxiproxy",
]
ProbeKind = Literal["http", "tcp", "redis", "postgres", "kafka"]

_OFFSETS: dict[str, int] = {
    "nginx": 0,
    "ml": 1,
    "worker": 2,
    "api": 10,
    "prometheus": 20,
    "alertmanager": 21,
    "agent": 22,
    "postgres": 23,
    "redis": 24,
    "kafka": 25,
    "kafka_controller": 26,
    "jaeger": 27,
    "jaeger_otlp": 28,
    "toxiproxy": 29,
    "toxiproxy_postgres": 30,
    "toxiproxy_redis": 31,
    "toxiproxy_kafka": 32,
    "kafka_proxied": 33,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Ports(_Frozen):
    """Every port a stack listens on (loopback); ``api`` and ``worker`` start a range."""

    nginx: int = 8080
    ml: int = 8001
    worker: int = 8002
    api: int = 8010
    prometheus: int = 9090
    alertmanager: int = 9093
    agent: int = 9095
    postgres: int = 5433
    redis: int = 6380
    kafka: int = 9092
    kafka_controller: int = 9096
    jaeger: int = 16686
    jaeger_otlp: int = 4318
    toxiproxy: int = 8474
    toxiproxy_postgres: int = 15433
    toxiproxy_redis: int = 16380
    toxiproxy_kafka: int = 19092
    kafka_proxied: int = 9097

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """Every port at ``base + offset`` (see the module docstring), for side-by-side stacks."""
        if not 1024 <= base <= 65535 - max(_OFFSETS.values()):
            top = 65535 - max(_OFFSETS.values())
            raise UsageError(f"--port-base {base} is out of range (1024..{top})")
        return cls(**{name: base + off for name, off in _OFFSETS.items()})

    def with_overrides(self, overrides: Mapping[str, int]) -> Ports:
        """A copy with some ports replaced; names are the fields (``nginx``, ``api``, ...)."""
        unknown = sorted(set(overrides) - set(type(self).model_fields))
        if unknown:
            names = ", ".join(type(self).model_fields)
            raise UsageError(f"unknown port name(s): {', '.join(unknown)}", hint=f"one of {names}")
        for name, port in overrides.items():
            if not 1 <= port <= 65535:
                raise UsageError(f"port {name}={port} is out of range")
        return self.model_copy(update=dict(overrides))

    @staticmethod
    def parse_overrides(items: Iterable[str]) -> dict[str, int]:
        """Parse ``name=port`` strings from the command line."""
        out: dict[str, int] = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not value.strip().isdigit():
                raise UsageError(f"--port expects NAME=PORT, got {item!r}")
            out[name.strip().replace("-", "_")] = int(value)
        return out


class Probe(_Frozen):
    """How to tell a component is live (the process answers) and ready (it can serve).

    ``http`` probes GET ``live_path`` and ``ready_path`` and want a 2xx; ``tcp`` only connects;
    ``redis`` sends PING; ``postgres`` opens a session; ``kafka`` asks the broker for metadata.
    """

    kind: ProbeKind
    live_path: str = ""
    ready_path: str = ""


class ComponentSpec(_Frozen):
    """One supervised process of the stack."""

    name: str
    kind: ComponentKind
    port: int
    url: str
    probe: Probe
    depends_on: tuple[str, ...] = ()
    replica: int | None = None
    ready_timeout_s: float = 60.0
    #: extra ports the component binds besides ``port`` (name -> port), checked before start.
    extra_ports: dict[str, int] = {}
    #: what Prometheus scrapes (empty: the component exports no metrics of its own).
    metrics_path: str = ""


class NotAvailable(_Frozen):
    """A component the stack would run but cannot here, and why (never started, never faked)."""

    name: str
    reason: str


class SLOServeTarget(_Frozen):
    """An ``aqua slo serve`` the stack's Prometheus scrapes (``aqua stack up --slo-serve``).

    It is not a component: the stack neither starts nor probes it, its Prometheus only
    scrapes ``127.0.0.1:port/metrics`` with the bearer token in ``token_file``."""

    port: int
    token_file: Path


class StackFeatures(_Frozen):
    """What ``aqua stack up`` turns on besides the components: chosen as options
    (:class:`sre_cli.stack.plan.StackOptions`) and kept as they are in the plan."""

    #: the API replicas accept fault rules from the admin (``/api/v1/admin/faults``).
    faults: bool = False
    #: api, ml and worker processes run in cgroups with their Deployments' CPU and memory
    #: limits (``aqua stack up --limits``).
    limits: bool = False
    #: with ``limits``: each API replica's CPU limit in cores, when not its Deployment's.
    api_cpu: float | None = None
    #: an ``aqua slo serve`` to scrape as job ``slo``, or none.
    slo_serve: SLOServeTarget | None = None
    #: the API and worker reach PostgreSQL, Redis and Kafka through toxiproxy
    #: (``aqua stack up --network-faults``), so chaos can slow, cut or reset those links.
    network_faults: bool = False
    #: game-day alert timings: Prometheus scrapes and evaluates every 2 s and no alert rule
    #: waits longer than 10 s (``aqua stack up --gameday-alerts``), so a drill fits minutes.
    gameday_alerts: bool = False

    def features(self) -> dict[str, Any]:
        """These fields alone, to carry from the options into the plan."""
        return {name: getattr(self, name) for name in StackFeatures.model_fields}


class StackPlan(StackFeatures):
    """A resolved stack: which components, on which ports, in which mode."""

    lite: bool
    api_replicas: int
    workers: int
    ports: Ports
    components: tuple[ComponentSpec, ...]
    not_available: tuple[NotAvailable, ...] = ()
    degraded: tuple[str, ...] = ()
    #: where clients go: nginx, or the first API replica when there is no nginx.
    entry_url: str = ""
    #: the database URL the services use (PostgreSQL, or SQLite in lite mode).
    database_url: str = ""
    #: where the API sends readings and jobs: kafka (workers consume), embedded (in-process
    #: queue and worker, lite mode) or direct (stored in the request, no jobs).
    queue: Literal["kafka", "embedded", "direct"] = "direct"

    def proxied(self, dependency: str) -> int | None:
        """The port of toxiproxy's proxy in front of ``dependency`` (``postgres``, ``redis``,
        ``kafka``), or None when the services reach it directly."""
        for c in self.of_kind("toxiproxy"):
            return c.extra_ports.get(dependency)
        return None

    def component(self, name: str) -> ComponentSpec:
        for c in self.components:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.components)
        missing = [n for n in self.not_available if n.name == name]
        if missing:
            raise UsageError(f"{name} is not part of this stack: {missing[0].reason}")
        raise UsageError(f"no component named {name!r}", hint=f"components: {known}")

    def of_kind(self, kind: ComponentKind) -> list[ComponentSpec]:
        return [c for c in self.components if c.kind == kind]

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.components)

    def start_order(self) -> list[ComponentSpec]:
        """Components in dependency order (stable: plan order breaks ties)."""
        by_name = {c.name: c for c in self.components}
        done: set[str] = set()
        order: list[ComponentSpec] = []
        visiting: set[str] = set()

        def visit(c: ComponentSpec) -> None:
            if c.name in done:
                return
            if c.name in visiting:
                raise ConfigError(f"dependency cycle through {c.name}")
            visiting.add(c.name)
            for dep in c.depends_on:
                if dep not in by_name:
                    raise ConfigError(f"{c.name} depends on {dep}, which is not in the stack")
                visit(by_name[dep])
            visiting.discard(c.name)
            done.add(c.name)
            order.append(c)

        for c in self.components:
            visit(c)
        return order

    def port_owners(self) -> list[tuple[int, str]]:
        """Every (port, owner) the stack binds, e.g. ``(8080, "nginx")``."""
        owners: list[tuple[int, str]] = []
        for c in self.components:
            owners.append((c.port, c.name))
            owners.extend((p, f"{c.name} ({label})") for label, p in c.extra_ports.items())
        return owners

    def check_port_collisions(self) -> None:
        seen: dict[int, str] = {}
        for port, owner in self.port_owners():
            if port in seen:
                raise ConfigError(
                    f"port {port} is assigned to both {seen[port]} and {owner}",
                    hint="choose other ports with --port NAME=PORT or --port-base",
                )
            seen[port] = owner


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$AQUA_STATE_DIR``, else ``$XDG_STATE_HOME/aqua/stack``, else ``~/.local/state/...``."""
    env = os.environ if env is None else env
    if env.get("AQUA_STATE_DIR"):
        return Path(env["AQUA_STATE_DIR"]).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "aqua" / "stack"


@dataclass(frozen=True)
class StateLayout:
    """Where one stack keeps everything; several stacks live side by side in separate roots.

    ::

        ROOT/plan.json          the resolved StackPlan (written by `up`)
        ROOT/state.json         live supervisor state, replaced atomically
        ROOT/secrets.json       generated secrets and bootstrap admin (mode 0600)
        ROOT/supervisor.pid     pid of the background supervisor
        ROOT/commands/          control requests (*.json) and replies (*.reply)
        ROOT/logs/NAME.log      one log per component (+ supervisor.log)
        ROOT/data/NAME/         each component's working dir (databases, TSDB)
        ROOT/config/            rendered nginx.conf, prometheus.yml, alertmanager.yml, rules
        ROOT/alerts.jsonl       alert notifications received from Alertmanager
    """

    root: Path

    @property
    def plan_file(self) -> Path:
        return self.root / "plan.json"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def secrets_dir(self) -> Path:
        """One 0600 file per secret, for the services' ``*_FILE`` settings and for users."""
        return self.root / "secrets"

    @property
    def pid_file(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def commands_dir(self) -> Path:
        return self.root / "commands"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def alerts_file(self) -> Path:
        return self.root / "alerts.jsonl"

    @property
    def supervisor_log(self) -> Path:
        return self.logs_dir / "supervisor.log"

    def log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def workdir(self, name: str) -> Path:
        return self.data_dir / name

    def create(self) -> None:
        for d in (self.root, self.commands_dir, self.logs_dir, self.data_dir, self.config_dir):
            d.mkdir(parents=True, exist_ok=True)

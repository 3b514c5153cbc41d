"""Stack plans without the machine's servers: an :class:`Environment` the test fills in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import StackPlan, StateLayout

ALL_BINARIES = {"pg_ctl", "redis-server", "java", "nginx", "prometheus", "alertmanager", "jaeger"}
ALL_MODULES = {"service.ml.app", "service.api.app", "service.worker.__main__"}


@dataclass
class FakeEnv:
    """A machine with ``binaries`` installed and ``modules`` in the tree (by default every
    server but toxiproxy, and every service); ``kafka``: why Kafka cannot run, or None."""

    binaries: set[str] = field(default_factory=lambda: set(ALL_BINARIES))
    modules: set[str] = field(default_factory=lambda: set(ALL_MODULES))
    kafka: str | None = None

    def has_binary(self, name: str) -> bool:
        return name in self.binaries

    def has_module(self, module: str) -> bool:
        return module in self.modules

    def kafka_missing(self) -> str | None:
        return self.kafka


def plan_on(env: FakeEnv, tmp_path: Path, **options: object) -> StackPlan:
    """The plan of ``StackOptions(**options)`` on ``env``, its state under ``tmp_path``."""
    return build_plan(StackOptions(**options), env, StateLayout(tmp_path))  # type: ignore[arg-type]

"""Network faults between the services and a dependency, through the stack's toxiproxy.

With ``aqua stack up --network-faults`` the API replicas and the workers reach PostgreSQL,
Redis and Kafka through toxiproxy, one proxy per dependency (``sre_cli.stack.plan``). A
``network`` action adds one toxic to the proxy of the named dependency; ``clear_network``
(its automatic rollback) removes every toxic of that proxy::

    - network: {dependency: postgres, latency: 300ms, jitter: 50ms}   # every answer later
    - network: {dependency: redis, loss: true, close_after: 5s}       # nothing passes
    - network: {dependency: kafka, bandwidth_kbps: 16}                # a thin pipe
    - network: {dependency: redis, reset: true, toxicity: 0.5}        # half the connections RST
    - clear_network: postgres

``toxicity`` is the share of connections the toxic applies to: toxiproxy draws once per
connection, so with pooled clients it is a share of the pool, not of the requests. The
blast radius is the link between the clients (every API replica and worker) and that one
dependency; the dependency itself, aqua's own probes and the supervisor are not behind the
proxy and see no fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sre_cli.errors import UsageError
from sre_cli.ops.outcome import ActionPlan, Change
from sre_cli.timespec import parse_seconds

if TYPE_CHECKING:
    from sre_cli.infra.toxiproxy import Toxic, Toxiproxy
    from sre_cli.ops.operations import Risk
    from sre_cli.stack.spec import StackPlan

__all__ = ["Dependency", "NetworkFault", "plan_clear", "plan_fault"]

Dependency = Literal["postgres", "redis", "kafka"]
#: seconds, 0 allowed (``500ms``, ``5s``)
_Seconds = Annotated[float, BeforeValidator(parse_seconds), Field(ge=0, le=600)]
_KINDS = ("latency", "loss", "bandwidth_kbps", "reset")


class NetworkFault(BaseModel):
    """One toxic on the link from the services to ``dependency``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dependency: Dependency
    #: added to every answer from the dependency (with ``jitter``: +- that much at random)
    latency: _Seconds | None = None
    jitter: _Seconds = 0.0
    #: nothing passes either way (toxiproxy's ``timeout``); closed after ``close_after``
    #: (0: held open, so clients wait for their own timeouts)
    loss: Literal[True] | None = None
    #: answers trickle at this many KB/s
    bandwidth_kbps: int | None = Field(default=None, ge=1, le=1_000_000)
    #: connections are reset (TCP RST) ``close_after`` after the toxic meets them
    reset: Literal[True] | None = None
    close_after: _Seconds = 0.0
    #: share of connections the toxic applies to
    toxicity: float = Field(default=1.0, gt=0, le=1)
    #: downstream: answers from the dependency; upstream: requests to it
    stream: Literal["downstream", "upstream"] = "downstream"

    @model_validator(mode="after")
    def _one(self) -> NetworkFault:
        present = [k for k in _KINDS if getattr(self, k) is not None]
        if len(present) != 1:
            found = ", ".join(present) or "none"
            raise ValueError(f"a network fault takes exactly one of {', '.join(_KINDS)} ({found})")
        if self.jitter and self.latency is None:
            raise ValueError("jitter goes with latency")
        if self.close_after and self.loss is None and self.reset is None:
            raise ValueError("close_after goes with loss or reset")
        return self

    @property
    def risk(self) -> Risk:
        """Slowing a link changes what the API does (mutate); cutting or resetting it takes
        the dependency away from its clients, as an outage does (destructive)."""
        return "destructive" if self.loss or self.reset else "mutate"

    def toxic(self) -> Toxic:
        from sre_cli.infra.toxiproxy import Toxic

        def ms(seconds: float) -> int:
            return round(seconds * 1000)

        if self.latency is not None:
            kind, attrs = "latency", {"latency": ms(self.latency), "jitter": ms(self.jitter)}
        elif self.loss:
            kind, attrs = "timeout", {"timeout": ms(self.close_after)}
        elif self.bandwidth_kbps is not None:
            kind, attrs = "bandwidth", {"rate": self.bandwidth_kbps}
        else:
            kind, attrs = "reset_peer", {"timeout": ms(self.close_after)}
        name = f"aqua-{kind}-{self.stream}"
        return Toxic(kind, attrs, self.stream, self.toxicity, name)

    def describe(self) -> str:
        if self.latency is not None:
            jitter = f" +- {self.jitter * 1000:g}" if self.jitter else ""
            what = f"add {self.latency * 1000:g}{jitter} ms of latency"
        elif self.loss:
            closed = f", closed after {self.close_after:g}s" if self.close_after else ""
            what = f"drop all traffic (loss{closed})"
        elif self.bandwidth_kbps is not None:
            what = f"limit bandwidth to {self.bandwidth_kbps} KB/s"
        else:
            after = f" after {self.close_after:g}s" if self.close_after else ""
            what = f"reset connections{after}"
        share = f" on {self.toxicity:.0%} of connections" if self.toxicity < 1 else ""
        return f"{what}{share} between the services and {self.dependency} ({self.stream})"


def _proxy(plan: StackPlan, dependency: str) -> tuple[Toxiproxy, str]:
    """The toxiproxy client of this stack, and who is behind the proxy (the blast radius)."""
    from sre_cli.infra.toxiproxy import Toxiproxy

    found = plan.of_kind("toxiproxy")
    if not found or plan.proxied(dependency) is None:
        raise UsageError(
            f"this stack reaches {dependency} directly: no fault proxy in between",
            hint="start the stack with `aqua stack up --network-faults`",
        )
    clients = [c.name for c in plan.components if c.kind in ("api", "worker")]
    radius = f"{', '.join(clients) or 'no client'} -> {dependency} via :{plan.proxied(dependency)}"
    return Toxiproxy(found[0].url), radius


def plan_fault(plan: StackPlan, fault: NetworkFault) -> ActionPlan:
    """Add the fault's toxic to the dependency's proxy."""
    api, radius = _proxy(plan, fault.dependency)
    toxic = fault.toxic()

    def apply() -> str:
        api.add_toxic(fault.dependency, toxic)
        return f"toxic {toxic.key} on proxy {fault.dependency} ({radius})"

    return ActionPlan("inject a network fault", (Change(f"{fault.describe()} [{radius}]", apply),))


def plan_clear(plan: StackPlan, dependency: str) -> ActionPlan:
    """Remove every toxic of the dependency's proxy (the link is as without a fault again)."""
    api, radius = _proxy(plan, dependency)

    def apply() -> str:
        removed = api.remove_toxics(dependency)
        if not removed:
            return f"proxy {dependency}: no toxic to remove"
        return f"proxy {dependency}: removed {', '.join(removed)} ({radius})"

    summary = f"remove every toxic between the services and {dependency}"
    return ActionPlan("clear network faults", (Change(summary, apply),))

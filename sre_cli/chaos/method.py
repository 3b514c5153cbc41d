"""The method: the actions that inject the fault, and (same vocabulary) the rollbacks.

One key per action::

    - stack: {kill: api-1}                        # kill|stop|start|restart a stack component
    - delete_pods: {selector: app=api-service, max: 1, percent: 34}
    - fault: {route: "/api/v1/ponds/{pond_id}/summary", latency_ms: 300}   # stack --faults
    - clear_faults: true
    - outage: postgres                            # stop a dependency (postgres|redis|kafka)
    - outage: api-service                         # Kubernetes: the API's Deployment to 0
    - restore: postgres                           # bring it back (the outage's own undo)
    - network: {dependency: postgres, latency: 300ms}    # through toxiproxy (network.py)
    - clear_network: postgres
    - cpu_burn: {seconds: 30, workers: 1}         # busy processes, bounded (burn.py)
    - stop_cpu_burn: true
    - expect_oom_kill: {component: api-1, within: 90s}   # evidence of a leak (oom.py)
    - wait_until: {until: {prometheus: {query: ..., expect: "> 0.9"}}, timeout: 90s}
    - release: {deployment: api-service, env: {AQUA_DB_POOL_SIZE: "0"}}   # a bad deploy (both)
    - expect_oom_kill: {selector: app=api-service, within: 3m}   # the same on Kubernetes
    - wait: 5s

An action that can be undone has an automatic rollback (:meth:`Action.undo_on`): a fault is
cleared, a network fault's toxics removed, a stopped component or dependency started (on
Kubernetes: scaled back, or its endpoints restored, see outage.py), burners stopped. The
engine runs it after the method unless the experiment's own rollbacks already do the same.

``fault`` and ``outage`` work on both targets: on Kubernetes a fault goes to the API at
``--entry-url`` (the rule reaches the other replicas through Redis, best effort), a clear
goes there and to every API pod's own address until each reports no rule
(:mod:`sre_cli.chaos.pod_faults`), an outage takes the dependency's Service away
(:mod:`sre_cli.chaos.outage`).

Each action is planned first (the concrete pods or components, checked against the blast
radius), so a dry run and the confirmation show exactly what would change.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sre_cli.chaos.blast import BlastRadius
from sre_cli.chaos.network import Dependency, NetworkFault
from sre_cli.errors import CheckFailed, UsageError
from sre_cli.ops.operations import Duration, Risk, StackOp, WaitOp, exactly_one
from sre_cli.ops.outcome import ActionPlan, Change
from sre_cli.ops.providers.faults import ADMIN_TOKEN_ENV, FAULTS_PATH

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext

__all__ = ["ADMIN_TOKEN_ENV", "Action", "DeletePods", "Fault", "plan_action"]
#: ``outage: api-service``: the API itself taken away (Kubernetes: its Deployment to 0)
API_SERVICE = "api-service"
OutageTarget = Literal["postgres", "redis", "kafka", "api-service"]
_KEYS = (
    "stack",
    "delete_pods",
    "fault",
    "clear_faults",
    "outage",
    "restore",
    "network",
    "clear_network",
    "cpu_burn",
    "stop_cpu_burn",
    "expect_oom_kill",
    "wait_until",
    "release",
    "wait",
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeletePods(_Model):
    selector: str = Field(min_length=1)
    #: at most this many pods
    max: int = Field(default=1, ge=1, le=50)
    #: and at most this share of the Deployment's replicas (rounded down)
    percent: float | None = Field(default=None, gt=0, le=100)


class Fault(_Model):
    """A rule for the API's fault injection (the stack must run with ``--faults``)."""

    route: str = Field(min_length=1, pattern=r"^/")
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=500, ge=500, le=599)
    #: KiB the API keeps for good per request on the route (a memory leak)
    leak_kb: int = Field(default=0, ge=0, le=65_536)


class CpuBurn(_Model):
    """Busy processes for at most ``seconds`` (they end on their own, the rollback stops them)."""

    seconds: Duration = Field(gt=0, le=600)
    workers: int = Field(default=1, ge=1, le=8)


class ExpectOomKill(_Model):
    """Wait until a container is OOM-killed and restarted: the stack's ``component`` in its
    cgroup (``--limits``), or on Kubernetes a container of the pods ``selector`` picks
    (``lastState.terminated.reason`` OOMKilled, restarted by the kubelet, Ready again)."""

    component: str | None = Field(default=None, min_length=1, pattern=r"^(api|ml|worker)(-\d+)?$")
    selector: str | None = Field(default=None, min_length=1)
    within: Duration = Field(default=120.0, gt=0, le=1800)

    @model_validator(mode="after")
    def _where(self) -> ExpectOomKill:
        if (self.component is None) == (self.selector is None):
            raise ValueError("takes exactly one of component (stack) and selector (kubernetes)")
        return self

    @property
    def target(self) -> str:
        return "stack" if self.component is not None else "kubernetes"

    @property
    def what(self) -> str:
        return self.component or f"a container of pods {self.selector}"


class StackRelease(_Model):
    """A release of a service's settings: on the stack rolled out replica by replica
    (stack/releases.py), on Kubernetes as the Deployment's environment (kube_release.py);
    automatic rollback: the settings it started with."""

    deployment: Literal["api-service", "ml-service", "worker"]
    env: dict[Annotated[str, Field(pattern=r"^AQUA_[A-Z0-9_]+$")], str] = Field(
        default_factory=dict
    )
    note: str = ""

    @property
    def kind(self) -> str:
        from sre_cli.stack.releases import DEPLOYMENTS

        return next(k for k, d in DEPLOYMENTS.items() if d == self.deployment)


class Action(_Model):
    name: str | None = None
    stack: StackOp | None = None
    delete_pods: DeletePods | None = None
    fault: Fault | None = None
    clear_faults: Literal[True] | None = None
    outage: OutageTarget | None = None
    network: NetworkFault | None = None
    clear_network: Dependency | None = None
    restore: OutageTarget | None = None
    cpu_burn: CpuBurn | None = None
    stop_cpu_burn: Literal[True] | None = None
    expect_oom_kill: ExpectOomKill | None = None
    #: poll a check until it passes (a fault grown far enough); fails the run after timeout
    wait_until: WaitOp | None = None
    release: StackRelease | None = None
    wait: Duration | None = None

    @model_validator(mode="after")
    def _one(self) -> Action:
        exactly_one(self, _KEYS, "an action")
        if self.stack is not None and not self.stack.mutates:
            raise ValueError(f"`stack: {self.stack.verb}` reads; probes belong in the hypothesis")
        return self

    @property
    def key(self) -> str:
        return next(k for k in _KEYS if getattr(self, k) is not None)

    @property
    def risk(self) -> Risk:
        """Deleting pods and stopping or killing components take capacity away (destructive);
        a fault, or clearing faults, changes what the API does until undone (mutate)."""
        if self.stack is not None:
            return self.stack.risk
        if self.network is not None:
            return self.network.risk
        if self.delete_pods is not None or self.outage is not None:
            return "destructive"
        if self.fault is not None or self.clear_faults or self.cpu_burn or self.stop_cpu_burn:
            return "mutate"
        if self.clear_network is not None or self.release is not None or self.restore is not None:
            return "mutate"
        return "read"

    @property
    def target(self) -> str | None:
        """The target this action needs (None: either)."""
        if self.wait_until is not None:
            return self.wait_until.target
        if self.expect_oom_kill is not None:
            return self.expect_oom_kill.target
        if API_SERVICE in (self.outage, self.restore):
            return "kubernetes"
        if self.key in ("fault", "clear_faults", "outage", "restore", "release", "wait"):
            return None
        return "kubernetes" if self.delete_pods is not None else "stack"

    @property
    def undo(self) -> Action | None:
        """The automatic rollback of this action, if it can be undone."""
        if self.fault is not None:
            return Action(clear_faults=True)
        if self.stack is not None and self.stack.verb == "stop":
            return Action(stack=StackOp(start=self.stack.names))
        if self.outage is not None:
            return Action(stack=StackOp(start=(self.outage,)))
        if self.network is not None:
            return Action(clear_network=self.network.dependency)
        if self.cpu_burn is not None:
            return Action(stop_cpu_burn=True)
        if self.release is not None and self.release.env:
            return Action(release=StackRelease(deployment=self.release.deployment))
        return None

    def undo_on(self, target: str) -> Action | None:
        """The automatic rollback on ``target``: on Kubernetes an outage is undone by
        ``restore`` (what it took away is recorded on the objects themselves)."""
        if self.outage is not None and target == "kubernetes":
            return Action(restore=self.outage)
        return self.undo

    def describe(self) -> str:
        if self.stack is not None:
            text = self.stack.describe()
        elif self.delete_pods is not None:
            d = self.delete_pods
            pct = f", at most {d.percent:g}% of the replicas" if d.percent else ""
            text = f"delete up to {d.max} pod(s) {d.selector}{pct}"
        elif self.fault is not None:
            f = self.fault
            text = (
                f"inject a fault on {f.route}: +{f.latency_ms} ms, "
                f"{f.error_rate:.0%} answered {f.error_status}"
            )
            if f.leak_kb:
                text += f", {f.leak_kb} KiB leaked per request"
        elif self.clear_faults:
            text = "clear every injected fault"
        elif self.outage is not None:
            text = f"stop {self.outage} (dependency outage)"
        elif self.network is not None:
            text = self.network.describe()
        elif self.clear_network is not None:
            text = f"clear the network faults between the services and {self.clear_network}"
        elif self.restore is not None:
            text = f"bring {self.restore} back (end of the outage)"
        elif self.cpu_burn is not None:
            b = self.cpu_burn
            text = f"burn {b.workers} CPU(s) for at most {b.seconds:g}s"
        elif self.stop_cpu_burn:
            text = "stop the CPU burners"
        elif self.expect_oom_kill is not None:
            e = self.expect_oom_kill
            text = f"expect {e.what} OOM-killed and restarted within {e.within:g}s"
        elif self.wait_until is not None:
            text = self.wait_until.describe()
        elif self.release is not None:
            r = self.release
            settings = ", ".join(f"{k}={v}" for k, v in sorted(r.env.items()))
            text = f"release {r.deployment} with {settings or 'the settings it started with'}"
        else:
            text = f"wait {self.wait:g}s"
        return f"{self.name}: {text}" if self.name else text


def _entry_url(ctx: RunContext) -> str:
    """The API's base URL: the stack's entry, or ``--entry-url`` on Kubernetes."""
    entry = ctx.builtins().get("entry_url")
    if entry is None:
        raise UsageError(
            "a fault on target kubernetes needs the API's URL",
            hint="pass --entry-url URL (`aqua cluster status` prints the local cluster's)",
        )
    if not entry.startswith(("http://", "https://")):
        raise UsageError(f"the API's URL must start with http:// or https://, not {entry!r}")
    return entry


def _faults(entry: str, method: str, body: dict[str, object] | None) -> str:
    from sre_cli.ops.providers import faults

    faults.call(entry, method, body)
    return f"{method} {FAULTS_PATH}: done"


def _sleep(seconds: float) -> str:
    from sre_cli.chaos.abort import interruptible_sleep

    started = time.monotonic()
    if interruptible_sleep(seconds):
        return f"waited {seconds:g}s"
    return f"stopped waiting after {time.monotonic() - started:.1f}s of {seconds:g}s"


def _wait_until(ctx: RunContext, op: WaitOp) -> str:
    """Poll ``op``'s check until it passes; :class:`CheckFailed` after its timeout."""
    from sre_cli.chaos.abort import interruptible_sleep

    started = time.monotonic()
    while True:
        seen = ctx.observe(op.probe)
        took = time.monotonic() - started
        if seen.ok:
            return f"{seen.summary} (after {took:.1f}s)"
        if took + op.interval > op.timeout or not interruptible_sleep(op.interval):
            raise CheckFailed(f"{op.describe()}: still, after {took:.0f}s: {seen.summary}")


def plan_action(ctx: RunContext, action: Action, radius: BlastRadius) -> ActionPlan:
    """The concrete changes of ``action`` now; :class:`UsageError` beyond the blast radius."""
    if action.stack is not None:
        plan = ctx.plan(action.stack)
        if action.stack.verb in ("kill", "stop") and len(plan.changes) > radius.max_pods:
            raise UsageError(
                f"refusing to {action.stack.verb} {len(plan.changes)} components: outside the "
                f"blast radius (max_pods is {radius.max_pods})"
            )
        return plan
    if action.delete_pods is not None:
        from sre_cli.chaos import pods

        if ctx.kube is None:
            raise UsageError("delete_pods needs target kubernetes")
        d, kube = action.delete_pods, ctx.kube
        kill = pods.plan_kill(kube, d.selector, d.max, radius, percent=d.percent)
        change = Change(kill.describe(), lambda: "; ".join(pods.delete(kube, kill)))
        return ActionPlan(f"delete {len(kill.pods)} pod(s)", (change,))
    if action.fault is not None:
        body = action.fault.model_dump()
        apply = functools.partial(_faults, _entry_url(ctx), "PUT", body)
        return ActionPlan("inject a fault", (Change(action.describe(), apply),))
    if action.clear_faults:
        if ctx.kube is not None:
            from sre_cli.chaos.pod_faults import clear_every_pod

            apply = functools.partial(clear_every_pod, ctx.kube, _entry_url(ctx))
        else:
            apply = functools.partial(_faults, _entry_url(ctx), "DELETE", None)
        return ActionPlan("clear faults", (Change(action.describe(), apply),))
    if action.outage is not None or action.restore is not None:
        return _plan_outage(ctx, action, radius)
    if action.network is not None or action.clear_network is not None:
        from sre_cli.chaos import network

        if ctx.stack is None:
            raise UsageError(f"{action.key} needs target stack")
        if action.network is not None:
            return network.plan_fault(ctx.stack.plan, action.network)
        assert action.clear_network is not None
        return network.plan_clear(ctx.stack.plan, action.clear_network)
    if action.cpu_burn is not None:
        from sre_cli.chaos.burn import BURNERS

        b = action.cpu_burn
        apply = functools.partial(BURNERS.start, b.seconds, b.workers)
        return ActionPlan("burn CPU", (Change(action.describe(), apply),))
    if action.stop_cpu_burn:
        from sre_cli.chaos.burn import BURNERS

        return ActionPlan("stop CPU burners", (Change(action.describe(), BURNERS.stop),))
    if action.expect_oom_kill is not None:
        from sre_cli.chaos import oom

        e = action.expect_oom_kill
        if e.selector is not None and ctx.kube is not None:
            apply = functools.partial(oom.watch_pods(ctx.kube, e.selector).wait, e.within)
        elif e.component is not None and ctx.stack is not None:
            apply = functools.partial(oom.watch(ctx.stack, e.component).wait, e.within)
        else:
            raise UsageError(f"expect_oom_kill with a {e.target} needs target {e.target}")
        return ActionPlan("wait for an OOM kill", (Change(action.describe(), apply),))
    if action.release is not None:
        from sre_cli.stack import releases

        r = action.release
        if ctx.kube is not None:
            from sre_cli.chaos import kube_release

            if r.env:
                return kube_release.plan_release(ctx.kube, r.deployment, dict(r.env))
            return kube_release.plan_revert(ctx.kube, r.deployment)
        if ctx.stack is None:
            raise UsageError("release needs target stack or kubernetes")
        note = r.note or action.describe()
        apply = functools.partial(releases.release, ctx.stack.control, r.kind, dict(r.env), note)
        return ActionPlan("release", (Change(action.describe(), apply),))
    if action.wait_until is not None:
        apply = functools.partial(_wait_until, ctx, action.wait_until)
        return ActionPlan("wait for a check", (Change(action.describe(), apply),))
    assert action.wait is not None
    return ActionPlan(
        action.describe(), (Change(action.describe(), functools.partial(_sleep, action.wait)),)
    )


def _plan_outage(ctx: RunContext, action: Action, radius: BlastRadius) -> ActionPlan:
    """An outage (or its end): the stack's component stopped (started); on Kubernetes the
    dependency's Service taken away (given back), see :mod:`sre_cli.chaos.outage`."""
    kind = action.outage or action.restore
    assert kind is not None
    if ctx.kube is not None:
        from sre_cli.chaos import outage

        if action.outage is not None:
            return outage.plan_outage(ctx.kube, kind, radius)
        return outage.plan_restore(ctx.kube, kind)
    if kind == API_SERVICE:
        raise UsageError(
            f"{action.key}: {API_SERVICE} needs target kubernetes",
            hint="on the stack: `stack: {stop: api-*}`",
        )
    stop = _outage_stop(ctx, kind)
    if action.restore is not None:
        assert stop.stack is not None
        stop = Action(stack=StackOp(start=stop.stack.names))
    return plan_action(ctx, stop, radius)


def _outage_stop(ctx: RunContext, kind: str) -> Action:
    """``stack: {stop: NAME}`` for the stack's component of ``kind``."""
    if ctx.stack is None:
        raise UsageError("outage needs target stack or kubernetes")
    names = tuple(c.name for c in ctx.stack.plan.components if c.kind == kind)
    if not names:
        raise UsageError(
            f"this stack runs no {kind}",
            hint="a `--lite` stack has no PostgreSQL, Redis or Kafka; start a full stack",
        )
    return Action(stack=StackOp(stop=names))

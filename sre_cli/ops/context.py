"""What a run (a runbook or a chaos experiment) acts on: the local stack or a Kubernetes
namespace, plus Prometheus (and Alertmanager, Jaeger).

:class:`RunContext` routes each operation to its provider and knows the built-in
parameters of its target (``entry_url`` on the stack, ``namespace`` and, when given,
``entry_url`` on Kubernetes)::

    ctx = open_context(TargetOptions("stack", state_dir=Path("/tmp/s")))
    ctx.observe(HttpProbe(url=ctx.builtins()["entry_url"] + "/ready"))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sre_cli.errors import UsageError
from sre_cli.ops.operations import (
    DescribeOp,
    EscalateOp,
    ExecOp,
    FaultsOp,
    HttpProbe,
    K8sOp,
    PatchResources,
    PrometheusProbe,
    RolloutOp,
    ShellOp,
    StackOp,
    TopOp,
    TracesOp,
    WaitOp,
)
from sre_cli.ops.outcome import ActionPlan, Change, Observation

if TYPE_CHECKING:
    from sre_cli.ops.operations import Operation, TargetName
    from sre_cli.ops.providers.kubernetes import KubeTarget
    from sre_cli.ops.providers.stack import StackTarget

__all__ = ["RunContext", "TargetOptions", "open_context"]


@dataclass(frozen=True)
class TargetOptions:
    """Where to run, as the command line says it."""

    target: TargetName
    state_dir: Path | None = None
    kubeconfig: Path | None = None
    namespace: str | None = None
    context: str | None = None
    prometheus: str | None = None
    prometheus_config: Path | None = None
    alertmanager: str | None = None
    jaeger: str | None = None
    #: the API's base URL on Kubernetes (the stack knows its own)
    entry_url: str | None = None


@dataclass
class RunContext:
    target: TargetName
    stack: StackTarget | None = None
    kube: KubeTarget | None = None
    prometheus_url: str | None = None
    prometheus_config: Path | None = None
    alertmanager_url: str | None = None
    jaeger_url: str | None = None
    #: labels every escalation of this run carries (the runbook's name, say)
    run_labels: dict[str, str] = field(default_factory=dict)
    #: the API's base URL on Kubernetes, when given (``{entry_url}``, faults)
    entry_url: str | None = None

    def builtins(self) -> dict[str, str]:
        values: dict[str, str] = {"target": self.target}
        if self.stack is not None:
            values["entry_url"] = self.stack.entry_url
        if self.kube is not None:
            values["namespace"] = self.kube.namespace
            if self.entry_url:
                values["entry_url"] = self.entry_url.rstrip("/")
        return values

    def _stack(self) -> StackTarget:
        if self.stack is None:
            raise UsageError("a stack step cannot run on target kubernetes")
        return self.stack

    def _kube(self) -> KubeTarget:
        if self.kube is None:
            raise UsageError("a k8s step cannot run on target stack")
        return self.kube

    def observe(self, op: Operation) -> Observation:
        """Run a read-only operation once (a ``wait`` is polled by the engine, not here)."""
        match op:
            case HttpProbe():
                from sre_cli.ops.providers import http

                return http.observe(op)
            case PrometheusProbe():
                from sre_cli.ops.providers import prometheus

                return prometheus.observe(op, self.prometheus_url, self.prometheus_config)
            case StackOp():
                return self._stack().observe(op)
            case K8sOp():
                return self._kube().observe(op)
            case TracesOp():
                from sre_cli.ops.providers import jaeger

                return jaeger.observe(op, self.jaeger_url)
            case RolloutOp():
                return self._kube().rollout_status(op)
            case ExecOp() | TopOp():
                # where it runs is the target's: the stack's component or a pod
                return self._stack().observe(op) if self.stack else self._kube().observe(op)
            case DescribeOp():
                if self.stack is not None:
                    return self.stack.observe(op)
                from sre_cli.ops.providers.kube_describe import describe

                return describe(self._kube(), op)
            case ShellOp():
                from sre_cli.ops.providers import shell

                return shell.observe(op, self.builtins())
            case PatchResources() | FaultsOp():
                raise UsageError(f"{op.describe()} is an action, not a check")
            case WaitOp():
                return self.observe(op.until.op)
            case EscalateOp():
                raise UsageError(f"{op.describe()} is an action, not a check")

    def plan(self, op: Operation) -> ActionPlan:
        match op:
            case StackOp():
                return self._stack().plan_action(op)
            case K8sOp() | RolloutOp() | PatchResources():
                return self._kube().plan_action(op)
            case ExecOp():
                return self._stack().plan_exec(op) if self.stack else self._kube().plan_exec(op)
            case EscalateOp():
                return self._plan_escalation(op)
            case ShellOp():
                from sre_cli.ops.providers import shell

                return shell.plan(op, self.builtins())
            case FaultsOp():
                return self._plan_clear_faults(op)
        raise UsageError(f"{op.describe()} is not an action")

    def escalate(self, team: str, reason: str) -> str:
        """Post a ``RunbookEscalation`` for ``team`` now; what was done."""
        from sre_cli.ops.providers.alertmanager import post_escalation

        return post_escalation(self.alertmanager_url, team, reason, dict(self.run_labels))

    def _plan_escalation(self, op: EscalateOp) -> ActionPlan:
        if op.when is not None:
            seen = self.observe(op.when.op)
            if not seen.ok:
                return ActionPlan(f"no escalation: {seen.summary}", details=seen.details)
            reason = f"{op.reason} ({seen.summary})"
        else:
            reason = op.reason
        change = Change(f"escalate to {op.team}", lambda: self.escalate(op.team, reason))
        return ActionPlan(f"escalate to {op.team}: {reason}", (change,))

    def _plan_clear_faults(self, op: FaultsOp) -> ActionPlan:
        """Nothing to do without rules; else one change that deletes them all."""
        from sre_cli.ops.providers import faults

        stack = self._stack()
        entry = stack.entry_url
        if not stack.plan.faults:
            return ActionPlan("fault injection is off on this stack: no fault to clear")
        token = os.environ.get(faults.ADMIN_TOKEN_ENV) or faults.stack_admin_token(
            entry, stack.control.layout.secrets_file
        )
        found = faults.rules(entry, token)
        if not found:
            return ActionPlan("no injected faults")
        shown = tuple(
            ", ".join(f"{k}={v}" for k, v in rule.items() if v not in (0, 0.0, None))
            for rule in found
        )

        def clear() -> str:
            faults.call(entry, "DELETE", token=token)
            return f"cleared {len(found)} fault rule(s)"

        return ActionPlan(
            f"clear {len(found)} fault rule(s)", (Change(op.describe(), clear),), details=shown
        )

    def close(self) -> None:
        if self.kube is not None:
            self.kube.close()


def open_context(options: TargetOptions) -> RunContext:
    """Connect to the target: read the stack's plan, or load the kubeconfig.

    Prometheus is ``--prometheus``, else the ``url`` of the Prometheus config, else the
    stack's own; the config (auth, TLS, headers) is read now, so a bad one stops the run
    before any step."""
    from sre_cli.prometheus import config_url

    url = options.prometheus or config_url(options.prometheus_config)
    config = options.prometheus_config
    if options.target == "stack":
        from sre_cli.ops.providers.stack import StackTarget

        stack = StackTarget.open(options.state_dir)
        return RunContext(
            "stack",
            stack=stack,
            prometheus_url=url or stack.prometheus_url,
            prometheus_config=config,
            alertmanager_url=options.alertmanager or stack.alertmanager_url,
            jaeger_url=options.jaeger or stack.jaeger_url,
        )
    from sre_cli.ops.providers.kubernetes import KubeTarget

    kube = KubeTarget.connect(options.kubeconfig, options.namespace, options.context)
    return RunContext(
        "kubernetes",
        kube=kube,
        prometheus_url=url,
        prometheus_config=config,
        alertmanager_url=options.alertmanager,
        jaeger_url=options.jaeger,
        entry_url=options.entry_url,
    )

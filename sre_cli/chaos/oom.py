"""Memory leak evidence: a container OOM-killed at its limit and restarted.

::

    - fault: {route: /live, leak_kb: 2048}           # the API keeps 2 MiB per request
    - expect_oom_kill: {component: api-1, within: 90s}            # stack
    - expect_oom_kill: {selector: app=api-service, within: 3m}   # Kubernetes

On Kubernetes (:func:`watch_pods`) the evidence is the kubelet's own: a container of the
selected pods whose ``lastState.terminated.reason`` is ``OOMKilled`` with a restart count above
the one noted when the action was planned, then that pod Ready again. The report gives the
time from the kill (``finishedAt``) to the pod's Ready transition, both the kubelet's clocks.

With ``aqua stack up --limits`` every API replica, ML service and worker runs in a cgroup
with its Deployment's memory limit. When such a process dies by SIGKILL, the supervisor
reads the group's OOM kill count (``oom_kill`` of ``memory.oom_control`` on v1, of
``memory.events`` on v2) before the group is made anew, and records it in the component's
``last_exit``. The action notes the component's restarts when it is planned, then waits until
it restarted after such an exit: the kernel killed the process at its limit and the
supervisor started it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sre_cli.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from sre_cli.ops.providers.kubernetes import KubeTarget
    from sre_cli.ops.providers.stack import StackTarget

__all__ = ["OOM_KILLED", "OOM_MARK", "OomWatch", "PodOomWatch", "watch", "watch_pods"]

#: in ``last_exit`` of a component the kernel killed at its memory limit
OOM_MARK = "OOM-killed at its memory limit"
#: the kubelet's ``lastState.terminated.reason`` of such a container
OOM_KILLED = "OOMKilled"


def _exit(stack: StackTarget, name: str) -> tuple[int, str]:
    """The component's restarts and how its process last ended."""
    state = stack.control.state()
    cs = state.components.get(name) if state is not None else None
    if cs is None:
        raise UsageError(f"no component {name} in this stack")
    return cs.restarts, cs.last_exit or ""


@dataclass(frozen=True)
class OomWatch:
    stack: StackTarget
    component: str
    restarts: int

    def wait(self, within: float) -> str:
        """Poll until the component restarted after an OOM kill."""
        deadline = time.monotonic() + within
        while True:
            restarts, last_exit = _exit(self.stack, self.component)
            if restarts > self.restarts and OOM_MARK in last_exit:
                return (
                    f"{self.component}: {last_exit}; restarted by the supervisor "
                    f"(restarts {self.restarts} -> {restarts})"
                )
            if time.monotonic() > deadline:
                raise CheckFailed(
                    f"{self.component} was not OOM-killed and restarted within {within:g}s "
                    f"(restarts {self.restarts} -> {restarts}, last exit: {last_exit or 'none'})"
                )
            time.sleep(0.5)


def watch(stack: StackTarget, component: str) -> OomWatch:
    """The restarts of ``component`` now; :class:`UsageError` when it has no memory cgroup
    (the stack runs without ``--limits``)."""
    from sre_cli.stack.cgroups import existing_cgroup, stack_group

    group = existing_cgroup(stack_group(stack.control.layout.root), component)
    if group is None or group.oom_kills() is None:
        raise UsageError(
            f"{component} runs in no memory cgroup",
            hint="start the stack with `aqua stack up --limits` (api, ml and worker only)",
        )
    return OomWatch(stack, component, _exit(stack, component)[0])


@dataclass(frozen=True)
class PodOomWatch:
    """The restart count of every container of the selected pods when the action was planned
    (by pod uid and container name; a pod created later starts from 0)."""

    kube: KubeTarget
    selector: str
    restarts: dict[tuple[str, str], int]

    def _killed(self) -> tuple[Any, Any] | None:
        """A pod and its container status restarted after an OOM kill since planning."""
        for pod in self.kube.list_pods(self.selector):
            for cs in pod.status.container_statuses or []:
                last = cs.last_state.terminated if cs.last_state else None
                before = self.restarts.get((pod.metadata.uid, cs.name), 0)
                if last is not None and last.reason == OOM_KILLED and cs.restart_count > before:
                    return pod, cs
        return None

    def wait(self, within: float) -> str:
        """Poll until a container was OOM-killed and restarted, then until its pod is Ready."""
        from sre_cli.ops.providers.kubernetes import pod_ready

        deadline = time.monotonic() + within
        found = self._killed()
        while found is None or not pod_ready(found[0]) or not found[1].ready:
            if time.monotonic() > deadline:
                seen = (
                    f"pod {found[0].metadata.name} was OOM-killed but is not Ready again"
                    if found is not None
                    else f"no container of pods {self.selector} has lastState {OOM_KILLED} "
                    "with a new restart"
                )
                raise CheckFailed(f"{seen} within {within:g}s")
            time.sleep(0.5)
            found = self._killed()
        pod, cs = found
        last = cs.last_state.terminated
        before = self.restarts.get((pod.metadata.uid, cs.name), 0)
        ready_at = next(
            (c.last_transition_time for c in pod.status.conditions or [] if c.type == "Ready"),
            None,
        )
        killed, back = "", ""
        if last.finished_at is not None:
            killed = f" at {last.finished_at:%H:%M:%S}"
            if ready_at is not None:
                back = f", Ready again {(ready_at - last.finished_at).total_seconds():.0f}s after"
        return (
            f"pod {pod.metadata.name} container {cs.name}: {OOM_KILLED} (exit "
            f"{last.exit_code}){killed}; restarted by the kubelet "
            f"(restarts {before} -> {cs.restart_count}){back}"
        )


def watch_pods(kube: KubeTarget, selector: str) -> PodOomWatch:
    """The restart count of each container of the pods ``selector`` picks, now."""
    pods = kube.list_pods(selector)
    if not pods:
        raise UsageError(f"no pod matches {selector} in namespace {kube.namespace}")
    restarts = {
        (pod.metadata.uid, cs.name): cs.restart_count or 0
        for pod in pods
        for cs in pod.status.container_statuses or []
    }
    return PodOomWatch(kube, selector, restarts)

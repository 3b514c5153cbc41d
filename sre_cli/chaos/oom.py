"""Memory leak evidence on the stack: a component OOM-killed in its cgroup and restarted.

::

    - fault: {route: /live, leak_kb: 2048}           # the API keeps 2 MiB per request
    - expect_oom_kill: {component: api-1, within: 90s}

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
from typing import TYPE_CHECKING

from sre_cli.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from sre_cli.ops.providers.stack import StackTarget

__all__ = ["OOM_MARK", "OomWatch", "watch"]

#: in ``last_exit`` of a component the kernel killed at its memory limit
OOM_MARK = "OOM-killed at its memory limit"


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

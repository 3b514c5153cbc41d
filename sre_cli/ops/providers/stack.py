"""``stack`` steps: the local stack through its state dir, as ``aqua stack`` drives it.

Components are selected by name or glob (``api-*``); ``only: not_ready`` narrows the
selection to those failing their readiness probe right now (``status`` probes live). Actions
go through the supervisor (``restart`` brings back a component stopped on purpose, too).
"""

from __future__ import annotations

import functools
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from sre_cli.errors import Unavailable, UsageError
from sre_cli.ops.operations import StackOp, number
from sre_cli.ops.outcome import ActionPlan, Change, Observation

if TYPE_CHECKING:
    from sre_cli.stack.control import ComponentStatus, StackControl

__all__ = ["StackTarget"]


def _row(c: ComponentStatus) -> str:
    pid = str(c.pid) if c.pid else "-"
    why = " (stopped on purpose)" if c.desired == "down" else ""
    return (
        f"{c.name:<14} {'ready' if c.ready else 'NOT READY':<9} phase={c.phase}{why} "
        f"pid={pid} restarts={c.restarts}"
    )


def _state(c: ComponentStatus) -> str:
    if c.ready:
        return "ready"
    return "stopped on purpose" if c.desired == "down" else f"not ready, {c.phase}"


class StackTarget:
    """One running stack, identified by its state dir."""

    def __init__(self, control: StackControl) -> None:
        self.control = control
        self.plan = control.plan()  # ConfigError (exit 2) when there is no stack here

    @classmethod
    def open(cls, state_dir: Path | None) -> StackTarget:
        from sre_cli.stack.control import StackControl
        from sre_cli.stack.spec import StateLayout, default_state_dir

        root = (state_dir or default_state_dir()).expanduser().resolve()
        return cls(StackControl(StateLayout(root)))

    @property
    def entry_url(self) -> str:
        return self.plan.entry_url

    @property
    def prometheus_url(self) -> str | None:
        found = [c.url for c in self.plan.components if c.kind == "prometheus"]
        return found[0] if found else None

    @property
    def alertmanager_url(self) -> str | None:
        found = [c.url for c in self.plan.components if c.kind == "alertmanager"]
        return found[0] if found else None

    @property
    def jaeger_url(self) -> str | None:
        found = [c.url for c in self.plan.components if c.kind == "jaeger"]
        return found[0] if found else None

    def _select(self, op: StackOp, only: str | None = None) -> list[ComponentStatus]:
        if self.control.supervisor_pid() is None:
            raise Unavailable(
                f"the stack in {self.control.layout.root} is not running",
                hint="`aqua stack up` starts it; `aqua stack status` shows what is left",
            )
        status = self.control.status()
        chosen = [c for c in status.components if any(fnmatchcase(c.name, pat) for pat in op.names)]
        if not chosen:
            known = ", ".join(c.name for c in status.components)
            raise UsageError(
                f"no component of this stack matches {', '.join(op.names)}",
                hint=f"components: {known}",
            )
        if (only or op.only) == "not_ready":
            chosen = [c for c in chosen if not c.ready]
        return chosen

    def observe(self, op: StackOp) -> Observation:
        if op.verb == "ready":
            chosen = self._select(op, only="all")
            bad = [c for c in chosen if not c.ready]
            rows = tuple(_row(c) for c in chosen)
            if bad:
                what = ", ".join(f"{c.name} ({_state(c)})" for c in bad)
                return Observation(False, f"not ready: {what}", rows)
            return Observation(True, f"ready: {', '.join(c.name for c in chosen)}", rows)
        chosen = self._select(op)
        if op.verb == "status":
            return Observation(None, f"{len(chosen)} component(s)", tuple(map(_row, chosen)))
        if not chosen:
            return Observation(None, "every selected component is ready: no logs to show")
        lines: list[str] = []
        for c in chosen:
            lines.append(f"── {c.name} ({_state(c)}): last {op.lines} lines")
            try:
                lines.extend(self.control.logs(c.name, lines=number(op.lines)))
            except Unavailable as exc:
                lines.append(f"   ({exc.message})")
        return Observation(None, f"logs of {', '.join(c.name for c in chosen)}", tuple(lines))

    def plan_action(self, op: StackOp) -> ActionPlan:
        chosen = self._select(op)
        if not chosen:
            return ActionPlan(f"nothing to do: {', '.join(op.names)} all ready")
        changes = tuple(
            Change(
                f"{op.verb} {c.name} ({_state(c)})",
                functools.partial(self.control.request, op.verb, c.name),
            )
            for c in chosen
        )
        return ActionPlan(f"{op.verb} {len(changes)} component(s)", changes)

    def close(self) -> None:
        """Nothing is held open: every call goes through the state dir."""

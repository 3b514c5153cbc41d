"""``stack`` steps: the local stack through its state dir, as ``aqua stack`` drives it.

Components are selected by name or glob (``api-*``); ``only: not_ready`` narrows the
selection to those failing their readiness probe right now (``status`` probes live). Actions
go through the supervisor (``restart`` brings back a component stopped on purpose, too).

``exec`` runs a program on this machine against a component: psql finds the stack's
PostgreSQL through ``PGHOST``/``PGPORT``/``PGUSER``/``PGDATABASE``/``PGPASSWORD`` (the
monitoring role for a read-only step), any program gets the component's URL as
``AQUA_COMPONENT_URL``. ``top`` reads each process's resident memory and
CPU from ``/proc`` (:func:`sre_cli.stack.usage.process_usage`). ``describe`` shows each
component's process as the kernel sees it (command line and state from ``/proc``) beside what
the supervisor knows (phase, restarts, ports, URL).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sre_cli.errors import MissingDependency, Unavailable, UsageError
from sre_cli.ops.operations import DescribeOp, ExecOp, StackOp, TopOp, number
from sre_cli.ops.outcome import ActionPlan, Change, Observation
from sre_cli.ops.providers.command import exec_change, exec_env, exec_observation, usage_row

if TYPE_CHECKING:
    from sre_cli.stack.control import ComponentStatus, StackControl
    from sre_cli.stack.spec import ComponentSpec

#: ``top`` measures CPU over this long (the processes' CPU seconds before and after)
TOP_SAMPLE_S = 0.5

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

    def _select(self, names: tuple[str, ...], only: str) -> list[ComponentStatus]:
        if self.control.supervisor_pid() is None:
            raise Unavailable(
                f"the stack in {self.control.layout.root} is not running",
                hint="`aqua stack up` starts it; `aqua stack status` shows what is left",
            )
        status = self.control.status()
        chosen = [c for c in status.components if any(fnmatchcase(c.name, pat) for pat in names)]
        if not chosen:
            known = ", ".join(c.name for c in status.components)
            raise UsageError(
                f"no component of this stack matches {', '.join(names)}",
                hint=f"components: {known}",
            )
        if only == "not_ready":
            chosen = [c for c in chosen if not c.ready]
        return chosen

    def observe(self, op: StackOp | ExecOp | TopOp | DescribeOp) -> Observation:
        if isinstance(op, ExecOp):
            return self._exec(op)
        if isinstance(op, TopOp):
            return self._top(op)
        if isinstance(op, DescribeOp):
            return self._describe(op)
        if op.verb == "ready":
            chosen = self._select(op.names, "all")
            bad = [c for c in chosen if not c.ready]
            rows = tuple(_row(c) for c in chosen)
            if bad:
                what = ", ".join(f"{c.name} ({_state(c)})" for c in bad)
                return Observation(False, f"not ready: {what}", rows)
            return Observation(True, f"ready: {', '.join(c.name for c in chosen)}", rows)
        chosen = self._select(op.names, op.only)
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
        if op.verb == "rollback":
            return self._plan_rollback(op)
        chosen = self._select(op.names, op.only)
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

    def _plan_rollback(self, op: StackOp) -> ActionPlan:
        """One change per service of the chosen components that has a release to go back to."""
        from sre_cli.stack import releases

        kinds = sorted({c.kind for c in self._select(op.names, "all")} & set(releases.DEPLOYMENTS))
        changes = []
        for kind in kinds:
            now = releases.current(self.control.layout, kind)
            back = releases.previous(self.control.layout, kind)
            if back is None or back.env == now.env:
                continue
            changes.append(
                Change(
                    f"roll {releases.DEPLOYMENTS[kind]} back from {now.describe()} to the "
                    f"settings of {back.describe()}",
                    functools.partial(releases.rollback, self.control, kind),
                )
            )
        if not changes:
            return ActionPlan(f"nothing to roll back: {', '.join(op.names)} run their only release")
        return ActionPlan(f"roll back {len(changes)} service(s)", tuple(changes))

    # -- exec and top -------------------------------------------------------------------------
    def _exec_component(self, op: ExecOp) -> ComponentSpec:
        known = ", ".join(c.name for c in self.plan.components)
        if op.component is None:
            raise UsageError(
                f"{op.describe()}: the step names no component of the stack",
                hint=f"add component: NAME ({known})",
            )
        for c in self.plan.components:
            if fnmatchcase(c.name, op.component):
                return c
        raise UsageError(
            f"no component of this stack matches {op.component}", hint=f"components: {known}"
        )

    def _exec(self, op: ExecOp) -> Observation:
        comp = self._exec_component(op)
        secrets_file = self.control.layout.secrets_file
        env = {**os.environ, **_component_env(comp, op, secrets_file), **exec_env(op)}
        argv = [str(_program(op.program)), *op.command[1:]]
        try:
            done = subprocess.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=op.timeout,
                cwd=self.control.layout.root,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else ""
            return exec_observation(op, comp.name, None, out)
        except OSError as exc:
            raise Unavailable(f"cannot run {op.program}: {exc.strerror or exc}") from None
        return exec_observation(op, comp.name, done.returncode, done.stdout)

    def plan_exec(self, op: ExecOp) -> ActionPlan:
        comp = self._exec_component(op)
        change = exec_change(op, comp.name, functools.partial(self._exec, op))
        return ActionPlan(change.summary, (change,))

    def _top(self, op: TopOp) -> Observation:
        from sre_cli.stack.usage import KUBERNETES_LIMITS, process_usage

        if not op.component:
            raise UsageError(
                f"{op.describe()}: the step names no component of the stack",
                hint="add component: NAME (a glob such as api-* works)",
            )
        chosen = [c for c in self._select(op.component, "all") if c.pid]
        before = {c.name: process_usage(c.pid) for c in chosen if c.pid}
        start = time.monotonic()
        time.sleep(TOP_SAMPLE_S)
        rows: list[str] = []
        for c in chosen:
            first, now = before.get(c.name), process_usage(c.pid) if c.pid else None
            if first is None or now is None:
                continue
            cores = (now.cpu_seconds - first.cpu_seconds) / (time.monotonic() - start)
            limit = KUBERNETES_LIMITS.get(c.kind)
            share = (
                f"  ({now.rss_bytes / limit[0]:.0%} of memory, {cores / limit[1]:.0%} of CPU limit)"
                if limit
                else ""
            )
            rows.append(usage_row(f"{c.name} (pid {c.pid})", now.rss_bytes, cores, share))
        if not rows:
            return Observation(None, f"no running process among {', '.join(op.component)}")
        return Observation(None, f"memory and CPU of {len(rows)} process(es)", tuple(rows))

    def _describe(self, op: DescribeOp) -> Observation:
        if not op.component:
            raise UsageError(
                f"{op.describe()}: the step names no component of the stack",
                hint="add component: NAME (a glob such as api-* works)",
            )
        chosen = self._select(op.component, "all")
        specs = {c.name: c for c in self.plan.components}
        lines: list[str] = []
        for c in chosen:
            spec = specs.get(c.name)
            ports = {"port": c.port, **(spec.extra_ports if spec else {})}
            lines += [
                f"── {c.name} ({c.kind})",
                f"   state:    {_state(c)}; phase {c.phase}, wanted {c.desired}, "
                f"live={'yes' if c.live else 'no'}",
                f"   pid:      {c.pid or '-'}" + (f" ({_proc_state(c.pid)})" if c.pid else ""),
                f"   command:  {_cmdline(c.pid) if c.pid else '(no process)'}",
                f"   ports:    {', '.join(f'{k}={v}' for k, v in ports.items())}",
                f"   url:      {c.url}",
                f"   restarts: {c.restarts}",
                "   uptime:   " + ("-" if c.uptime_s is None else f"{c.uptime_s:.0f}s"),
            ]
        ready = sum(c.ready for c in chosen)
        return Observation(None, f"{len(chosen)} component(s), {ready} ready", tuple(lines))

    def close(self) -> None:
        """Nothing is held open: every call goes through the state dir."""


_PROC_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "in uninterruptible wait",
    "T": "stopped",
    "t": "stopped by a tracer",
    "Z": "zombie",
    "X": "dead",
    "I": "idle",
}


def _proc_state(pid: int, proc: Path = Path("/proc")) -> str:
    """The kernel's word for the process now (``sleeping``), or that it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return "no such process"
    code = stat[stat.rindex(")") + 2 :].split()[0]
    return _PROC_STATES.get(code, code)


def _cmdline(pid: int, proc: Path = Path("/proc")) -> str:
    """The process's command line, words joined as a shell would read them."""
    import shlex

    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "(gone)"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    return shlex.join(words) if words else "(kernel thread or zombie)"


def _component_env(comp: ComponentSpec, op: ExecOp, secrets_file: Path) -> dict[str, str]:
    """Where the program finds the component. PostgreSQL: a read-only step connects as the
    monitoring role (``pg_monitor``: every session and statistic, no table data, no writes),
    a destructive one as the superuser; the password from the stack's secrets."""
    url = urlsplit(comp.url)
    env = {"AQUA_COMPONENT_URL": comp.url}
    if comp.kind == "postgres":
        from sre_cli.infra.pgroles import MONITOR
        from sre_cli.stack.state import load_or_create_secrets

        env |= {
            "PGHOST": url.hostname or "127.0.0.1",
            "PGPORT": str(url.port or comp.port),
            "PGUSER": (url.username or "aqua") if op.destructive else MONITOR,
            "PGDATABASE": url.path.lstrip("/") or "aqua",
            "PGCONNECT_TIMEOUT": "5",
        }
        if secrets_file.exists():
            found = load_or_create_secrets(secrets_file)
            password = (
                found.postgres_password if op.destructive else found.postgres_monitor_password
            )
            env["PGPASSWORD"] = password  # the child's environment, never its argv
    return env


def _program(name: str) -> Path:
    """The PostgreSQL client tools as the stack finds them; any other program on PATH."""
    from sre_cli.infra import binaries

    try:
        return binaries.find(name)
    except (ValueError, MissingDependency):
        pass
    found = shutil.which(name)
    if found is None:
        raise MissingDependency(f"{name} is not installed on this machine")
    return Path(found)

"""Everything ``aqua stack`` does, talking to the supervisor through the state dir.

- ``up`` resolves the plan, checks every port, writes ``plan.json``, starts the supervisor in
  its own session and waits until ``state.json`` says the stack is up, or failed (then the
  error names the component and carries its last log lines).
- ``stop|start|restart|kill NAME`` drop a request file in ``ROOT/commands/`` and wait for the
  supervisor's reply file next to it: no sockets, nothing to clean up if either side dies.
- ``down`` SIGTERMs the supervisor, waits for it, then sweeps any process still carrying the
  stack's ``AQUA_STACK_ID`` marker in its environment (a supervisor killed with SIGKILL cannot
  stop its children, so ``down`` does it), so nothing is left behind.
- ``status`` combines the supervisor's state with live probes run now: it shows what is true,
  not what was last written.

Example::

    ctl = StackControl(StateLayout(default_state_dir()))
    ctl.up(StackOptions(lite=True))
    ctl.request("kill", "api-1")
    ctl.status().to_json()
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sre_cli.errors import ComponentError, ConfigError, Unavailable
from sre_cli.stack.plan import Environment, MachineEnvironment, StackOptions, build_plan
from sre_cli.stack.probes import check_live, check_ready, port_in_use
from sre_cli.stack.runners import tail
from sre_cli.stack.spec import ComponentKind, StackPlan, StateLayout
from sre_cli.stack.state import (
    StackState,
    atomic_write,
    load_or_create_secrets,
    pid_alive,
    read_state,
    write_secret_files,
)

__all__ = ["ComponentStatus", "DownResult", "StackControl", "StackStatus", "UpResult"]

UP_TIMEOUT_S = 300.0
DOWN_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 180.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    kind: ComponentKind
    pid: int | None
    port: int
    url: str
    live: bool
    ready: bool
    restarts: int
    uptime_s: float | None
    phase: str
    desired: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "live": self.live,
            "ready": self.ready,
            "restarts": self.restarts,
            "uptime_s": self.uptime_s,
        }


@dataclass(frozen=True)
class StackStatus:
    state_dir: Path
    plan: StackPlan
    supervisor_pid: int | None
    phase: str
    components: tuple[ComponentStatus, ...]

    @property
    def all_ready(self) -> bool:
        return all(c.ready for c in self.components)

    def to_json(self) -> dict[str, object]:
        return {"components": [c.to_json() for c in self.components]}


@dataclass(frozen=True)
class UpResult:
    plan: StackPlan
    state: StackState
    seconds: float
    already_up: bool = False
    #: where the stack's secrets files are (printed, never their values)
    secrets_dir: Path | None = None
    #: the dashboards page with its token (printed, never in the JSON)
    dashboards_url: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "components": [c.name for c in self.plan.components],
            "seconds": round(self.seconds, 3),
            "already_up": self.already_up,
        }


@dataclass
class DownResult:
    state_dir: Path
    was_running: bool
    stopped: list[str] = field(default_factory=list)
    strays_killed: list[int] = field(default_factory=list)
    seconds: float = 0.0


def stack_processes(stack_id: str, leaders: Iterable[int] = ()) -> list[int]:
    """Pids of the stack's live processes.

    A process belongs to the stack when its environment carries ``AQUA_STACK_ID=stack_id``,
    or when it is in the session of one of ``leaders`` (each component runs in its own
    session): servers that rewrite their process title (redis, nginx) overwrite the memory
    ``/proc/PID/environ`` shows, so the marker alone does not find them.
    """
    marker = b"\0" + f"AQUA_STACK_ID={stack_id}".encode() + b"\0"
    me = {os.getpid(), os.getppid()}
    sessions = {p for p in leaders if pid_alive(p)}
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        in_session = len(fields) > 3 and int(fields[3]) in sessions
        if (in_session or marker in b"\0" + environ + b"\0") and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


class StackControl:
    """One stack, identified by its state dir."""

    def __init__(self, layout: StateLayout, env: Environment | None = None) -> None:
        self.layout = layout
        self.env = env or MachineEnvironment()

    # -- reading -----------------------------------------------------------------------------
    def plan(self) -> StackPlan:
        try:
            text = self.layout.plan_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"no stack in {self.layout.root}", hint="start one with `aqua stack up`"
            ) from None
        return StackPlan.model_validate_json(text)

    def state(self) -> StackState | None:
        return read_state(self.layout.state_file)

    def supervisor_pid(self) -> int | None:
        state = self.state()
        if state is not None and pid_alive(state.supervisor_pid):
            return state.supervisor_pid
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.layout.pid_file.read_text().strip())
            if pid_alive(pid):
                return pid
        return None

    def running_prometheus(self) -> str | None:
        """The URL of this stack's Prometheus while the stack runs, else None."""
        if self.supervisor_pid() is None or not self.layout.plan_file.exists():
            return None
        found = [c.url for c in self.plan().components if c.kind == "prometheus"]
        return found[0] if found else None

    def dashboards_url(self, plan: StackPlan | None = None) -> str | None:
        """The agent's dashboards page with the stack's token, when it has a Prometheus."""
        from sre_cli.stack.dashboards import dashboards_url

        chosen = plan or self.plan()
        token = load_or_create_secrets(self.layout.secrets_file).dashboards_token
        return dashboards_url(chosen, token)

    # -- up ------------------------------------------------------------------------------------
    def prepare(self, options: StackOptions) -> StackPlan:
        """Resolve and persist the plan; fail early on a taken port."""
        self.layout.create()
        plan = build_plan(options, self.env, self.layout)
        for port, owner in plan.port_owners():
            if port_in_use(port):
                raise ConfigError(
                    f"port {port} for {owner} is already in use",
                    hint="stop what listens there, or move the stack with --port-base N "
                    "or --port NAME=PORT",
                )
        write_secret_files(
            load_or_create_secrets(self.layout.secrets_file), self.layout.secrets_dir
        )
        atomic_write(self.layout.plan_file, plan.model_dump_json(indent=1) + "\n")
        for stale in [self.layout.state_file, self.layout.pid_file]:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        for f in self.layout.commands_dir.glob("*"):
            with contextlib.suppress(OSError):
                f.unlink()
        return plan

    def up(self, options: StackOptions, progress: Progress | None = None) -> UpResult:
        """Start the stack in the background and return once every component is ready."""
        started = time.monotonic()
        running = self.supervisor_pid()
        if running is not None:
            state = self.state()
            if state is not None and state.phase == "up":
                plan = self.plan()
                return UpResult(
                    plan,
                    state,
                    0.0,
                    already_up=True,
                    secrets_dir=self.layout.secrets_dir,
                    dashboards_url=self.dashboards_url(plan),
                )
            raise ConfigError(
                f"a stack supervisor (pid {running}) is already running in {self.layout.root}",
                hint="`aqua stack status` to see it, `aqua stack down` to stop it",
            )
        self._sweep_previous()
        plan = self.prepare(options)
        from sre_cli.stack.launch import python_executable

        env = dict(os.environ, AQUA_STACK_ID=uuid.uuid4().hex)
        self.layout.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.layout.supervisor_log, "ab") as log:
            proc = subprocess.Popen(
                [
                    python_executable(),
                    "-m",
                    "sre_cli.stack.supervisor",
                    "--state-dir",
                    str(self.layout.root),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=self.layout.root,
            )
        state = self._wait_up(proc, plan, progress)
        return UpResult(
            plan,
            state,
            time.monotonic() - started,
            secrets_dir=self.layout.secrets_dir,
            dashboards_url=self.dashboards_url(plan),
        )

    def _wait_up(
        self, proc: subprocess.Popen[bytes], plan: StackPlan, progress: Progress | None
    ) -> StackState:
        deadline = time.monotonic() + UP_TIMEOUT_S
        announced: set[str] = set()
        while True:
            state = self.state()
            if state is not None:
                for name, comp in state.components.items():
                    if comp.phase == "ready" and name not in announced and progress:
                        announced.add(name)
                        took = (comp.ready_at or 0) - (comp.started_at or 0)
                        progress(f"{name} ready ({took:.1f}s)")
                if state.phase == "up":
                    return state
                if state.phase == "failed" or (state.phase == "down" and state.error):
                    self._reap(proc)
                    raise ComponentError(
                        f"the stack did not come up: {state.error or 'unknown failure'}",
                        hint=f"logs: {self.layout.logs_dir}",
                    )
            if proc.poll() is not None:
                state = self.state()
                if state is not None and state.error:
                    raise ComponentError(f"the stack did not come up: {state.error}")
                raise ComponentError(
                    f"the stack supervisor exited ({proc.returncode}) before the stack was up; "
                    f"last lines of {self.layout.supervisor_log}:\n"
                    f"{tail(self.layout.supervisor_log, 20)}"
                )
            if time.monotonic() > deadline:
                self.down()
                comps = state.components.items() if state else []
                waiting = [n for n, c in comps if c.phase != "ready"]
                raise ComponentError(
                    f"the stack was not up after {UP_TIMEOUT_S:.0f}s; still waiting for: "
                    f"{', '.join(waiting) or '?'}"
                )
            time.sleep(0.1)

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=DOWN_TIMEOUT_S)

    def _sweep_previous(self) -> list[int]:
        """Kill what a previous supervisor of this dir left behind (it was SIGKILLed)."""
        with contextlib.suppress(ConfigError):
            state = self.state()
            if state is not None:
                recorded = [c.pid for c in state.components.values() if c.pid]
                return _kill_all(stack_processes(state.stack_id, recorded))
        return []

    # -- down ----------------------------------------------------------------------------------
    def down(self, purge: bool = False, progress: Progress | None = None) -> DownResult:
        """Stop every component (reverse order, gracefully) and leave no process behind;
        ``progress`` hears of each component as it stops."""
        started = time.monotonic()
        state = self.state()
        pid = self.supervisor_pid()
        result = DownResult(self.layout.root, was_running=pid is not None)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + DOWN_TIMEOUT_S
            running = {n for n, c in state.components.items() if c.pid} if state else set()
            while pid_alive(pid) and time.monotonic() < deadline:
                running = self._announce_stopped(running, started, progress)
                time.sleep(0.1)
            self._announce_stopped(running, started, progress)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if state is not None:
            result.stopped = [n for n, c in state.components.items() if c.pid]
            recorded = [c.pid for c in state.components.values() if c.pid and pid_alive(c.pid)]
            strays = set(stack_processes(state.stack_id, recorded) + recorded)
            result.strays_killed = _kill_all(sorted(strays))
        if purge:
            # Data a server keeps outside the state dir (PostgreSQL's cluster, when its OS
            # user cannot enter the state dir) hangs off a symlink: remove the target too.
            if self.layout.data_dir.is_dir():
                for link in self.layout.data_dir.glob("*/*"):
                    if link.is_symlink() and link.resolve().is_dir():
                        shutil.rmtree(link.resolve(), ignore_errors=True)
            for d in (self.layout.data_dir, self.layout.config_dir, self.layout.logs_dir):
                shutil.rmtree(d, ignore_errors=True)
            for f in (self.layout.plan_file, self.layout.state_file, self.layout.alerts_file):
                with contextlib.suppress(FileNotFoundError):
                    f.unlink()
        result.seconds = time.monotonic() - started
        return result

    def _announce_stopped(
        self, running: set[str], since: float, progress: Progress | None
    ) -> set[str]:
        """Tell ``progress`` of each of ``running`` the supervisor has since stopped; the
        ones still running."""
        state = self.state()
        if progress is None or state is None:
            return running
        stopped = {n for n in running if (c := state.components.get(n)) and not c.pid}
        for name in sorted(stopped):
            progress(f"{name} stopped ({time.monotonic() - since:.1f}s)")
        return running - stopped

    # -- per component -------------------------------------------------------------------------
    def request(self, action: str, name: str, timeout: float = REQUEST_TIMEOUT_S) -> str:
        """Ask the supervisor to ``stop|start|restart|kill`` one component; its reply."""
        self.plan().component(name)  # UsageError for an unknown name
        if self.supervisor_pid() is None:
            raise Unavailable(
                f"no stack supervisor is running for {self.layout.root}",
                hint="start the stack with `aqua stack up`",
            )
        req_id = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        self.layout.commands_dir.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"action": action, "name": name})
        atomic_write(self.layout.commands_dir / f"{req_id}.json", body)
        reply_path = self.layout.commands_dir / f"{req_id}.reply"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reply_path.exists():
                reply = json.loads(reply_path.read_text(encoding="utf-8"))
                reply_path.unlink()
                if not reply.get("ok"):
                    raise ComponentError(str(reply.get("message")))
                return str(reply.get("message"))
            if self.supervisor_pid() is None:
                raise Unavailable("the stack supervisor exited before answering")
            time.sleep(0.05)
        raise Unavailable(f"the supervisor did not answer `{action} {name}` within {timeout:.0f}s")

    def status(self) -> StackStatus:
        plan = self.plan()
        state = self.state()
        sup = self.supervisor_pid()
        comps = plan.components
        with ThreadPoolExecutor(max_workers=8) as pool:
            live = list(pool.map(lambda c: check_live(c.probe, c.port), comps))
            ready = list(pool.map(lambda c: check_ready(c.probe, c.port), comps))
        now = time.time()
        rows: list[ComponentStatus] = []
        for c, is_live, is_ready in zip(comps, live, ready, strict=True):
            cs = state.components.get(c.name) if state is not None else None
            pid = cs.pid if cs is not None and pid_alive(cs.pid) else None
            if cs is None:
                phase = "down"
            elif sup is None:
                # A supervisor killed hard leaves servers running: show them, say so.
                phase = "orphaned" if pid else "down"
            else:
                phase = cs.phase
            rows.append(
                ComponentStatus(
                    name=c.name,
                    kind=c.kind,
                    pid=pid,
                    port=c.port,
                    url=c.url,
                    live=is_live and pid is not None,
                    ready=is_ready and pid is not None,
                    restarts=cs.restarts if cs is not None else 0,
                    uptime_s=round(now - cs.started_at, 1)
                    if cs and pid and cs.started_at
                    else None,
                    phase=phase,
                    desired=cs.desired if cs is not None else "up",
                )
            )
        phase = state.phase if state is not None and sup is not None else "down"
        return StackStatus(self.layout.root, plan, sup, phase, tuple(rows))

    def logs(self, name: str, lines: int = 100, follow: bool = False) -> Iterator[str]:
        """The last ``lines`` lines of a component's log (``supervisor`` too), then new ones."""
        if name != "supervisor":
            self.plan().component(name)
        path = self.layout.supervisor_log if name == "supervisor" else self.layout.log(name)
        if not path.exists() and not follow:
            raise Unavailable(f"{name} has no log yet ({path})")
        yield from tail(path, lines).splitlines() if path.exists() else []
        if not follow:
            return
        pos = path.stat().st_size if path.exists() else 0
        while True:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size < pos:
                pos = 0
            if size > pos:
                with open(path, "rb") as fh:
                    fh.seek(pos)
                    chunk = fh.read()
                pos += len(chunk)
                yield from chunk.decode("utf-8", "replace").splitlines()
            time.sleep(0.25)


def _kill_all(pids: list[int]) -> list[int]:
    """SIGTERM, then SIGKILL what is left after 5 s; the pids that had to be signalled."""
    pids = [p for p in pids if pid_alive(p)]
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.1)
    for p in pids:
        if pid_alive(p):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGKILL)
    return pids

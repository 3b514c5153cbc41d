"""The background supervisor: starts the stack in dependency order, keeps it running, stops it.

One long-lived thread per component owns that component's process: it waits until every
dependency is ready, checks the ports are free, starts the process, waits for real readiness,
then watches it. A crash is restarted after an exponential backoff (0.5 s doubling to 30 s,
reset once the component has been ready for a minute) and counted, unless the component was
stopped on purpose. Threads live as long as the supervisor because a child started with
``PR_SET_PDEATHSIG`` dies when the *thread* that forked it exits.

The main thread serves control requests from ``ROOT/commands/`` (see :mod:`.control`) and
writes ``state.json`` atomically whenever something changed. On SIGTERM or SIGINT it stops the
components in reverse dependency order (one dependency level at a time, in parallel) and exits.

While the stack is first coming up, any component that fails (exits, times out, port taken)
fails the whole ``up``: the supervisor records the component and its last log lines, stops what
it started and exits non-zero.

Run it as ``python -m sre_cli.stack.supervisor --state-dir DIR`` (``aqua stack up`` does).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sre_cli.errors import AquaError
from sre_cli.stack.launch import runner_for
from sre_cli.stack.probes import check_ready, port_in_use
from sre_cli.stack.runners import Runner, tail
from sre_cli.stack.spec import ComponentSpec, StackPlan, StateLayout
from sre_cli.stack.state import ComponentState, StackState, atomic_write

__all__ = ["BACKOFF_INITIAL_S", "BACKOFF_MAX_S", "Supervisor", "main", "run_foreground"]

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
TICK_S = 0.1
READY_POLL_S = 0.25
STOP_TIMEOUT_S = 15.0

RunnerFactory = Callable[[ComponentSpec], Runner]


@dataclass
class _Request:
    action: str
    reply: Callable[[bool, str], None] = field(default=lambda ok, msg: None)


class ComponentThread:
    """Owns one component's process for the supervisor's whole life, from its own thread.

    Composition, not a ``threading.Thread`` subclass: the thread machinery calls private
    methods such as ``_stop`` on thread objects (in a forked child, too), which a subclass
    could shadow by accident.
    """

    def __init__(self, sup: Supervisor, spec: ComponentSpec, factory: RunnerFactory) -> None:
        self.thread = threading.Thread(target=self.run, name=f"component-{spec.name}", daemon=True)
        self.sup = sup
        self.spec = spec
        self.factory = factory
        self.requests: queue.Queue[_Request] = queue.Queue()
        self.runner: Runner | None = None
        self.state = ComponentState(name=spec.name, port=spec.port)
        self.backoff = BACKOFF_INITIAL_S
        self.next_start = 0.0
        self.ready_deadline = 0.0
        self.next_probe = 0.0
        self.exiting = False

    # -- helpers -----------------------------------------------------------------------------
    def _set(self, **changes: object) -> None:
        with self.sup.lock:
            for key, value in changes.items():
                setattr(self.state, key, value)
        self.sup.changed.set()

    def _log_tail(self) -> str:
        return tail(self.sup.layout.log(self.spec.name), 20)

    def _fail(self, message: str) -> None:
        """A failure while starting: fatal for the stack during `up`, a crash afterwards."""
        self._set(last_error=message)
        if self.sup.initial:
            self._set(phase="failed")
            self.sup.report_failure(self.spec.name, message, self._log_tail())
        else:
            self._crashed(message)

    def _crashed(self, why: str) -> None:
        if self.runner is not None:
            with contextlib.suppress(Exception):
                self.runner.stop(timeout=2.0)
        self.runner = None
        self.next_start = time.monotonic() + self.backoff
        self._set(phase="backoff", pid=None, last_exit=why)
        self.sup.log(f"{self.spec.name}: {why}; restarting in {self.backoff:.1f}s")
        self.backoff = min(self.backoff * 2, BACKOFF_MAX_S)

    # -- lifecycle -----------------------------------------------------------------------------
    def _launch(self, *, restart: bool) -> None:
        for port, owner in [(self.spec.port, self.spec.name)] + [
            (p, f"{self.spec.name} ({label})") for label, p in self.spec.extra_ports.items()
        ]:
            if port_in_use(port):
                self._fail(f"port {port} ({owner}) is already in use by another process")
                return
        self._set(phase="starting", started_at=time.time(), ready_at=None)
        if restart:
            with self.sup.lock:
                self.state.restarts += 1
        try:
            self.runner = self.factory(self.spec)
            self.runner.start()
        except (AquaError, OSError) as exc:
            self.runner = None
            self._fail(f"could not start: {exc}")
            return
        self._set(pid=self.runner.pid, last_error=None)
        self.ready_deadline = time.monotonic() + self.spec.ready_timeout_s
        self.next_probe = 0.0
        self.sup.log(f"{self.spec.name}: started pid {self.runner.pid}")

    def _stop(self, phase: str = "stopped") -> None:
        if self.runner is not None:
            self._set(phase="stopping")
            self.runner.stop(timeout=STOP_TIMEOUT_S)
            self.runner = None
            self.sup.log(f"{self.spec.name}: stopped")
        self._set(phase=phase, pid=None, ready_at=None)

    def _deps_ready(self) -> bool:
        return all(self.sup.phase_of(dep) == "ready" for dep in self.spec.depends_on)

    def _handle(self, req: _Request) -> None:
        name = self.spec.name
        match req.action:
            case "stop":
                self._set(desired="down")
                self._stop()
                req.reply(True, f"{name} stopped; it stays down until `aqua stack start {name}`")
            case "start":
                self._set(desired="up")
                if self.runner is None or not self.runner.running():
                    self.backoff = BACKOFF_INITIAL_S
                    self._launch(restart=self.state.started_at is not None)
                req.reply(True, f"{name} starting")
            case "restart":
                self._set(desired="up")
                self._stop()
                self.backoff = BACKOFF_INITIAL_S
                self._launch(restart=True)
                req.reply(True, f"{name} restarting")
            case "kill":
                pid = self.runner.kill() if self.runner is not None else None
                if pid is None:
                    req.reply(False, f"{name} has no running process to kill")
                else:
                    req.reply(True, f"sent SIGKILL to {name} (pid {pid})")
            case "shutdown":
                self._stop(phase="stopped")
                self.exiting = True
                req.reply(True, f"{name} stopped")
            case _:
                req.reply(False, f"unknown action {req.action!r}")

    def _tick(self) -> None:
        now = time.monotonic()
        phase = self.state.phase
        if self.state.desired == "down" or phase in ("failed", "stopped"):
            return
        if phase == "pending":
            if self._deps_ready():
                self._launch(restart=False)
            return
        if phase == "backoff":
            if now >= self.next_start:
                self._launch(restart=True)
            return
        runner = self.runner
        if runner is None:
            return
        if not runner.running():
            why = runner.exit_description() or "exited"
            if phase == "starting":
                self._fail(f"exited before it was ready ({why})")
            else:
                self._crashed(why)
            return
        if phase == "starting":
            if now >= self.next_probe:
                self.next_probe = now + READY_POLL_S
                if check_ready(self.spec.probe, self.spec.port):
                    self._set(phase="ready", ready_at=time.time(), pid=runner.pid)
                    self.sup.log(f"{self.spec.name}: ready")
                    return
            if now >= self.ready_deadline:
                self._fail(f"not ready after {self.spec.ready_timeout_s:.0f}s")
        elif (
            phase == "ready"
            and self.state.ready_at is not None
            and time.time() - self.state.ready_at > STABLE_AFTER_S
        ):
            self.backoff = BACKOFF_INITIAL_S

    def run(self) -> None:
        while not self.exiting:
            try:
                req: _Request | None = self.requests.get(timeout=TICK_S)
            except queue.Empty:
                req = None
            try:
                if req is not None:
                    self._handle(req)
                if not self.exiting and not self.sup.stopping.is_set():
                    self._tick()
            except Exception as exc:  # a supervisor thread must never die silently
                self.sup.log(f"{self.spec.name}: internal error: {exc!r}")
                if req is not None:
                    req.reply(False, f"internal error: {exc}")


class Supervisor:
    """Runs one stack described by ``ROOT/plan.json`` until told to stop."""

    def __init__(
        self, layout: StateLayout, plan: StackPlan, factory: RunnerFactory | None = None
    ) -> None:
        self.layout = layout
        self.plan = plan
        self.lock = threading.RLock()
        self.changed = threading.Event()
        self.stopping = threading.Event()
        self.initial = True
        self.failure: tuple[str, str, str] | None = None
        self.stack_id = os.environ.get("AQUA_STACK_ID") or uuid.uuid4().hex
        # Every process of the stack inherits this marker, so `down` can find strays.
        os.environ["AQUA_STACK_ID"] = self.stack_id
        self.state = StackState(
            supervisor_pid=os.getpid(), stack_id=self.stack_id, started_at=time.time()
        )
        factory = factory or (lambda spec: runner_for(spec, plan, layout))
        self.order = plan.start_order()
        self.threads = {c.name: ComponentThread(self, c, factory) for c in self.order}
        self.state.components = {n: t.state for n, t in self.threads.items()}

    def log(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        sys.stderr.write(f"{stamp} {message}\n")
        sys.stderr.flush()

    def phase_of(self, name: str) -> str:
        with self.lock:
            return self.threads[name].state.phase

    def report_failure(self, name: str, message: str, log_tail: str) -> None:
        with self.lock:
            if self.failure is None:
                self.failure = (name, message, log_tail)
        self.changed.set()

    def write_state(self) -> None:
        with self.lock:
            self.state.updated_at = time.time()
            text = self.state.model_dump_json(indent=1)
        atomic_write(self.layout.state_file, text + "\n")

    # -- control requests ----------------------------------------------------------------------
    def _serve_commands(self) -> None:
        for path in sorted(self.layout.commands_dir.glob("*.json")):
            try:
                req = json.loads(path.read_text(encoding="utf-8"))
                path.unlink()
            except (OSError, ValueError):
                continue
            reply_path = path.with_suffix(".reply")

            def reply(ok: bool, message: str, _p: Path = reply_path) -> None:
                atomic_write(_p, json.dumps({"ok": ok, "message": message}))

            action, name = str(req.get("action", "")), str(req.get("name", ""))
            if action == "down":
                reply(True, "stopping the stack")
                self.stopping.set()
            elif name not in self.threads:
                reply(False, f"no component named {name!r}")
            else:
                self.threads[name].requests.put(_Request(action, reply))

    # -- shutdown ----------------------------------------------------------------------------
    def _teardown(self) -> None:
        """Stop components in reverse dependency order, a level at a time, in parallel."""
        self.state.phase = "stopping"
        self.write_state()
        self.log("stopping the stack")
        began = time.monotonic()
        remaining = [c.name for c in self.order]
        # Replicas of one kind stop together: api-2 waits for api-1 only to start after the
        # schema migration, not to stop.
        dependents = {
            c.name: {d.name for d in self.order if c.name in d.depends_on and d.kind != c.kind}
            for c in self.order
        }
        while remaining:
            level = [n for n in remaining if not (dependents[n] & set(remaining))] or remaining[:]
            for n in level:
                self.threads[n].requests.put(_Request("shutdown"))
            for n in level:
                self.threads[n].thread.join(timeout=STOP_TIMEOUT_S * 2 + 5)
                if self.threads[n].runner is not None:  # a thread stuck in start: kill hard
                    with contextlib.suppress(Exception):
                        self.threads[n].runner.stop(timeout=2.0)  # type: ignore[union-attr]
            remaining = [n for n in remaining if n not in level]
            self.write_state()
        self.log(f"stack stopped in {time.monotonic() - began:.1f}s")

    def run(self) -> int:
        """Bring the stack up and supervise it until SIGTERM/SIGINT or a `down` request."""
        self.layout.create()
        atomic_write(self.layout.pid_file, f"{os.getpid()}\n")
        self.write_state()
        for worker in self.threads.values():
            worker.thread.start()
        rc = 0
        last_write = 0.0
        try:
            while not self.stopping.is_set():
                self._serve_commands()
                if self.failure is not None:
                    name, message, log_tail = self.failure
                    self.state.failed_component = name
                    self.state.error = (
                        f"{name}: {message}\n--- last lines of {name}'s log ---\n{log_tail}"
                    )
                    self.log(f"stack failed: {name}: {message}")
                    rc = 1
                    break
                if self.initial and all(t.state.phase == "ready" for t in self.threads.values()):
                    self.initial = False
                    self.state.phase = "up"
                    self.state.ready_at = time.time()
                    self.log(f"stack up in {self.state.ready_at - self.state.started_at:.1f}s")
                    self.changed.set()
                now = time.monotonic()
                if self.changed.is_set() or now - last_write > 1.0:
                    self.changed.clear()
                    self.write_state()
                    last_write = now
                self.changed.wait(TICK_S)
        finally:
            self.stopping.set()
            self._teardown()
            self.state.phase = "failed" if rc else "down"
            self.write_state()
            with contextlib.suppress(OSError):
                self.layout.pid_file.unlink()
        return rc


def _run_with_signals(sup: Supervisor) -> int:
    def on_signal(signum: int, _frame: object) -> None:
        sup.stopping.set()
        sup.changed.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return sup.run()


def run_foreground(layout: StateLayout, plan: StackPlan) -> int:
    """Supervise in this process until Ctrl-C (``aqua stack up --foreground``)."""
    os.environ["AQUA_STACK_ID"] = uuid.uuid4().hex
    return _run_with_signals(Supervisor(layout, plan))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sre_cli.stack.supervisor")
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    layout = StateLayout(args.state_dir.resolve())
    plan = StackPlan.model_validate_json(layout.plan_file.read_text(encoding="utf-8"))
    return _run_with_signals(Supervisor(layout, plan))


if __name__ == "__main__":
    sys.exit(main())

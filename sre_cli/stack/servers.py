"""Servers of the stack, started through the real-server library :mod:`sre_cli.infra`.

:class:`ServerRunner` adapts an infra server object (``start()``, ``stop()``, its process) to
the supervisor's :class:`~sre_cli.stack.runners.Runner` interface. The server's own start
waits for its readiness; the supervisor then confirms with its protocol probe.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

from sre_cli.errors import MissingDependency
from sre_cli.stack.runners import Runner
from sre_cli.stack.spec import ComponentSpec, StackPlan, StateLayout
from sre_cli.stack.state import pid_alive

__all__ = ["ServerRunner", "server_runner"]


class ServerRunner:
    """One start of an infra server."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self.server: Any = None
        self._pid: int | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    def start(self) -> None:
        self.server = self._build()
        self.server.start()
        self._pid = _server_pid(self.server)

    def running(self) -> bool:
        return pid_alive(self._pid)

    def exit_description(self) -> str | None:
        return None if self.running() else "process exited"

    def stop(self, timeout: float = 15.0) -> None:
        if self.server is not None:
            self.server.stop()

    def kill(self) -> int | None:
        pid = self._pid
        if not pid_alive(pid):
            return None
        assert pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return pid


def _server_pid(server: Any) -> int | None:
    for attr in ("pid", "process", "proc", "_proc"):
        value = getattr(server, attr, None)
        if isinstance(value, int):
            return value
        pid = getattr(value, "pid", None)
        if isinstance(pid, int):
            return pid
    return None


def server_runner(spec: ComponentSpec, plan: StackPlan, layout: StateLayout) -> Runner:
    """The runner of a server: postgres, redis, kafka, nginx, prometheus or alertmanager."""
    try:
        import sre_cli.infra  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            f"{spec.name}: the real-server library sre_cli.infra is not available"
        ) from exc
    raise MissingDependency(f"{spec.name}: no launcher for {spec.kind} yet")

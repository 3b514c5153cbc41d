"""How each kind of component is started: argv, environment and config, behind one interface.

A :class:`Runner` is one start of one component: ``start()`` spawns it (in its own session,
logging to ``ROOT/logs/NAME.log``), ``running()`` and ``pid`` watch it, ``stop()`` ends its
whole process group gracefully, ``kill()`` SIGKILLs the main process as a crash would. The
supervisor makes a fresh runner for every (re)start.

Servers (PostgreSQL, Redis, Kafka, nginx, Prometheus, Alertmanager) are started through the
real-server library :mod:`sre_cli.infra`; the Python services and the stack agent are plain
processes started here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sre_cli.errors import ComponentError
from sre_cli.infra.process import end_group, spawn

if TYPE_CHECKING:
    from sre_cli.stack.cgroups import Cgroup

__all__ = ["ProcessRunner", "Runner", "describe_returncode", "tail"]


class Runner(Protocol):
    """One start of one component."""

    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...

    def running(self) -> bool: ...

    def exit_description(self) -> str | None: ...

    def stop(self, timeout: float = 15.0) -> None: ...

    def kill(self) -> int | None: ...


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ("(no log)" when there is none)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 32768))
            data = fh.read()
    except OSError:
        return "(no log)"
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:]) or "(empty log)"


def _pdeathsig() -> Callable[[], None] | None:
    # SIGKILL the child if the supervisor thread that started it dies (no orphans on a crash).
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)

    return set_pdeathsig


_SET_PDEATHSIG = _pdeathsig()


def describe_returncode(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class ProcessRunner:
    """A foreground process in its own session; stopping it stops its whole group."""

    def __init__(
        self,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        cgroup: Cgroup | None = None,
    ) -> None:
        self.argv = [os.fspath(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        #: the group that limits its CPU and memory (``aqua stack up --limits``), or none
        self.cgroup = cgroup
        self._proc: subprocess.Popen[bytes] | None = None

    def _preexec(self) -> Callable[[], None] | None:
        cgroup = self.cgroup
        if cgroup is None:
            return _SET_PDEATHSIG

        def enter() -> None:  # only prctl(2) and the cgroup file writes
            if _SET_PDEATHSIG is not None:
                _SET_PDEATHSIG()
            cgroup.join()

        return enter

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self._proc = spawn(
                    self.argv, log, cwd=self.cwd, env=self.env, preexec_fn=self._preexec()
                )
            except OSError as exc:
                raise ComponentError(f"cannot run {self.argv[0]}: {exc.strerror}") from exc

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_description(self) -> str | None:
        """How the process ended; with a cgroup, whether the kernel killed it at its memory
        limit (read now: the group is made anew when the component restarts)."""
        if self._proc is None or self._proc.poll() is None:
            return None
        why = describe_returncode(self._proc.returncode)
        if self.cgroup is not None and self._proc.returncode == -signal.SIGKILL:
            kills = self.cgroup.oom_kills()
            if kills:
                why += f", OOM-killed at its memory limit (oom_kill {kills})"
        return why

    def stop(self, timeout: float = 15.0) -> None:
        proc = self._proc
        if proc is None:
            return
        end_group(proc, timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything it forked into its session
        if self.cgroup is not None:
            self.cgroup.remove()

    def kill(self) -> int | None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        return proc.pid

"""Minimal supervision of the control-plane child processes.

Each child runs in its own session (so stopping it also stops anything it forked), logs to a
file in the work dir, and gets ``PR_SET_PDEATHSIG`` = SIGKILL on Linux so a crashed or killed
parent leaves no orphan servers behind. The signal fires when the *thread* that started the
child exits: start clusters from a long-lived thread (the main thread in pytest).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sre_cli.errors import ComponentError

__all__ = ["ManagedProcess", "free_port", "wait_until"]

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return set_pdeathsig


# Resolved once in the parent: the child only calls an already-loaded C function.
_SET_PDEATHSIG = _load_prctl()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ManagedProcess:
    """One server process: started with :meth:`start`, stopped (group-wide) with :meth:`stop`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [os.fspath(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError(f"{self.name} already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self._proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                    preexec_fn=_SET_PDEATHSIG,  # only calls prctl(2): safe after fork
                )
            except OSError as exc:
                raise ComponentError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def ensure_running(self) -> None:
        """Raise :class:`ComponentError` with the log's tail if the process has exited."""
        if self._proc is not None and self._proc.poll() is not None:
            raise ComponentError(
                f"{self.name} exited with code {self._proc.returncode}; "
                f"last log lines ({self.log_path}):\n{self.log_tail()}"
            )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL after ``timeout`` seconds. Idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # Children the server forked into its session die with it.
        self._signal_group(proc.pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def log_tail(self, lines: int = 25) -> str:
        try:
            data = self.log_path.read_bytes()[-16384:]
        except OSError:
            return "(no log)"
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    watch: Sequence[ManagedProcess] = (),
    interval: float = 0.2,
) -> float:
    """Poll ``check`` until it returns True; return the seconds waited.

    Raises :class:`ComponentError` on timeout, or as soon as one of ``watch`` exits.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        for proc in watch:
            proc.ensure_running()
        if check():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            tails = "".join(f"\n--- {p.name} ({p.log_path}) ---\n{p.log_tail(10)}" for p in watch)
            raise ComponentError(f"timed out after {timeout:.0f} s waiting for {what}{tails}")
        time.sleep(interval)

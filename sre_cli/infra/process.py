"""Supervised child processes: start, wait for real readiness, stop without orphans.

A :class:`ManagedProcess` runs one command in its own process group with stdout and stderr
in its own log file. Readiness is whatever a probe callable says (a query, a PING, an HTTP
200), never "the process is alive". Stopping sends the component's stop signal, waits, then
SIGKILLs the whole group, so no child outlives the server::

    proc = ManagedProcess("redis", ["redis-server", "--port", "6390"], workdir)
    proc.start()
    proc.wait_ready(lambda: ping(6390), timeout=10)
    proc.stop()

:class:`Server` is the base of every server module (``postgres``, ``redis``, ...): it owns
a ``workdir``, a port on 127.0.0.1, and gives ``start``/``stop``/``with``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Self

from sre_cli.errors import ComponentError, ConfigError
from sre_cli.infra.http import http_status
from sre_cli.lifecycle import Running

__all__ = [
    "HttpServer",
    "ManagedProcess",
    "PortInUse",
    "Server",
    "check_port_free",
    "end_group",
    "free_port",
    "spawn",
    "tcp_open",
]

LOOPBACK = "127.0.0.1"


class PortInUse(ConfigError):
    """A port that was asked for explicitly is already bound on 127.0.0.1."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    The kernel picks it from the ephemeral range, so parallel test workers rarely collide;
    the caller binds it soon after.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port_free(port: int, component: str) -> None:
    """Raise :class:`PortInUse` when ``port`` on 127.0.0.1 is already bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option servers use: a port in TIME_WAIT counts as free, a listener does not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(
                    f"{component}: port {port} on {LOOPBACK} is already in use",
                    hint="pick another port, or omit it to get a free one",
                ) from exc
            raise


def tcp_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def spawn(
    argv: Sequence[str],
    log: IO[bytes],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own (its pid is its process group's id), with
    stdin from /dev/null and stdout and stderr into ``log``; as ``user`` when given."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        user=user,
        group=user,
        extra_groups=[] if user else None,
        preexec_fn=preexec_fn,
    )


def end_group(
    popen: subprocess.Popen[bytes],
    timeout: float,
    *,
    stop_signal: signal.Signals = signal.SIGTERM,
    signal_group: bool = True,
) -> None:
    """Ask a process started by :func:`spawn` to stop with ``stop_signal`` (to its whole
    group, or with ``signal_group=False`` to the leader alone); SIGKILL the group when it
    has not exited after ``timeout`` seconds. Returns once the leader has exited."""
    if popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if signal_group:
            os.killpg(popen.pid, stop_signal)
        else:
            popen.send_signal(stop_signal)
    try:
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()


class ManagedProcess:
    """One child process in its own process group, logging to ``log_path``.

    ``stop_signal`` is what asks the program to shut down cleanly (SIGINT is PostgreSQL's
    "fast" shutdown). With ``signal_group`` the signal goes to the whole group, which suits
    wrappers that do not forward it; without, only the leader gets it and shuts its own
    children down. Either way, whatever is left of the group after ``stop`` is SIGKILLed.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        workdir: Path,
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        signal_group: bool = True,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.workdir = workdir
        self.log_path = log_path or workdir / f"{name}.log"
        self.env = dict(env) if env is not None else None
        self.user = user
        self.stop_signal = stop_signal
        self.signal_group = signal_group
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the command (no readiness wait; see :meth:`wait_ready`)."""
        if self._popen is not None and self._popen.poll() is None:
            raise ComponentError(f"{self.name}: already running (pid {self._popen.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        env = dict(os.environ if self.env is None else self.env)
        try:
            self._popen = spawn(self.argv, self._log, cwd=self.workdir, env=env, user=self.user)
        except FileNotFoundError as exc:
            self._close_log()
            raise ComponentError(f"{self.name}: cannot execute {self.argv[0]}: {exc}") from exc

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait_ready(
        self, probe: Callable[[], bool], timeout: float, *, interval: float = 0.1
    ) -> float:
        """Poll ``probe`` until it returns True; return the seconds it took.

        A probe that raises counts as "not yet". Raises :class:`ComponentError` naming the
        component, with the last log lines, if the process exits or the deadline passes.
        """
        started = time.monotonic()
        deadline = started + timeout
        last_error = ""
        while True:
            if not self.running():
                raise ComponentError(
                    f"{self.name} exited with code {self.returncode} before it was ready"
                    f"{self._tail_text()}"
                )
            try:
                if probe():
                    return time.monotonic() - started
            except Exception as exc:  # any probe failure means "not ready yet"
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                detail = f" (last probe error: {last_error})" if last_error else ""
                raise ComponentError(
                    f"{self.name} did not become ready within {timeout:g} s{detail}"
                    f"{self._tail_text()}"
                )
            time.sleep(interval)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the process to stop, SIGKILL the group after ``timeout``; return the exit code."""
        popen = self._popen
        if popen is None:
            return None
        end_group(popen, timeout, stop_signal=self.stop_signal, signal_group=self.signal_group)
        self._reap_group(popen.pid)
        self._close_log()
        return popen.returncode

    @staticmethod
    def _reap_group(pgid: int) -> None:
        """SIGKILL whatever survived the leader in its process group, and wait until gone."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                return
            except PermissionError:  # pgid reused by a process we do not own
                return
            time.sleep(0.05)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- logs ------------------------------------------------------------------------------

    def log_tail(self, lines: int = 20) -> list[str]:
        """The last ``lines`` lines of the log file."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                data = fh.read()
        except FileNotFoundError:
            return []
        return data.decode("utf-8", "replace").splitlines()[-lines:]

    def _tail_text(self, lines: int = 20) -> str:
        tail = self.log_tail(lines)
        if not tail:
            return f"\n(log {self.log_path} is empty)"
        body = "\n".join(f"  | {line}" for line in tail)
        return f"\nlast lines of {self.log_path}:\n{body}"


class Server(Running):
    """A real server run as a supervised child on 127.0.0.1, in a directory of its own.

    Subclasses set ``name`` and ``ready_timeout`` and implement :meth:`_prepare` (write
    configs, init data), :meth:`_argv` and :meth:`_probe`. ``start`` returns once the probe
    says ready; ``start_seconds`` records how long that took, from spawn (or preparation)
    to ready.
    """

    name: str = "server"
    ready_timeout: float = 30.0
    stop_timeout: float = 10.0
    stop_signal: signal.Signals = signal.SIGTERM
    signal_group: bool = True

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir).resolve()
        self._requested_port = port
        self.port = port if port is not None else 0
        self.start_seconds: float | None = None
        self._process: ManagedProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def process(self) -> ManagedProcess | None:
        return self._process

    def start(self) -> Self:
        if self._process is not None and self._process.running():
            return self
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._requested_port is not None:
            check_port_free(self._requested_port, self.name)
        else:
            self.port = free_port()
        self._prepare()
        self._process = ManagedProcess(
            self.name,
            self._argv(),
            self._run_dir(),
            log_path=self.log_path,
            env=self._env(),
            user=self._user(),
            stop_signal=self.stop_signal,
            signal_group=self.signal_group,
        )
        self._process.start()
        try:
            self._process.wait_ready(self._probe, self.ready_timeout)
            self._after_ready()
        except BaseException:
            self._process.stop(self.stop_timeout)
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(self.stop_timeout)

    def running(self) -> bool:
        return self._process is not None and self._process.running()

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"<{type(self).__name__} {state} port={self.port} workdir={self.workdir}>"

    # -- hooks for subclasses ----------------------------------------------------------------

    def _prepare(self) -> None:
        """Write configs and initialise data before the process starts."""

    @abstractmethod
    def _argv(self) -> list[str]:
        """The command line of the server in the foreground."""

    @abstractmethod
    def _probe(self) -> bool:
        """True when the server answers a real request."""

    def _after_ready(self) -> None:
        """Work that needs the running server (create a database, ...)."""

    def _run_dir(self) -> Path:
        return self.workdir

    def _env(self) -> Mapping[str, str] | None:
        return None

    def _user(self) -> str | None:
        return None


class HttpServer(Server):
    """A server that answers HTTP on its port: ``url`` is its base, and it is ready when
    ``ready_path`` answers 200 (subclasses with another readiness override :meth:`_probe`)."""

    ready_path: str = "/-/ready"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _probe(self) -> bool:
        return http_status(f"{self.url}{self.ready_path}") == 200

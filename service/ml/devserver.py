"""Run the ML service as a real uvicorn process on loopback (tests, benchmarks, demos).

    with MLServer(env={"AQUA_ML_BATCHING": "false"}) as srv:
        httpx.get(srv.url + "/ready")

``start`` returns once ``/ready`` answers 200 (weights loaded, warm-up pass done); ``stop``
terminates the process and waits for it. The port can be fixed, so a stopped server can be
started again on the same address. :func:`wait_ready` is that wait for any service process
(the API's test harness waits for its server with it too).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, timeout: float, name: str, logs: Callable[[], str]
) -> bool:
    """Poll ``url``/ready until it answers 200 (True) or ``timeout`` passes (False); raise
    :class:`RuntimeError` with ``logs()`` if the process ``name`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{logs()}")
        try:
            if httpx.get(url + "/ready", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


class MLServer:
    def __init__(
        self,
        port: int | None = None,
        env: dict[str, str] | None = None,
        *,
        workers: int = 1,
        startup_timeout: float = 60.0,
    ) -> None:
        self.port = port or free_port()
        self.env = env or {}
        self.workers = workers
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "AQUA_LOG_JSON": "false", **self.env}
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  closed in stop()
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "service.ml.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self._proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=self._log)
        if wait_ready(self._proc, self.url, self.startup_timeout, "ML server", self.logs):
            return self
        self.stop()
        raise RuntimeError(f"ML server not ready after {self.startup_timeout} s")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def logs(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

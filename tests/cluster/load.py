"""A paced HTTP load for the real-node tests: N requests per second to one loopback URL.

Every request opens its own connection (``Connection: close``), so a request lands wherever
kube-proxy sends a new connection at that moment, and an error is one failed request, not a
stale keep-alive connection. A failure is a connection error, a timeout or any 5xx.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sre_cli.pacing import paced


@dataclass
class LoadResult:
    requests: int = 0
    failures: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Load:
    """``with Load(url, rps=120) as load: ...``; then ``load.result``."""

    def __init__(self, url: str, *, rps: float = 180.0, workers: int = 48) -> None:
        parts = urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost"), "load only ever targets loopback"
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.interval = workers / rps
        self.workers = workers
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0

    def _one(self) -> str | None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request("GET", self.path, headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            return f"HTTP {resp.status}" if resp.status >= 500 else None
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__
        finally:
            conn.close()

    def _step(self) -> None:
        error = self._one()
        with self._lock:
            self.result.requests += 1
            if error is not None:
                self.result.failures += 1
                self.result.errors[error] = self.result.errors.get(error, 0) + 1

    def _run(self, offset: float) -> None:
        paced(self._step, interval=self.interval, stop=self._stop, offset=offset)

    def __enter__(self) -> Load:
        self._t0 = time.monotonic()
        for i in range(self.workers):
            t = threading.Thread(target=self._run, args=(i * self.interval / self.workers,))
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        self.result.seconds = time.monotonic() - self._t0


def kill_pod_args(namespace: str, selector: str, kubeconfig: Path) -> list[str]:
    """``aqua chaos kill-pod``'s arguments that delete one pod of ``selector`` and wait until
    its replacement is Ready, confirmed, with the report as JSON."""
    return [
        "kill-pod",
        "-n",
        namespace,
        "--selector",
        selector,
        "--count",
        "1",
        "--wait-ready",
        "--yes",
        "--kubeconfig",
        str(kubeconfig),
        "--format",
        "json",
    ]

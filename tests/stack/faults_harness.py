"""A stack whose API answers what a test tells it to (``aqua stack up --faults``), under load.

The API's fault rules make it fail for real, the stack's Prometheus scrapes the failures as it
would any, so an SLO over ``/health`` burns for real::

    with fs.load("/health", rate=10):
        fs.fault("/health", error_rate=1.0)
        ...
        fs.clear()
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from infra_harness import require_binary
from stack.stack_harness import Stack, make_stack

FAULTS_PATH = "/api/v1/admin/faults"


@dataclass
class LoadCount:
    ok: int = 0
    failed: int = 0


@dataclass
class FaultStack:
    stack: Stack
    _token: str = field(default="", repr=False)

    @property
    def state_dir(self) -> Path:
        return self.stack.state_dir

    @property
    def entry(self) -> str:
        return str(self.stack.plan()["entry_url"])

    def url_of(self, kind: str) -> str:
        return str(next(c["url"] for c in self.stack.plan()["components"] if c["kind"] == kind))

    @property
    def token(self) -> str:
        if not self._token:
            self._token = self.stack.admin_token(self.entry)
        return self._token

    def fault(self, route: str, **rule: object) -> None:
        r = httpx.put(
            self.entry + FAULTS_PATH,
            json={"route": route, **rule},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert r.status_code < 300, r.text

    def clear(self) -> None:
        r = httpx.delete(
            self.entry + FAULTS_PATH, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )
        assert r.status_code < 300, r.text

    @contextlib.contextmanager
    def load(self, path: str, rate: float = 10.0) -> Iterator[LoadCount]:
        """Requests to ``path`` at about ``rate`` per second until the block ends."""
        count = LoadCount()
        stop = threading.Event()

        def drive() -> None:
            with httpx.Client(timeout=5) as client:
                while not stop.wait(1 / rate):
                    try:
                        ok = client.get(self.entry + path).status_code < 500
                    except httpx.HTTPError:
                        ok = False
                    if ok:
                        count.ok += 1
                    else:
                        count.failed += 1

        thread = threading.Thread(target=drive, daemon=True)
        thread.start()
        try:
            yield count
        finally:
            stop.set()
            thread.join(timeout=10)

    def prometheus_value(self, query: str) -> float | None:
        r = httpx.get(
            f"{self.url_of('prometheus')}/api/v1/query", params={"query": query}, timeout=30
        )
        result = r.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_prometheus(
        self, query: str, predicate: Callable[[float], bool], what: str, timeout: float = 90
    ) -> float:
        """Poll ``query`` until ``predicate(value)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.prometheus_value(query)
            if value is not None and predicate(value):
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {query} = {value}"
            time.sleep(1)


def slo_spec(route: str = "/health", objective: float = 99.0) -> str:
    """An SLO over the stack API's requests to ``route``: a 5xx is an error."""
    sel = f'job="api",route="{route}"'
    window = "[{{.window}}]"
    return (
        "version: prometheus/v1\nservice: drill\nslos:\n  - name: health\n"
        f"    objective: {objective}\n    window: 30d\n    sli:\n      events:\n"
        f'        error_query: sum(rate(http_requests_total{{{sel},status=~"5.."}}{window}))\n'
        f"        total_query: sum(rate(http_requests_total{{{sel}}}{window}))\n"
    )


def fault_stack(tmp: Path) -> Iterator[FaultStack]:
    """A ``--lite --faults`` stack with one API replica, nginx, Prometheus and Alertmanager
    (from ``PATH`` through a private bin dir), every component ready."""
    bins = tmp / "bins"
    bins.mkdir()
    for tool in ("nginx", "alertmanager", "prometheus"):
        (bins / tool).symlink_to(require_binary(tool))
    for s in make_stack(tmp, {"AQUA_STACK_BIN_PATH": str(bins)}):
        s.up("--lite", "--faults", "--api-replicas", "1")
        s.wait(lambda st: all(c["ready"] for c in st.values()), 90, "every component ready")
        yield FaultStack(s)

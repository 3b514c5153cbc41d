"""Synthetic load at the green pods before blue-green switches any Service to them.

Green starts without traffic (the Services are pinned to the blue pods), so its gate needs
requests of its own: paced ``GET``s of one path the SLOs count, spread evenly over the green
pods' own addresses and their container port. Sent to the pod addresses rather than through
a preview Service: nothing more to create and clean up after an interrupted run, every green
pod gets its share (kube-proxy picks at random per connection), and the requests never touch
the Services users reach. Only addresses of this machine are loaded: loopback, or a network
directly attached to one of its interfaces (the local node's pod bridge); a pod behind a
gateway is refused. The load stops by itself after ``max_s`` seconds at the latest::

    with SyntheticLoad([("10.244.0.7", 8000)], "/api/v1/farms", rps=20, max_s=80) as load:
        ...                                   # the gate's analyses
    load.figures.to_json()                    # requests, 5xx, connection errors
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sre_cli.errors import UsageError
from sre_cli.pacing import paced

__all__ = [
    "LoadFigures",
    "Preview",
    "PreviewSpec",
    "SyntheticLoad",
    "Target",
    "container_port",
    "on_link",
    "synthetic_load",
]

Target = tuple[str, int]
ROUTES = Path("/proc/net/route")


@dataclass(frozen=True)
class PreviewSpec:
    """What the gate's load asks for: the path, the pace, the pods' port."""

    path: str
    rps: float
    port: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "rps": self.rps, "port": self.port}


@dataclass
class LoadFigures:
    targets: list[str] = field(default_factory=list)
    path: str = ""
    requests: int = 0
    server_errors: int = 0  # 5xx answers
    failed: int = 0  # no answer: refused, reset, timed out
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "path": self.path,
            "requests": self.requests,
            "server_errors": self.server_errors,
            "failed": self.failed,
            "seconds": round(self.seconds, 2),
        }


class Preview(Protocol):
    """Starts load at ``targets``; the context's value counts it, its exit stops it."""

    def __call__(
        self, targets: Sequence[Target], spec: PreviewSpec, max_s: float
    ) -> AbstractContextManager[LoadFigures]: ...


def container_port(template: dict[str, Any], container: str) -> int:
    """The port the pods serve on: the container's port named ``http``, else its first."""
    for c in template.get("spec", {}).get("containers") or []:
        if c.get("name") != container:
            continue
        ports = [p for p in c.get("ports") or [] if p.get("protocol", "TCP") == "TCP"]
        named = [p for p in ports if p.get("name") == "http"]
        for p in named or ports:
            return int(p["containerPort"])
    raise UsageError(
        f"container {container!r} declares no TCP port",
        hint="blue-green loads the green pods on their container port before the switch",
    )


def _routes(table: Path) -> list[tuple[ipaddress.IPv4Network, bool]]:
    """``(destination, has a gateway)`` of each IPv4 route in ``/proc/net/route``."""
    out = []
    for line in table.read_text().splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        dest, gateway, mask = (struct.pack("<I", int(c, 16)) for c in (cols[1], cols[2], cols[7]))
        net = ipaddress.IPv4Network(
            (socket.inet_ntoa(dest), ipaddress.IPv4Address(socket.inet_ntoa(mask)).compressed),
            strict=False,
        )
        out.append((net, gateway != b"\0\0\0\0"))
    return out


def on_link(address: str, table: Path = ROUTES) -> bool:
    """Whether ``address`` is loopback or on a network directly attached to this machine
    (its most specific route has no gateway and is not the default route)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    if not isinstance(ip, ipaddress.IPv4Address) or not table.is_file():
        return False
    matches = [(net, via) for net, via in _routes(table) if ip in net]
    if not matches:
        return False
    net, via = max(matches, key=lambda m: m[0].prefixlen)
    return net.prefixlen > 0 and not via


class SyntheticLoad:
    """Paced ``GET path`` at ``rps`` over ``targets`` in turn, one connection a request."""

    def __init__(
        self,
        targets: Sequence[Target],
        path: str,
        *,
        rps: float,
        max_s: float,
        local: Callable[[str], bool] = on_link,
        workers: int = 8,
    ) -> None:
        if not targets:
            raise UsageError("no Ready green pod with an address to load")
        for host, _ in targets:
            if not local(host):
                raise UsageError(
                    f"green pod address {host} is not on a network of this machine",
                    hint="the gate's load only goes to pods on a local bridge or loopback",
                )
        self.targets = list(targets)
        self.path = path
        self.interval = workers / rps
        self.workers = workers
        self.max_s = max_s
        self.figures = LoadFigures([f"{h}:{p}" for h, p in self.targets], path)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sent = 0
        self._t0 = 0.0

    def _one(self, host: str, port: int) -> str | None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        try:
            conn.request("GET", self.path, headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            return "5xx" if resp.status >= 500 else None
        except (OSError, http.client.HTTPException):
            return "failed"
        finally:
            conn.close()

    def _step(self) -> None:
        with self._lock:
            host, port = self.targets[self._sent % len(self.targets)]
            self._sent += 1
        outcome = self._one(host, port)
        with self._lock:
            self.figures.requests += 1
            if outcome == "5xx":
                self.figures.server_errors += 1
            elif outcome == "failed":
                self.figures.failed += 1

    def _run(self, offset: float) -> None:
        until = self._t0 + self.max_s
        paced(self._step, interval=self.interval, stop=self._stop, offset=offset, until=until)

    def __enter__(self) -> LoadFigures:
        self._t0 = time.monotonic()
        for i in range(self.workers):
            t = threading.Thread(
                target=self._run, args=(i * self.interval / self.workers,), daemon=True
            )
            t.start()
            self._threads.append(t)
        return self.figures

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        self.figures.seconds = time.monotonic() - self._t0


def synthetic_load(
    targets: Sequence[Target], spec: PreviewSpec, max_s: float
) -> AbstractContextManager[LoadFigures]:
    """The real :class:`Preview`: a :class:`SyntheticLoad` on this machine's pod addresses."""
    return SyntheticLoad(targets, spec.path, rps=spec.rps, max_s=max_s)

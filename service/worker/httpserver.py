"""The worker's own HTTP endpoints, served from a thread so they answer even while the event
loop is busy with a batch.

* ``/live`` — 200 while the event loop is turning (a beat younger than ``stall_s``); a stuck
  loop gives 503 and the supervisor restarts the worker.
* ``/ready`` — 200 when the consumers are in their groups, Kafka answered lately and the
  database answered its last check; otherwise 503 with the reasons.
* ``/metrics`` — Prometheus text format.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4


class Probes:
    """Thread-safe enough: the loop writes plain attributes, the HTTP thread reads them."""

    def __init__(self, stall_s: float = 30.0) -> None:
        self.stall_s = stall_s
        self.beat = time.monotonic()
        self.readiness: Callable[[], tuple[bool, dict[str, str]]] = lambda: (
            False,
            {"worker": "starting"},
        )
        self.metrics: Callable[[], bytes] = lambda: b""

    def live(self) -> bool:
        return time.monotonic() - self.beat < self.stall_s


def serve(probes: Probes, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; ``server.server_address[1]`` is the bound port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/live":
                ok = probes.live()
                self._json(200 if ok else 503, {"status": "alive" if ok else "stalled"})
            elif path == "/ready":
                ok, checks = probes.readiness()
                self._json(
                    200 if ok else 503,
                    {"status": "ready" if ok else "unavailable", "checks": checks},
                )
            elif path == "/metrics":
                self._send(200, probes.metrics(), CONTENT_TYPE_PLAIN_0_0_4)
            else:
                self._json(404, {"detail": "not found"})

        def _json(self, status: int, body: object) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # probes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    return server

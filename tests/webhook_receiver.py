"""An Alertmanager webhook target for tests: every notification, by receiver.

``GET /cause`` answers 200 and any other GET 404, so a test can point an ``http`` check at it
that passes or fails on purpose.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Receiver"]


class Receiver:
    """Alertmanager's webhook target: every notification, by receiver."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self.send_response(200 if self.path == "/cause" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.notifications.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, receiver: str) -> list[dict[str, Any]]:
        with self.lock:
            return [a for n in self.notifications if n["receiver"] == receiver for a in n["alerts"]]

    def wait_for(self, receiver: str, deadline_s: float = 120.0, **labels: str) -> dict[str, Any]:
        """The first alert at ``receiver`` with ``labels``; AssertionError after the deadline."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            for alert in self.alerts(receiver):
                if all(alert["labels"].get(k) == v for k, v in labels.items()):
                    return alert
            time.sleep(0.2)
        raise AssertionError(f"no alert {labels} reached {receiver}: {self.notifications}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

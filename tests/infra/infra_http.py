"""In-process HTTP servers used as scrape targets and proxy upstreams in the infra tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve_text(body: str, content_type: str = "text/plain") -> Iterator[ThreadingHTTPServer]:
    """Serve ``body`` on every GET from 127.0.0.1 on a free port, until the block ends."""
    payload = body.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop(server)
        thread.join(timeout=5)


def stop(server: ThreadingHTTPServer) -> None:
    """Stop serving and close the listening socket (idempotent)."""
    if server.socket.fileno() != -1:
        server.shutdown()
        server.server_close()


def port_of(server: ThreadingHTTPServer) -> int:
    port: int = server.server_address[1]
    return port

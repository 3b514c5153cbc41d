"""One HTTP answer of aqua's own small servers (``aqua slo serve``, ``aqua runbook serve``):
status, type, length, and the Bearer challenge a 401 carries."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

__all__ = ["reply"]


def reply(handler: BaseHTTPRequestHandler, code: int, text: str, kind: str, realm: str) -> None:
    """Send ``text`` as the whole answer; a 401 names ``realm`` in ``WWW-Authenticate``."""
    data = text.encode()
    handler.send_response(code)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(data)))
    if code == 401:
        handler.send_header("WWW-Authenticate", f'Bearer realm="{realm}"')
    handler.end_headers()
    handler.wfile.write(data)

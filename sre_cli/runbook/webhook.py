"""``aqua runbook serve``: an Alertmanager webhook receiver that investigates firing alerts.

Alertmanager posts its notifications (webhook payload version 4) to ``POST /alerts`` with
``Authorization: Bearer TOKEN`` (its ``http_config.authorization``); each firing alert starts
its runbook's read-only investigation (:mod:`.investigate`), and the answer (202) names each
one's id and URL. What can be read, with the same token:

    GET /investigations              every investigation of this server
    GET /investigations/ID           its record and transcript events (JSON)
    GET /investigations/ID/transcript  the transcript as written (JSON lines)
    GET /live, /ready                no token

A body that is not JSON (400), not a version 4 notification (422), too large (413) or sent
without the token (401) is refused with a message saying why; nothing starts. When every
slot is busy and nothing could start, 503 tells Alertmanager to retry later.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sre_cli.http_reply import reply
from sre_cli.runbook.investigate import Investigator

__all__ = ["MAX_BODY", "Notification", "parse_notification", "serve"]

#: the largest notification taken (Alertmanager's default max_alerts is unlimited, but a
#: megabyte holds thousands of alerts)
MAX_BODY = 1024 * 1024


class _Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}


class Notification(BaseModel):
    """Alertmanager's webhook payload (version 4); only what an investigation needs is
    checked, the rest (``commonLabels``, ``externalURL`` ...) is let through."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: str = Field(min_length=1)  # Alertmanager's spelling
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[_Alert]


class BadPayload(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_notification(body: bytes) -> Notification:
    """The notification in ``body``, or :class:`BadPayload` with the HTTP status and why."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadPayload(400, f"the body is not JSON: {exc}") from None
    try:
        note = Notification.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise BadPayload(
            422, f"not an Alertmanager webhook notification (version 4): {problems}"
        ) from None
    for n, alert in enumerate(note.alerts):
        if not alert.labels.get("alertname"):
            raise BadPayload(422, f"alerts.{n}.labels: no alertname")
    return note


def _handler(inv: Investigator, token: str, base_url: Callable[[], str]) -> type:
    class Handler(BaseHTTPRequestHandler):
        server_version = "aqua-runbook-serve"

        def _send(self, code: int, body: object, kind: str = "application/json") -> None:
            text = body if isinstance(body, str) else json.dumps(body, default=str) + "\n"
            reply(self, code, text, kind, "aqua runbook serve")

        def _error(self, code: int, message: str) -> None:
            self._send(code, {"error": message})

        def _authorized(self) -> bool:
            scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
                return True
            self._error(401, "a bearer token is required (Authorization: Bearer TOKEN)")
            return False

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/alerts":
                self._error(404, "POST goes to /alerts")
                return
            if not self._authorized():
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._error(411, "Content-Length is required")
                return
            if int(length) > MAX_BODY:
                self._error(413, f"the body is larger than {MAX_BODY} bytes")
                return
            try:
                note = parse_notification(self.rfile.read(int(length)))
            except BadPayload as exc:
                self._error(exc.status, exc.message)
                return
            base = base_url()
            alerts = [(a.labels["alertname"], a.status) for a in note.alerts]
            started = inv.start(note.groupKey, alerts, base)
            body = {"investigations": [s.to_json(base) for s in started]}
            busy = started and all(s.reason.startswith("busy:") for s in started)
            self._send(503 if busy else 202, body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path in ("/live", "/ready"):
                self._send(200, "ok\n", "text/plain; charset=utf-8")
                return
            if not path.startswith("/investigations"):
                self._error(404, "not found: /alerts, /investigations, /live, /ready")
                return
            if not self._authorized():
                return
            parts = path.split("/")[2:]
            if not parts:
                self._send(200, {"investigations": [i.to_json() for i in inv.investigations()]})
                return
            if len(parts) == 2 and parts[1] == "transcript":
                found = inv.path_of(parts[0])
                if found is None or not found.is_file():
                    self._error(404, f"no transcript of investigation {parts[0]}")
                else:
                    self._send(200, found.read_text(encoding="utf-8"), "application/x-ndjson")
                return
            record = inv.get(parts[0]) if len(parts) == 1 else None
            if record is None:
                self._error(404, f"no investigation {'/'.join(parts)}")
            else:
                self._send(200, record)

        def do_PUT(self) -> None:
            self._error(405, "POST /alerts or GET /investigations")

        do_DELETE = do_PATCH = do_PUT

        def log_message(self, format: str, *args: object) -> None:
            return  # every notification and read is logged by what it starts, not here

    return Handler


def serve(
    inv: Investigator,
    host: str,
    port: int,
    token: str,
    *,
    stop: threading.Event,
    started: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve until ``stop`` is set; then stop taking notifications (running investigations
    are the caller's to wait for: :meth:`Investigator.wait_idle`)."""
    if not token:
        raise ValueError("a bearer token is required")
    address: list[str] = []
    server = ThreadingHTTPServer((host, port), _handler(inv, token, lambda: address[0]))
    server.daemon_threads = True
    address.append(f"http://{host}:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="runbook-serve")
    thread.start()
    started(address[0])
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()

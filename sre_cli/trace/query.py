"""Read traces from Jaeger's query API (``/api/traces``, ``/api/services``).

The transport is injectable (``httpx.MockTransport`` in unit tests)::

    with JaegerClient("http://127.0.0.1:16686") as jaeger:
        slow = slowest(jaeger, service="api", since_s=900, count=5)
        trace = jaeger.trace("4bf92f3577b34da6a3ce929d0e0e4736")

An unreachable Jaeger is :class:`~sre_cli.errors.Unavailable`; an unknown trace id is
:class:`TraceNotFound` (both exit 2).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from sre_cli.errors import Unavailable, UsageError
from sre_cli.lifecycle import Closing
from sre_cli.trace.model import Trace

__all__ = [
    "SEARCH_LIMIT",
    "JaegerClient",
    "TraceNotFound",
    "check_trace_id",
    "known_service",
    "slowest",
]

#: traces read per search; the slowest are picked from these.
SEARCH_LIMIT = 1500
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{1,32}$")


class TraceNotFound(Unavailable):
    """Jaeger has no trace with this id (never stored, or dropped from memory)."""


def check_trace_id(text: str) -> str:
    """A trace id as Jaeger spells it (lower-case hex); :class:`UsageError` otherwise."""
    if not _TRACE_ID.match(text.strip()):
        raise UsageError(
            f"not a trace id: {text!r}", hint="a trace id is 32 hexadecimal digits (16 bytes)"
        )
    return text.strip().lower().rjust(32, "0")


class JaegerClient(Closing):
    """Talks to one Jaeger query service. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self, url: str, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"Jaeger at {self.url} did not answer: {exc}",
                hint="check --jaeger, and that the stack (or Jaeger) is running",
            ) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise Unavailable(
                f"Jaeger at {self.url} answered {response.status_code} with no JSON ({path})",
                hint="is --jaeger the query service's URL (not the OTLP receiver)?",
            ) from exc
        return response.status_code, body

    @staticmethod
    def _errors(body: Any) -> str:
        errors = body.get("errors") if isinstance(body, dict) else None
        if not errors:
            return ""
        return "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in errors)

    def services(self) -> list[str]:
        """The services Jaeger has spans of."""
        status, body = self._get("/api/services")
        if status != 200:
            raise Unavailable(f"Jaeger /api/services answered {status}: {self._errors(body)}")
        return sorted(body.get("data") or [])

    def trace(self, trace_id: str) -> Trace:
        trace_id = check_trace_id(trace_id)
        status, body = self._get(f"/api/traces/{trace_id}")
        if status == 404:
            raise TraceNotFound(
                f"Jaeger at {self.url} has no trace {trace_id}",
                hint="traces live in memory: a restart or many newer traces drop old ones",
            )
        if status != 200 or not body.get("data"):
            raise Unavailable(
                f"Jaeger answered {status} for trace {trace_id}: {self._errors(body)}"
            )
        return Trace.from_jaeger(body["data"][0])

    def search(
        self,
        service: str,
        *,
        since_s: float,
        tags: dict[str, str] | None = None,
        limit: int = SEARCH_LIMIT,
        now: float | None = None,
    ) -> list[Trace]:
        """Traces with a span of ``service`` that started within the last ``since_s`` seconds."""
        end = time.time() if now is None else now
        params = {
            "service": service,
            "start": str(int((end - since_s) * 1_000_000)),
            "end": str(int(end * 1_000_000)),
            "limit": str(limit),
        }
        if tags:
            params["tags"] = json.dumps(tags)
        status, body = self._get("/api/traces", params)
        if status != 200:
            raise Unavailable(f"Jaeger search answered {status}: {self._errors(body)}")
        return [Trace.from_jaeger(doc) for doc in body.get("data") or [] if doc.get("spans")]


def known_service(client: JaegerClient, service: str) -> str:
    """``service`` as Jaeger knows it: ``api`` is the stack's ``aqua-api``. A service Jaeger
    has never seen is :class:`~sre_cli.errors.Unavailable`, naming the ones it has."""
    known = client.services()
    if service not in known and f"aqua-{service}" in known:
        service = f"aqua-{service}"  # the stack's services are aqua-api, aqua-worker, aqua-ml
    if service not in known:
        raise Unavailable(
            f"Jaeger has no traces of service {service!r}",
            hint=f"services with traces: {', '.join(known) or 'none yet'}",
        )
    return service


def slowest(
    client: JaegerClient,
    *,
    service: str,
    since_s: float,
    route: str | None = None,
    count: int = 5,
    now: float | None = None,
) -> list[Trace]:
    """The ``count`` longest traces of ``service`` (only ``route``, if given), slowest first.

    ``api`` finds the stack's ``aqua-api``. A service Jaeger has never seen is
    :class:`~sre_cli.errors.Unavailable`, naming the ones it has; no trace in the window is an
    empty list.
    """
    service = known_service(client, service)
    tags = {"http.route": route} if route else None
    traces = client.search(service, since_s=since_s, tags=tags, now=now)
    traces.sort(key=lambda t: (-t.duration_us, t.trace_id))
    return traces[:count]

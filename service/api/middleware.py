"""ASGI middleware: request telemetry and the request body limit.

:class:`TelemetryMiddleware` wraps every HTTP request: it takes or creates ``X-Request-ID``,
continues or starts the W3C trace (``traceparent``), counts and times the request under its
route template, writes the JSON access line, and turns an unhandled exception into a bare 500
(the traceback goes to the log only). While draining it asks clients to close connections so
no keep-alive connection outlives the server.

:class:`BodyLimitMiddleware` answers 413 before reading a body whose declared length is too
big, and stops reading a streamed body once it crosses the limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deps import authorization_of, bearer_principal
from service.api.metrics import UNMATCHED_ROUTE
from service.api.routes._common import API_PREFIX
from service.api.runtime import Runtime
from service.api.security import AuthError
from service.common import otel
from service.common.asgi import send_json
from service.common.tracing import (
    RequestContext,
    TraceContext,
    clean_request_id,
    current_request,
    parse_traceparent,
)

access_log = logging.getLogger("aqua.api.access")
error_log = logging.getLogger("aqua.api.errors")


_BEARER = [(b"www-authenticate", b"Bearer")]


async def _send_json(
    send: Send, status: int, body: dict[str, object], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_json(send, status, json.dumps(body).encode(), extra or ())


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id_raw: str | None = None
        traceparent_raw: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id_raw = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent_raw = value.decode("latin-1")
        parent = parse_traceparent(traceparent_raw)
        if otel.enabled():
            # The request's span: its ids are the ones the logs and the response carry.
            with otel.server_span(scope["method"], parent) as (span, trace):
                await self._handle(scope, receive, send, trace, request_id_raw, span)
        else:
            trace = TraceContext.child_of(parent)
            await self._handle(scope, receive, send, trace, request_id_raw, None)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        trace: TraceContext,
        request_id_raw: str | None,
        span: object | None,
    ) -> None:
        method: str = scope["method"]
        ctx = RequestContext(
            request_id=clean_request_id(request_id_raw), trace=trace, method=method
        )
        token = current_request.set(ctx)
        extra_headers = [
            (b"x-request-id", ctx.request_id.encode()),
            (b"traceparent", trace.traceparent.encode()),
        ]
        metrics = self.rt.metrics
        lifecycle = self.rt.lifecycle
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = list(message.get("headers", ()))
                headers.extend(extra_headers)
                if lifecycle.draining:
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        metrics.in_flight.inc()
        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        except asyncio.CancelledError:
            status = 499  # the client went away
            raise
        except Exception:
            error_log.exception("unhandled error")
            status = 500
            if not started:
                await _send_json(
                    send, 500, {"detail": "internal server error", "request_id": ctx.request_id}
                )
        finally:
            elapsed = time.perf_counter() - began
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            ctx.endpoint = template
            metrics.in_flight.dec()
            if span is not None:
                otel.finish_server_span(span, method, template, status)
                metrics.observe_request(method, template, status, elapsed, otel.exemplar_of(trace))
            else:
                metrics.observe_request(method, template, status, elapsed)
            if self.rt.settings.access_log:
                access_log.info(
                    "%s %s %d",
                    method,
                    template,
                    status,
                    extra={
                        "method": method,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
            current_request.reset(token)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_json(send, 400, {"detail": "invalid Content-Length"})
                    return
                if declared > self.max_bytes:
                    await _send_json(send, 413, self._detail())
                    return
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    def _detail(self) -> dict[str, object]:
        return {"detail": self._message()}


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PUBLIC_PREFIX = f"{API_PREFIX}/auth/"


class AuthBeforeBody:
    """Answers 401 to an ``/api`` request that may carry a body before anything reads it.

    FastAPI reads and parses a body before it resolves the route's dependencies, so without
    this a malformed body from a caller without a valid token got a 422 (and was parsed)
    instead of a 401. The routes' own dependency still checks the scope (403) afterwards;
    ``/api/v1/auth/*`` (where the credentials are the body) is left to its routes.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] in _BODY_METHODS
            and path.startswith(API_PREFIX)
            and not path.startswith(_PUBLIC_PREFIX)
        ):
            try:
                await bearer_principal(self.rt, authorization_of(scope))
            except AuthError as exc:
                await _send_json(send, 401, {"detail": str(exc)}, _BEARER)
                return
            except Exception:  # noqa: S110 - the database down: the route answers its 503
                pass
        await self.app(scope, receive, send)

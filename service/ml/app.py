"""The ML service: overnight DO forecasts over HTTP (port 8001).

    POST /v1/forecast   one pond or a batch, each with optional what-if aeration plans
    GET  /v1/model      version, size, training manifest, batching settings
    GET  /live          the process answers
    GET  /ready         weights loaded and a warm-up forward pass done
    GET  /metrics       Prometheus: inference latency, batch size, queue depth, model version

Settings come from ``AQUA_ML_*`` variables (:class:`~service.ml.settings.MLSettings`):
``AQUA_ML_BATCHING`` (on/off), ``AQUA_ML_MAX_BATCH`` (windows per forward pass),
``AQUA_ML_MAX_WAIT_MS``, ``AQUA_ML_INFERENCE_PROCESS`` (the network in a child process; by
default with batching, see service/ml/README.md), ``AQUA_ML_WEIGHTS_DIR``, ``AQUA_ML_THREADS``
(torch intra-op threads). With ``AQUA_ML_SERVICE_TOKEN`` (or ``_FILE``) set, every route but
``/live``, ``/ready`` and ``/metrics`` answers 401 unless the caller sends
``Authorization: Bearer <token>`` (the API and worker do); production requires it. The state
behind the routes is :class:`~service.ml.runtime.MLRuntime`.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Receive, Scope, Send

from service.common import otel
from service.common.asgi import send_json
from service.common.lifespan import lifespan_of
from service.ml.runtime import NOT_LOADED, MLRuntime
from service.ml.schemas import ForecastRequest, ForecastResponse, ModelDescription
from service.ml.settings import MLSettings

if TYPE_CHECKING:
    from service.ml.inference import Forecaster

__all__ = ["MLSettings", "create_app"]

_TOO_LARGE = b'{"detail":"request body larger than 16 MiB"}'
_UNAUTHORIZED = b'{"detail":"missing or wrong service token"}'
# Probes and Prometheus' scrape need no token; everything else does when one is configured.
OPEN_PATHS = frozenset({"/live", "/ready", "/metrics"})
MAX_BODY_BYTES = 16 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or ``None`` if the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _MLApp(FastAPI):
    """FastAPI with POST /v1/forecast taken off the top as a bare ASGI call.

    FastAPI's middleware stack, router and request and response objects cost ~45 µs of CPU
    per request, a sixth of all a batched single-pond request costs; the hot path needs none
    of them.
    """

    def __init__(self, runtime: MLRuntime, token: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.runtime = runtime
        self._expected = None if token is None else f"Bearer {token}".encode()

    def _authorized(self, scope: Scope) -> bool:
        if self._expected is None or scope["path"] in OPEN_PATHS:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self._expected)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await send_json(send, 401, _UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
            return
        if (
            scope["type"] == "http"
            and scope["path"] == "/v1/forecast"
            and scope["method"] == "POST"
        ):
            with otel.request_span("POST /v1/forecast", scope["headers"]):
                await self._forecast(receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _forecast(self, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive)
        except _BodyTooLarge:
            status, content = 413, _TOO_LARGE
        else:
            if body is None:
                return  # the client went away
            status, content = await self.runtime.answer(body)
        await send_json(send, status, content, [(b"retry-after", b"1")] if status == 503 else [])


def create_app(settings: MLSettings | None = None, forecaster: Forecaster | None = None) -> FastAPI:
    """Build the service. Weights load and warm up in the lifespan, before ``/ready`` is 200."""
    cfg = settings or MLSettings()
    otel.configure(cfg.service_name, cfg.otlp_endpoint, ratio=cfg.trace_sample_ratio)
    runtime = MLRuntime(cfg, forecaster)

    app = _MLApp(
        runtime,
        cfg.ml_token,
        title="aqua ML service",
        version="1",
        lifespan=lifespan_of(runtime),
        docs_url=None,
        redoc_url=None,
    )
    _add_routes(app, runtime)
    return app


def _add_routes(app: FastAPI, runtime: MLRuntime) -> None:
    @app.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> Response:
        status, body = runtime.readiness()
        return JSONResponse(body, status_code=status)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/model", response_model=ModelDescription)
    async def describe() -> Response | ModelDescription:
        description = runtime.describe()
        if description is None:
            return _json(503, NOT_LOADED)
        return description

    async def forecast(request: Request) -> Response:
        status, content = await runtime.answer(await request.body())
        return _json(status, content)

    # POST /v1/forecast is answered by _MLApp ahead of FastAPI's router. This registration
    # documents it in the OpenAPI schema and serves what the bare path does not take (a
    # mounted root path), with the same answer.
    app.post(
        "/v1/forecast",
        response_model=ForecastResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ForecastRequest.model_json_schema()}},
            }
        },
        responses={
            401: {"description": "Missing or wrong service token (when one is configured)"},
            413: {"description": "Body larger than 16 MiB"},
            422: {"description": "Invalid input, with the reason per field"},
        },
    )(forecast)


def _json(status: int, content: bytes) -> Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return Response(content, status_code=status, media_type="application/json", headers=headers)

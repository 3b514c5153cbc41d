"""The ML service: overnight DO forecasts over HTTP (port 8001).

    POST /v1/forecast   one pond or a batch, each with optional what-if aeration plans
    GET  /v1/model      version, size, training manifest, batching settings
    GET  /live          the process answers
    GET  /ready         weights loaded and a warm-up forward pass done
    GET  /metrics       Prometheus: inference latency, batch size, queue depth, model version

Settings come from ``AQUA_ML_*`` variables (:class:`MLSettings`): ``AQUA_ML_BATCHING``
(on/off), ``AQUA_ML_MAX_BATCH`` (windows per forward pass), ``AQUA_ML_MAX_WAIT_MS``,
``AQUA_ML_INFERENCE_PROCESS`` (the network in a child process; by default with batching, see
service/ml/README.md), ``AQUA_ML_WEIGHTS_DIR``, ``AQUA_ML_THREADS`` (torch intra-op threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from pydantic import TypeAdapter, ValidationError
from starlette.types import Receive, Scope, Send

from service.common.settings import ServiceSettings
from service.ml.batcher import BatchObserver, MicroBatcher
from service.ml.dataset import NightBatch
from service.ml.inference_process import InferenceProcess, InferenceProcessDied
from service.ml.intake import Pond, parse
from service.ml.schemas import (
    DEFAULT_THRESHOLD,
    HISTORY_HOURS,
    NIGHT_CLOCK,
    SPECIES_THRESHOLD,
    BatchingInfo,
    ForecastRequest,
    ForecastResponse,
    ModelDescription,
)
from service.ml.serving import DEFAULT_WEIGHTS, Job, ModelInfo, ServedForecast
from service.ml.warmup import warmup_batch

if TYPE_CHECKING:
    from service.ml.inference import Forecaster

log = logging.getLogger("aqua.ml")


class MLSettings(ServiceSettings):
    service_name: str = "aqua-ml"
    ml_port: int = 8001
    ml_weights_dir: Path = DEFAULT_WEIGHTS
    ml_batching: bool = True
    ml_max_batch: int = 512
    # 0: a pass takes whatever queued while the last one ran (see service/ml/README.md)
    ml_max_wait_ms: float = 0.0
    ml_threads: int = 1
    # The forward pass in a child process (service.ml.inference_process) rather than a thread
    # of this one; unset: with batching only, whose passes spread the round trip (~0.3 ms).
    ml_inference_process: bool | None = None


class _Metrics(BatchObserver):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.inference = Histogram(
            "aqua_ml_inference_seconds",
            "Duration of one forward pass",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        self.batch = Histogram(
            "aqua_ml_batch_size",
            "Forecast windows per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
            registry=registry,
        )
        self.queue = Gauge(
            "aqua_ml_queue_depth", "Requests waiting for a forward pass", registry=registry
        )
        self.requests = Counter(
            "aqua_ml_requests", "Forecast requests by outcome", ["outcome"], registry=registry
        )
        self.request_seconds = Histogram(
            "aqua_ml_request_seconds",
            "Forecast request latency inside the service",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        self.forecasts = Counter(
            "aqua_ml_forecasts", "Pond-night forecasts produced", registry=registry
        )
        self.model = Info("aqua_ml_model", "The model being served", registry=registry)
        self.inference_restarts = Counter(
            "aqua_ml_inference_restarts",
            "Inference processes started in place of one that exited",
            registry=registry,
        )

    def forward(self, rows: int, seconds: float) -> None:
        self.inference.observe(seconds)
        self.batch.observe(rows)

    def queue_depth(self, depth: int) -> None:
        self.queue.set(depth)


def _to_job(ponds: Sequence[Pond]) -> tuple[Job, list[int]]:
    """One window per scenario: the submitted plan first, then each what-if plan."""
    hist: list[list[list[float | None]]] = []
    night: list[list[list[float]]] = []
    static: list[tuple[float, float, float]] = []
    counts: list[int] = []
    for p in ponds:
        h = p.history
        series = [
            h.do_mg_l,
            h.temperature_c,
            h.light_umol_m2_s,
            h.wind_m_s,
            h.feed_kg_ha,
            h.aeration_kw_ha,
        ]
        t = p.tonight
        facts = (p.depth_m, p.salinity_psu, p.threshold)
        for plan in [t.aeration_kw_ha, *(w.aeration_kw_ha for w in p.what_if)]:
            hist.append(series)  # type: ignore[arg-type]
            night.append([plan, t.temperature_c, t.wind_m_s])
            static.append(facts)
        counts.append(1 + len(p.what_if))
    # Three conversions for the whole request; null readings become NaN.
    h_arr = np.array(hist, dtype=np.float64)
    n_arr = np.array(night, dtype=np.float64)
    s_arr = np.array(static, dtype=np.float64)
    batch = NightBatch(
        do=h_arr[:, 0],
        temp_c=h_arr[:, 1],
        light=h_arr[:, 2],
        wind=h_arr[:, 3],
        feed_kg_ha=h_arr[:, 4],
        aeration_kw_ha=h_arr[:, 5],
        plan_kw_ha=n_arr[:, 0],
        temp_fc=n_arr[:, 1],
        wind_fc=n_arr[:, 2],
        depth_m=s_arr[:, 0],
        salinity_psu=s_arr[:, 1],
    )
    return Job(batch, s_arr[:, 2]), counts


_JSON = TypeAdapter(Any)


def _response(
    ponds: Sequence[Pond], job: Job, counts: list[int], fc: ServedForecast, version: str
) -> bytes:
    """The :class:`ForecastResponse` JSON, built from plain dicts (no per-object validation)."""
    plans = job.batch.plan_kw_ha.tolist()
    thresholds = job.threshold.tolist()
    out: list[dict[str, Any]] = []
    row = 0
    for pond, n in zip(ponds, counts, strict=True):
        names = ["plan", *(w.name for w in pond.what_if)]
        scenarios = [
            {
                "name": names[k],
                "aeration_kw_ha": plans[r],
                "p10": fc.p10[r],
                "p50": fc.p50[r],
                "p90": fc.p90[r],
                "night_min_mg_l": fc.night_min[r],
                "prob_below_threshold": fc.prob_below[r],
                "hours_until_threshold": fc.hours_until[r],
                "hours_until_threshold_p10": fc.hours_until_p10[r],
                "alarm": fc.alarm[r],
            }
            for k, r in enumerate(range(row, row + n))
        ]
        out.append(
            {
                "pond_id": pond.pond_id,
                "threshold_mg_l": thresholds[row],
                "forecast": scenarios[0],
                "what_if": scenarios[1:],
            }
        )
        row += n
    return _JSON.dump_json({"model_version": version, "hours": _HOURS, "ponds": out})


_HOURS = list(NIGHT_CLOCK)


def _reasons(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors(include_url=False, include_input=False):
        msg = str(e["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        out.append({"loc": ["body", *e["loc"]], "msg": msg, "type": e["type"]})
    return out


_NOT_LOADED = b'{"detail":"model not loaded"}'
_RESTARTING = b'{"detail":"inference process restarting"}'
WATCH_INTERVAL_S = 0.2
_TOO_LARGE = b'{"detail":"request body larger than 16 MiB"}'
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

    def __init__(
        self, forecast: Callable[[Scope, Receive, Send], Awaitable[None]], **kw: Any
    ) -> None:
        super().__init__(**kw)
        self._forecast = forecast

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/v1/forecast"
            and scope["method"] == "POST"
        ):
            await self._forecast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: MLSettings | None = None, forecaster: Forecaster | None = None) -> FastAPI:
    """Build the service. Weights load and warm up in the lifespan, before ``/ready`` is 200."""
    cfg = settings or MLSettings()
    registry = CollectorRegistry()
    metrics = _Metrics(registry)
    state: dict[str, Any] = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        proc: InferenceProcess | None = None
        predict: Callable[[Job], ServedForecast]
        separate = cfg.ml_inference_process
        if separate is None:
            separate = cfg.ml_batching
        if forecaster is None and separate:
            proc = InferenceProcess(cfg.ml_weights_dir, cfg.ml_threads)
            info = await asyncio.get_running_loop().run_in_executor(None, proc.start)
            predict = proc.serve
        else:
            import torch

            from service.ml.inference import Forecaster

            torch.set_num_threads(cfg.ml_threads)
            model = forecaster or Forecaster.load(cfg.ml_weights_dir)
            info, predict = model.info, model.serve
        batcher = MicroBatcher(
            predict,
            enabled=cfg.ml_batching,
            max_batch=cfg.ml_max_batch,
            max_wait_ms=cfg.ml_max_wait_ms,
            observer=metrics,
        )
        await batcher.start()
        warm = warmup_batch()
        await batcher.submit(Job(warm, np.full(len(warm), DEFAULT_THRESHOLD)))
        metrics.model.info({"version": info.version, "parameters": str(info.parameters)})
        state.update(info=info, batcher=batcher, process=proc, ready=True)
        # torch, numpy and pydantic leave ~230 thousand long-lived objects behind. Every full
        # collection would walk all of them (~0.1 s, a stall that is the p95 under load);
        # frozen, they are skipped and a full collection walks only what requests create.
        gc.collect()
        gc.freeze()
        watchdog = asyncio.create_task(_watch(proc)) if proc is not None else None
        try:
            yield
        finally:
            state["ready"] = False
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            await batcher.stop()
            if proc is not None:
                await asyncio.get_running_loop().run_in_executor(None, proc.stop)

    async def _watch(proc: InferenceProcess) -> None:
        """Put a fresh inference process in place of one that exited; not ready meanwhile."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if proc.alive:
                continue
            state["ready"] = False
            log.error("inference process exited (%s); starting a new one", proc.returncode)
            try:
                await loop.run_in_executor(None, proc.restart)
            except Exception:
                failures += 1
                log.exception("inference process did not start")
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            failures = 0
            metrics.inference_restarts.inc()
            state["ready"] = True
            log.warning("inference process running again (pid %s)", proc.pid)

    ok = metrics.requests.labels("ok")
    rejected = metrics.requests.labels("rejected")
    unavailable = metrics.requests.labels("unavailable")

    async def answer(body: bytes) -> tuple[int, bytes]:
        """Status and JSON body of a forecast request."""
        started = time.perf_counter()
        # Parsed and validated straight from bytes, range checks included (service.ml.intake).
        try:
            ponds = parse(body)
        except ValidationError as exc:
            rejected.inc()
            return 422, _JSON.dump_json({"detail": _reasons(exc)})
        if not state["ready"]:
            unavailable.inc()
            return 503, _NOT_LOADED
        info: ModelInfo = state["info"]
        job, counts = _to_job(ponds)
        try:
            fc = await state["batcher"].submit(job)
        except InferenceProcessDied:
            unavailable.inc()
            return 503, _RESTARTING
        resp = _response(ponds, job, counts, fc, info.version)
        metrics.forecasts.inc(len(job))
        ok.inc()
        metrics.request_seconds.observe(time.perf_counter() - started)
        return 200, resp

    async def forecast_asgi(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive)
        except _BodyTooLarge:
            status, content = 413, _TOO_LARGE
        else:
            if body is None:
                return  # the client went away
            status, content = await answer(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                    *([(b"retry-after", b"1")] if status == 503 else []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})

    async def forecast(request: Request) -> Response:
        status, content = await answer(await request.body())
        headers = {"Retry-After": "1"} if status == 503 else None
        return Response(content, status_code=status, media_type="application/json", headers=headers)

    app = _MLApp(
        forecast_asgi,
        title="aqua ML service",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> Response:
        if not state["ready"]:
            return JSONResponse({"status": "starting"}, status_code=503)
        proc: InferenceProcess | None = state.get("process")
        if proc is not None and not proc.alive:
            return JSONResponse({"status": "inference process restarting"}, status_code=503)
        return JSONResponse({"status": "ok", "model_version": state["info"].version})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/model", response_model=ModelDescription)
    async def describe() -> ModelDescription:
        info: ModelInfo = state["info"]
        m = info.manifest
        return ModelDescription(
            version=info.version,
            parameters=info.parameters,
            seed=int(m.get("seed", -1)),
            data_sha256=str(m.get("data_sha256", "")),
            alarm_probability=info.alarm_probability,
            default_threshold_mg_l=DEFAULT_THRESHOLD,
            species_thresholds={k.value: v for k, v in SPECIES_THRESHOLD.items()},
            history_hours=HISTORY_HOURS,
            night_hours=list(NIGHT_CLOCK),
            batching=BatchingInfo(
                enabled=cfg.ml_batching, max_batch=cfg.ml_max_batch, max_wait_ms=cfg.ml_max_wait_ms
            ),
            metrics=dict(m.get("metrics", {})),
        )

    # POST /v1/forecast is answered by forecast_asgi ahead of FastAPI (see _MLApp). This
    # registration documents it in the OpenAPI schema and serves what the bare path does not
    # take (a mounted root path), with the same answer.
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
            413: {"description": "Body larger than 16 MiB"},
            422: {"description": "Invalid input, with the reason per field"},
        },
    )(forecast)

    return app

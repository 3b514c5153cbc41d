"""The ML service's state: the served model, its batcher, its metrics and readiness.

:class:`MLRuntime` is what :func:`service.ml.app.create_app` wires the routes to, the way
:class:`service.api.runtime.Runtime` is for the API::

    runtime = MLRuntime(MLSettings())
    await runtime.start()                    # load the weights, warm up; ready afterwards
    status, body = await runtime.answer(b'{"ponds": [...]}')
    await runtime.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from pydantic import ValidationError

from service.common import otel
from service.ml.batcher import BatchObserver, MicroBatcher
from service.ml.bulk import BulkIntake
from service.ml.codec import response_json, response_json_sliced, to_job, validation_errors_json
from service.ml.inference_process import InferenceProcess, InferenceProcessDied
from service.ml.intake import parse
from service.ml.schemas import (
    DEFAULT_THRESHOLD,
    HISTORY_HOURS,
    NIGHT_CLOCK,
    SPECIES_THRESHOLD,
    BatchingInfo,
    ModelDescription,
)
from service.ml.serving import Job, ModelInfo, ServedForecast
from service.ml.settings import MLSettings
from service.ml.warmup import warmup_batch

if TYPE_CHECKING:
    from service.ml.inference import Forecaster

log = logging.getLogger("aqua.ml")

NOT_LOADED = b'{"detail":"model not loaded"}'
RESTARTING = b'{"detail":"inference process restarting"}'
WATCH_INTERVAL_S = 0.2


class MLMetrics(BatchObserver):
    """The service's Prometheus metrics; the batcher reports each forward pass here."""

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
        # Bound once: a labelled child looked up per request costs a dict lookup and a lock.
        self.ok = self.requests.labels("ok")
        self.rejected = self.requests.labels("rejected")
        self.unavailable = self.requests.labels("unavailable")

    def forward(self, rows: int, seconds: float) -> None:
        self.inference.observe(seconds)
        self.batch.observe(rows)

    def queue_depth(self, depth: int) -> None:
        self.queue.set(depth)


class MLRuntime:
    """The model being served and everything a request needs; ``ready`` gates forecasts."""

    def __init__(self, settings: MLSettings, forecaster: Forecaster | None = None) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.metrics = MLMetrics(self.registry)
        self.ready = False
        self.info: ModelInfo | None = None
        self.batcher: MicroBatcher | None = None
        self.process: InferenceProcess | None = None
        #: the helper process that prepares large bodies (started with the service)
        self.bulk: BulkIntake | None = None
        self._forecaster = forecaster
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Load the model, warm the batcher up with one pass, then report ready."""
        bulk = BulkIntake()
        warming = asyncio.create_task(bulk.start())  # its imports overlap the model's load
        info, predict = await self._load()
        await warming
        self.bulk = bulk
        cfg = self.settings
        batcher = MicroBatcher(
            predict,
            enabled=cfg.ml_batching,
            max_batch=cfg.ml_max_batch,
            max_wait_ms=cfg.ml_max_wait_ms,
            observer=self.metrics,
        )
        await batcher.start()
        warm = warmup_batch()
        await batcher.submit(Job(warm, np.full(len(warm), DEFAULT_THRESHOLD)))
        self.metrics.model.info({"version": info.version, "parameters": str(info.parameters)})
        self.info, self.batcher, self.ready = info, batcher, True
        # torch, numpy and pydantic leave ~230 thousand long-lived objects behind. Every full
        # collection would walk all of them (~0.1 s, a stall that is the p95 under load);
        # frozen, they are skipped and a full collection walks only what requests create.
        gc.collect()
        gc.freeze()
        if self.process is not None:
            self._watchdog = asyncio.create_task(self._watch(self.process))

    async def _load(self) -> tuple[ModelInfo, Callable[[Job], ServedForecast]]:
        """The model's description and its forward pass: in a child process or in this one."""
        cfg = self.settings
        if self._forecaster is None and cfg.inference_in_process:
            self.process = InferenceProcess(cfg.ml_weights_dir, cfg.ml_threads)
            loop = asyncio.get_running_loop()
            info = await loop.run_in_executor(None, self.process.start)
            return info, self.process.serve
        import torch

        from service.ml.inference import Forecaster

        torch.set_num_threads(cfg.ml_threads)
        model = self._forecaster or Forecaster.load(cfg.ml_weights_dir)
        return model.info, model.serve

    async def stop(self) -> None:
        self.ready = False
        self._stopping = True  # a child that exits from now on is never replaced
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self.batcher is not None:
            await self.batcher.stop()
        if self.bulk is not None:
            await self.bulk.stop()
        if self.process is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.process.stop)

    async def _watch(self, proc: InferenceProcess) -> None:
        """Put a fresh inference process in place of one that exited; not ready meanwhile."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if proc.alive:
                continue
            if self._stopping:
                return
            self.ready = False
            log.error("inference process exited (%s); starting a new one", proc.returncode)
            try:
                await loop.run_in_executor(None, proc.restart)
            except Exception:
                failures += 1
                log.exception("inference process did not start")
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            failures = 0
            self.metrics.inference_restarts.inc()
            self.ready = True
            log.warning("inference process running again (pid %s)", proc.pid)

    async def answer(self, body: bytes) -> tuple[int, bytes]:
        """Status and JSON body of a forecast request."""
        started = time.perf_counter()
        metrics = self.metrics
        # Parsed and validated straight from bytes, range checks included (service.ml.intake);
        # a large body in the helper process, so the event loop keeps answering small requests.
        if len(body) > self.settings.ml_offload_bytes:
            return await self._answer_large(body, started)
        try:
            ponds = parse(body)
        except ValidationError as exc:
            metrics.rejected.inc()
            return 422, validation_errors_json(exc)
        info, batcher = self.info, self.batcher
        if not self.ready or info is None or batcher is None:
            metrics.unavailable.inc()
            return 503, NOT_LOADED
        job, counts = to_job(ponds)
        fc = await self._infer(batcher, job)
        if fc is None:
            return 503, RESTARTING
        resp = response_json(ponds, job, counts, fc, info.version)
        return self._answered(len(job), started, resp)

    async def _answer_large(self, body: bytes, started: float) -> tuple[int, bytes]:
        """A large body: parsed and converted in the helper process (service.ml.bulk), its
        parts forecast behind small requests, its answer encoded in slices on a thread."""
        metrics = self.metrics
        info, batcher = self.info, self.batcher
        if not self.ready or info is None or batcher is None or self.bulk is None:
            metrics.unavailable.inc()
            return 503, NOT_LOADED
        prepared = await self.bulk.prepare(body)
        if isinstance(prepared, bytes):
            metrics.rejected.inc()
            return 422, prepared
        job, counts = prepared.job, prepared.counts
        fc = await self._infer(batcher, job)
        if fc is None:
            return 503, RESTARTING
        resp = await asyncio.to_thread(
            response_json_sliced, prepared.labels, job, counts, fc, info.version
        )
        return self._answered(len(job), started, resp)

    async def _infer(self, batcher: MicroBatcher, job: Job) -> ServedForecast | None:
        """The job's forecast; None (counted as unavailable) while the inference process is
        being replaced."""
        try:
            with otel.span("inference", {"aqua.windows": len(job)}):
                return await self._forecast(batcher, job)
        except InferenceProcessDied:
            self.metrics.unavailable.inc()
            return None

    def _answered(self, windows: int, started: float, resp: bytes) -> tuple[int, bytes]:
        metrics = self.metrics
        metrics.forecasts.inc(windows)
        metrics.ok.inc()
        metrics.request_seconds.observe(time.perf_counter() - started)
        return 200, resp

    async def _forecast(self, batcher: MicroBatcher, job: Job) -> ServedForecast:
        """The job's forecast, in parts of at most ``ml_max_request_pass`` windows queued one
        after another: a 1,024-pond × 9-scenario request would otherwise hold the model for
        one ~2 s pass while single-pond requests wait behind it."""
        step = self.settings.ml_max_request_pass
        if len(job) <= step:
            return await batcher.submit(job)
        parts = [
            await batcher.submit(job.part(start, min(start + step, len(job))), bulk=True)
            for start in range(0, len(job), step)
        ]
        return ServedForecast.concat(parts)

    def readiness(self) -> tuple[int, dict[str, str]]:
        """The status and body of ``/ready``."""
        if not self.ready or self.info is None:
            return 503, {"status": "starting"}
        if self.process is not None and not self.process.alive:
            return 503, {"status": "inference process restarting"}
        return 200, {"status": "ok", "model_version": self.info.version}

    def describe(self) -> ModelDescription | None:
        """What ``/v1/model`` answers, or ``None`` before the model is loaded."""
        info = self.info
        if info is None:
            return None
        m = info.manifest
        cfg = self.settings
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

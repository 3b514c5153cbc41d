"""The worker inside an API process, for the in-process queue (``AQUA_QUEUE=embedded``).

Same handlers and retry policy as the Kafka worker; dead letters are logged and counted
(there is no topic to hold them). With an ML service configured it also runs the nightly
forecasts. Its metrics join the API's ``/metrics``.

Single process only: the queue lives in this process's memory, so what is queued but not yet
stored is lost if the process dies — use Kafka where that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

from prometheus_client.core import Metric
from sqlalchemy.ext.asyncio import AsyncEngine

from service.data.summary_keys import PondRef
from service.pipeline.handlers import (
    DependencyDown,
    ForecastHandler,
    Handler,
    MessageFailure,
    ReadingsHandler,
    RetryPolicy,
    process,
)
from service.pipeline.messages import Envelope
from service.pipeline.metrics import WorkerMetrics
from service.pipeline.nightly import NightlyRun
from service.pipeline.queue import EmbeddedQueue

log = logging.getLogger("aqua.worker.embedded")


class EmbeddedWorker:
    def __init__(
        self,
        queue: EmbeddedQueue,
        engine: AsyncEngine,
        *,
        ml_url: str | None = None,
        ml_token: str | None = None,
        on_stored: Callable[[Collection[PondRef]], Awaitable[None]] | None = None,
        policy: RetryPolicy | None = None,
        max_messages: int = 200,
        nightly_every_s: float = 30.0,
    ) -> None:
        self.queue = queue
        self.nightly_every_s = nightly_every_s
        self.metrics = WorkerMetrics()
        self.policy = policy or RetryPolicy()
        self.max_messages = max_messages
        self._ml: Any = None
        if ml_url:
            from service.ml.client import MLClient

            self._ml = MLClient(ml_url, token=ml_token)
        self.handlers: list[Handler] = [
            ReadingsHandler(engine, self.metrics, on_stored=on_stored),
            ForecastHandler(engine, self._ml, self.metrics),
        ]
        for h in self.handlers:
            self.metrics.init_topic(h.topic)
        # With an ML service, the nightly run happens here too (there is no worker process).
        self.nightly = NightlyRun(engine, queue.publish, self.metrics) if ml_url else None
        self.dead: list[tuple[Envelope, MessageFailure]] = []
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(h)) for h in self.handlers]
        if self.nightly is not None:
            self._tasks.append(asyncio.create_task(self._nightly(self.nightly)))

    def collect(self) -> Iterable[Metric]:
        """The worker's metrics, for the API's registry (``registry.register(worker)``)."""
        return self.metrics.registry.collect()

    async def _nightly(self, run: NightlyRun) -> None:
        while not self._stopping.is_set():
            try:
                await run.tick()
                await run.refresh_crash_risk()
            except Exception as exc:  # the next tick retries
                log.warning("nightly run failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.nightly_every_s)

    async def stop(self) -> None:
        """Store what is queued (bounded by each batch's own retries), then stop."""
        self._stopping.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10.0)
        if self._ml is not None:
            await self._ml.aclose()

    async def _dead_letter(
        self, envelope: Envelope, failure: MessageFailure, attempts: int
    ) -> None:
        log.error(
            "message dropped after failing",
            extra={"topic": envelope.topic, "attempts": attempts, "error": failure.error},
        )
        self.dead.append((envelope, failure))
        del self.dead[:-100]

    async def _loop(self, handler: Handler) -> None:
        outage = 0
        pending: list[Envelope] = []
        while True:
            if not pending:
                if self._stopping.is_set() and self.queue.depth(handler.topic) == 0:
                    return
                pending = await self.queue.take(handler.topic, self.max_messages, 0.2)
                if not pending:
                    continue
                self.metrics.consumed.labels(handler.topic).inc(len(pending))
            try:
                await process(handler, pending, self.policy, self._dead_letter, self.metrics)
            except DependencyDown as exc:
                if self._stopping.is_set():
                    log.error("stopping with unstored messages", extra={"count": len(pending)})
                    return
                outage += 1
                self.metrics.retries.labels(handler.topic, "dependency").inc(len(pending))
                log.warning("dependency down; batch will be retried", extra={"error": str(exc)})
                await asyncio.sleep(self.policy.delay(outage))
                continue
            except Exception:  # a bug must not end consumption: log, back off, redo
                if self._stopping.is_set():
                    log.exception("stopping with unstored messages")
                    return
                outage += 1
                self.metrics.retries.labels(handler.topic, "error").inc(len(pending))
                log.exception("batch failed unexpectedly; it will be retried")
                await asyncio.sleep(self.policy.delay(outage))
                continue
            outage = 0
            self.metrics.processed.labels(handler.topic).inc(len(pending))
            pending = []

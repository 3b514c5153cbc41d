"""One worker process: topics, consumers, nightly run, probes, and a graceful stop.

    worker = Worker(WorkerSettings())
    exit_code = asyncio.run(worker.run())     # until SIGTERM or SIGINT

Start-up waits for Kafka (creating the topics) and serves ``/live`` meanwhile, so a worker
started before its broker simply becomes ready later. On SIGTERM each consumer finishes the
batch in hand, commits it and leaves its group; then pools and clients close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from service.common import otel
from service.data.db import Database, DatabaseUnavailable, ping_on_checkout
from service.pipeline.handlers import ForecastHandler, ReadingsHandler, RetryPolicy
from service.pipeline.metrics import WorkerMetrics
from service.pipeline.nightly import NightlyRun
from service.pipeline.topics import TOPICS, ensure_topics
from service.worker.consumer import Producer, TopicConsumer
from service.worker.httpserver import Probes, serve
from service.worker.invalidation import SummaryInvalidator
from service.worker.settings import WorkerSettings

log = logging.getLogger("aqua.worker")

DB_CHECK_S = 5.0
DB_PING_S = 3.0  # one round trip on a pooled connection
DB_CONNECT_S = 5.0
BEAT_S = 1.0


class Worker:
    def __init__(self, settings: WorkerSettings) -> None:
        if not settings.database_url:
            raise ValueError("the worker needs AQUA_DATABASE_URL (PostgreSQL)")
        self.settings = settings
        self.metrics = WorkerMetrics()
        self.probes = Probes()
        self.probes.metrics = self.metrics.render
        self.probes.readiness = self._readiness
        self.stopping = asyncio.Event()
        self.consumers: list[TopicConsumer] = []
        self.db_ok = False
        self.topics_ready = False
        self.http_port: int | None = None
        self.invalidator = SummaryInvalidator(
            settings.redis_url,
            metrics=self.metrics,
            timeout_s=settings.redis_timeout_seconds,
            retry_seconds=settings.redis_retry_seconds,
        )

    def _readiness(self) -> tuple[bool, dict[str, str]]:
        checks = {
            "database": "up" if self.db_ok else "down",
            "topics": "ready" if self.topics_ready else "waiting for kafka",
            # Soft: without Redis, cached summaries go stale until their TTL; nothing is lost.
            "redis": self.invalidator.state,
        }
        for c in self.consumers:
            state = "up" if c.health.kafka_ok else f"down: {c.health.last_error or 'no answer yet'}"
            checks[f"kafka:{c.topic}"] = state
            for dep in c.health.dependency_down:
                checks[f"{c.topic}:{dep}"] = "down, batch waiting"
        ok = (
            not self.stopping.is_set()
            and self.db_ok
            and self.topics_ready
            and all(c.health.kafka_ok for c in self.consumers)
            and bool(self.consumers)
        )
        if self.stopping.is_set():
            checks["worker"] = "stopping"
        return ok, checks

    async def run(self) -> int:
        s = self.settings
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop, sig)
        server = serve(self.probes, s.worker_metrics_host, s.worker_metrics_port)
        self.http_port = int(server.server_address[1])
        beat = asyncio.create_task(self._beat())
        assert s.database_url is not None
        engine = create_async_engine(
            s.database_url,
            pool_size=s.db_pool_size,
            max_overflow=s.db_pool_size,
            connect_args={"timeout": DB_CONNECT_S},
        )
        ping_on_checkout(engine)
        if otel.configure(s.service_name, s.otlp_endpoint, ratio=s.trace_sample_ratio):
            otel.instrument_engine(engine)
            otel.instrument_redis()
        db = Database(engine, connect_timeout=DB_CONNECT_S, pings_on_checkout=True)
        aux: list[asyncio.Task[None]] = [asyncio.create_task(self._check_db(db))]
        producer: Producer | None = None
        ml: Any = None
        try:
            if not await self._wait_for_topics():
                return 0
            producer = Producer(s.kafka_bootstrap, client_id=f"{s.service_name}-producer")
            policy = RetryPolicy(
                s.worker_max_attempts, s.worker_backoff_seconds, s.worker_backoff_max_seconds
            )
            common: dict[str, Any] = {
                "bootstrap": s.kafka_bootstrap,
                "producer": producer,
                "metrics": self.metrics,
                "policy": policy,
                "stopping": self.stopping,
                "max_messages": s.worker_batch_max_messages,
                "poll_timeout_ms": s.worker_poll_timeout_ms,
                "session_timeout_ms": s.worker_session_timeout_ms,
                "client_id": s.service_name,
                "topic_prefix": s.kafka_topic_prefix,
            }
            self.consumers.append(
                TopicConsumer(
                    ReadingsHandler(engine, self.metrics, on_stored=self.invalidator.invalidate),
                    group=f"{s.worker_group}-readings",
                    **common,
                )
            )
            if s.ml_url:
                from service.ml.client import MLClient

                ml = MLClient(s.ml_url, deadline=s.ml_timeout_seconds, token=s.ml_token)
                self.consumers.append(
                    TopicConsumer(
                        ForecastHandler(
                            engine, ml, self.metrics, s.worker_forecast_batch, s.worker_aerate_kw_ha
                        ),
                        group=f"{s.worker_group}-forecasts",
                        **common,
                    )
                )
            else:
                log.warning("AQUA_ML_URL unset: forecast jobs wait in Kafka for a worker with one")
            prefix, send = s.kafka_topic_prefix, producer.asend

            async def publish(topic: str, key: bytes, value: bytes) -> None:
                await send(prefix + topic, key, value)

            nightly = NightlyRun(
                engine,
                publish,
                self.metrics,
                s.worker_nightly_hour,
                s.worker_republish_after_seconds,
            )
            if s.worker_nightly_enabled:
                aux.append(
                    asyncio.create_task(
                        self._every(s.worker_nightly_check_seconds, nightly.tick, "nightly run")
                    )
                )
            aux.append(
                asyncio.create_task(
                    self._every(
                        s.worker_crash_risk_refresh_seconds,
                        nightly.refresh_crash_risk,
                        "crash risk refresh",
                    )
                )
            )
            log.info(
                "worker started",
                extra={"topics": [c.topic for c in self.consumers], "metrics_port": self.http_port},
            )
            await asyncio.gather(*(c.run() for c in self.consumers))
            return 0
        finally:
            for task in aux:
                task.cancel()
            for task in aux:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if ml is not None:
                await ml.aclose()
            if producer is not None:
                await asyncio.to_thread(producer.close)
            await engine.dispose()
            await self.invalidator.aclose()
            beat.cancel()
            server.shutdown()
            otel.shutdown()
            log.info("worker stopped")

    def _stop(self, sig: signal.Signals) -> None:
        if not self.stopping.is_set():
            log.info("stopping: finishing the batch in hand", extra={"signal": sig.name})
        self.stopping.set()

    async def _beat(self) -> None:
        while True:
            self.probes.beat = time.monotonic()
            await asyncio.sleep(BEAT_S)

    async def _wait_for_topics(self) -> bool:
        s, delay = self.settings, 0.5
        while not self.stopping.is_set():
            try:
                await asyncio.to_thread(
                    ensure_topics,
                    s.kafka_bootstrap,
                    s.kafka_replication_factor,
                    TOPICS,
                    30.0,
                    s.kafka_topic_prefix,
                )
                self.topics_ready = True
                self.metrics.dependency_up.labels("kafka").set(1)
                return True
            except Exception as exc:  # broker not up yet
                self.metrics.dependency_up.labels("kafka").set(0)
                log.warning(
                    "waiting for kafka", extra={"error": f"{type(exc).__name__}: {exc}"[:300]}
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 10.0)
        return False

    async def _check_db(self, db: Database) -> None:
        while True:
            try:
                await db.ping(DB_PING_S)
                self.db_ok = True
            except DatabaseUnavailable:
                self.db_ok = False
            self.metrics.dependency_up.labels("database").set(1 if self.db_ok else 0)
            await asyncio.sleep(DB_CHECK_S)

    async def _every(self, seconds: float, fn: Callable[[], Awaitable[Any]], what: str) -> None:
        while True:
            try:
                await fn()
            except Exception as exc:  # the next tick retries
                log.warning(f"{what} failed", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
            await asyncio.sleep(seconds)

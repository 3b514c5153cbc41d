"""Everything one API process holds: settings, pools, clients, policies, state.

Built without I/O by :meth:`Runtime.build`; connections open in :meth:`start` (the app's
lifespan) and close in :meth:`stop`. Request handlers reach it via ``app.state.runtime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from service.api.biomass import OxygenPolicy
from service.api.cache import SummaryCache
from service.api.faults import FaultRegistry
from service.api.forecasts import Forecasts
from service.api.lifecycle import Lifecycle
from service.api.loginguard import LoginGuard, Network, parse_networks
from service.api.metrics import ApiMetrics
from service.api.organisations import bootstrap_admin
from service.api.ratelimit import RateLimiter
from service.api.security import Passwords, TokenService
from service.api.settings import ApiSettings
from service.api.softredis import RedisUnavailable, SoftRedis
from service.api.userstate import UserStates
from service.data import migrate
from service.data.db import Database, DatabaseUnavailable, is_unavailable
from service.data.ingest import DatabaseReadingsSink, ReadingsSink
from service.pipeline.queue import EmbeddedQueue, KafkaPublisher, Publisher, QueueReadingsSink

log = logging.getLogger("aqua.api")

BOOTSTRAP_RETRY_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 1.0
#: a schema found good enough is read again after this long (a bad one at every probe)
SCHEMA_RECHECK_SECONDS = 30.0


@dataclass
class Runtime:
    settings: ApiSettings
    db: Database
    redis: SoftRedis
    metrics: ApiMetrics
    cache: SummaryCache
    limiter: RateLimiter
    tokens: TokenService
    passwords: Passwords
    faults: FaultRegistry
    lifecycle: Lifecycle
    sink: ReadingsSink
    oxygen: OxygenPolicy
    forecasts: Forecasts
    users: UserStates
    login: LoginGuard
    trusted_proxies: list[Network]
    queue: Publisher | None = None
    embedded_worker: Any = None  # service.pipeline.embedded.EmbeddedWorker, imported lazily
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _schema: migrate.SchemaStatus | None = None
    _schema_read_at: float = 0.0

    @classmethod
    def build(cls, settings: ApiSettings) -> Runtime:
        db = Database.from_settings(settings)
        metrics = ApiMetrics(pool_stats=db.pool_stats)
        redis = SoftRedis(
            settings.redis_url,
            timeout=settings.redis_timeout_seconds,
            retry_seconds=settings.redis_retry_seconds,
            metrics=metrics,
        )
        cache = SummaryCache(
            redis,
            ttl_seconds=settings.cache_ttl_seconds,
            metrics=metrics,
            local_ttl_seconds=settings.cache_local_ttl_seconds,
            local_max_entries=settings.cache_local_max_entries,
        )
        queue = _make_queue(settings, metrics)
        sink: ReadingsSink = (
            QueueReadingsSink(queue)
            if queue is not None
            else DatabaseReadingsSink(db, on_written=cache.invalidate)
        )
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            metrics=metrics,
            cache=cache,
            limiter=RateLimiter(
                redis,
                limit=settings.rate_limit_requests,
                window_seconds=settings.rate_limit_window_seconds,
                sync_seconds=settings.rate_limit_sync_seconds,
            ),
            tokens=TokenService.from_settings(settings),
            passwords=Passwords.from_settings(settings),
            faults=FaultRegistry(
                enabled=settings.faults_enabled,
                metrics=metrics,
                redis=redis,
                sync_seconds=settings.faults_sync_seconds,
                engine=db.engine,
                pinned=settings.start_faults(),
            ),
            lifecycle=Lifecycle(),
            sink=sink,
            queue=queue,
            oxygen=OxygenPolicy(
                critical_mg_l=settings.do_critical_mg_l,
                warning_mg_l=settings.do_warning_mg_l,
                stale_seconds=settings.reading_stale_seconds,
            ),
            forecasts=Forecasts.from_settings(settings, metrics),
            users=UserStates(
                db,
                redis,
                ttl_seconds=settings.auth_state_ttl_seconds,
                local_ttl_seconds=settings.auth_state_local_ttl_seconds,
            ),
            login=LoginGuard.from_settings(settings, redis),
            trusted_proxies=parse_networks(settings.trusted_proxies),
        )

    async def schema(self) -> migrate.SchemaStatus:
        """The database schema against this code's migrations (``/ready`` refuses an older
        one); raises what the database raises when it is down."""
        now = time.monotonic()
        known = self._schema
        if (
            known is not None
            and known.serves
            and now - self._schema_read_at < SCHEMA_RECHECK_SECONDS
        ):
            return known
        self._schema = await asyncio.wait_for(
            migrate.status(self.db.engine), PROBE_TIMEOUT_SECONDS * 2
        )
        self._schema_read_at = now
        return self._schema

    async def _migrate(self) -> None:
        """Upgrade the schema, as the migration role when one is configured."""
        settings = self.settings.for_migrations()
        if settings is self.settings:
            await migrate.upgrade(self.db.engine)
            return
        owner = Database.from_settings(settings)
        try:
            await migrate.upgrade(owner.engine)
        finally:
            await owner.dispose()

    async def start(self) -> None:
        if self.settings.db_migrate_on_start:
            await self._migrate()
        try:
            await self.db.ping(PROBE_TIMEOUT_SECONDS)
            self.metrics.set_dependency("database", True)
        except DatabaseUnavailable as exc:
            self.metrics.set_dependency("database", False)
            log.error("database unavailable at startup", extra={"error": str(exc)})
        if self.redis.configured:
            # A failure is logged by SoftRedis; the service runs without the cache.
            with contextlib.suppress(RedisUnavailable):
                await self.redis.ping()
        await self.cache.start()
        if self.settings.bootstrap_admin_username:
            try:
                await bootstrap_admin(self.db, self.settings, self.passwords)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("bootstrap admin waits for the database")
                self._spawn(self._bootstrap_until_done())
        if self.redis.configured:
            for limiter in [self.limiter, *self.login.limiters]:
                if limiter.enabled:
                    self._spawn(limiter.sync_forever())
        if self.faults.enabled and self.redis.configured:
            self._spawn(self.faults.sync_forever())
        if self.queue is not None:
            await self.queue.start()
        if isinstance(self.queue, EmbeddedQueue):
            from service.pipeline.embedded import EmbeddedWorker

            self.embedded_worker = EmbeddedWorker(
                self.queue,
                self.db.engine,
                ml_url=self.settings.ml_url,
                ml_token=self.settings.ml_token,
                on_stored=self.cache.invalidate_many,
            )
            self.embedded_worker.start()
            self.metrics.registry.register(self.embedded_worker)
        self.metrics.draining.set(0)
        self.lifecycle.serving()
        log.info(
            "api started",
            extra={
                "database": self.db.dialect,
                "redis": self.redis.configured,
                "faults_enabled": self.faults.enabled,
            },
        )

    async def stop(self) -> None:
        self.lifecycle.stopped()
        if self.embedded_worker is not None:
            await self.embedded_worker.stop()
        if self.queue is not None:
            await self.queue.stop()
        await self.forecasts.aclose()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.cache.stop()
        await self.redis.close()
        await self.db.dispose()
        log.info("api stopped: pools closed")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coro))

    async def _bootstrap_until_done(self) -> None:
        while True:
            await asyncio.sleep(BOOTSTRAP_RETRY_SECONDS)
            try:
                await bootstrap_admin(self.db, self.settings, self.passwords)
                return
            except Exception as exc:
                if not is_unavailable(exc):
                    log.exception("bootstrap admin failed")
                    return


def _make_queue(settings: ApiSettings, metrics: ApiMetrics) -> Publisher | None:
    backend = settings.queue_backend
    if backend == "kafka":
        assert settings.kafka_bootstrap is not None  # checked by the settings validator
        return KafkaPublisher(
            settings.kafka_bootstrap,
            timeout_s=settings.kafka_publish_timeout_seconds,
            retry_after=settings.queue_retry_after_seconds,
            replication_factor=settings.kafka_replication_factor,
            topic_prefix=settings.kafka_topic_prefix,
            probe_timeout_s=min(
                PROBE_TIMEOUT_SECONDS * 0.8, settings.kafka_publish_timeout_seconds
            ),
            on_health=lambda up: metrics.set_dependency("kafka", up),
        )
    if backend == "embedded":
        return EmbeddedQueue(
            max_messages=settings.embedded_queue_max_messages,
            retry_after=settings.queue_retry_after_seconds,
        )
    return None

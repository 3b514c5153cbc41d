"""Fault injection for game days: added latency and errors on chosen routes.

Off unless ``AQUA_FAULTS_ENABLED=true``; only admins change rules. A rule names a route
template and adds latency and/or a probability of answering with a 5xx. Every change is logged
and visible in metrics (``fault_injection_rule``, ``fault_injection_changes_total``). With
Redis configured, rules are shared: each worker picks up the others' changes within
``AQUA_FAULTS_SYNC_SECONDS``::

    PUT /api/v1/admin/faults {"route": "/api/v1/ponds/{pond_id}/summary", "latency_ms": 300}
    PUT /api/v1/admin/faults {"route": "/api/v1/ponds", "db_latency_ms": 300}   # in PostgreSQL
    PUT /api/v1/admin/faults {"route": "/live", "leak_kb": 1024}   # a memory leak
    DELETE /api/v1/admin/faults      # clear every rule

Rules given at start-up (``AQUA_FAULTS_AT_START``, a JSON list of rules) are pinned to the
process: never published to Redis and never replaced by a sync, so one Deployment's pods can
run them (a canary's pod template) while the other pods sharing the Redis stay healthy.

``leak_kb`` keeps that much memory per request on the route for the life of the process (a
leak, which clearing the rule stops but does not give back): under load the process grows
until its memory limit gets it OOM-killed, as a leaking pod would be.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.api.metrics import ApiMetrics
from service.api.softredis import RedisUnavailable, SoftRedis
from service.common.errors import RequestRejected, ServiceError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("aqua.api.faults")

FAULTS_PREFIX = "/api/v1/admin/faults"
_REDIS_KEY = "aqua:faults:v1"


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    route: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^/[ -~]*$")] = Field(
        description="Route template, as in the OpenAPI document (e.g. /api/v1/ponds/{pond_id})."
    )
    latency_ms: Annotated[int, Field(ge=0, le=60_000)] = 0
    #: time spent in the database (``pg_sleep`` on a pooled connection): a slow query as
    #: metrics and traces see it, not a slow handler.
    db_latency_ms: Annotated[int, Field(ge=0, le=60_000)] = 0
    error_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0
    error_status: Annotated[int, Field(ge=500, le=599)] = 500
    #: memory kept for good per request on the route, in KiB (a leak)
    leak_kb: Annotated[int, Field(ge=0, le=65_536)] = 0

    @property
    def inert(self) -> bool:
        return (
            self.latency_ms == 0
            and self.db_latency_ms == 0
            and self.error_rate == 0
            and self.leak_kb == 0
        )


class FaultState(BaseModel):
    enabled: bool
    rules: list[FaultRule]


class FaultsDisabled(RequestRejected):
    """Fault injection is switched off in this deployment."""


class InjectedFault(ServiceError):
    def __init__(self, status: int) -> None:
        super().__init__(f"injected fault ({status})")
        self.status = status


class FaultRegistry:
    def __init__(
        self,
        *,
        enabled: bool,
        metrics: ApiMetrics,
        redis: SoftRedis,
        sync_seconds: float,
        rng: random.Random | None = None,
        engine: AsyncEngine | None = None,
        pinned: list[FaultRule] | None = None,
    ) -> None:
        self.enabled = enabled
        #: rules of the start-up settings: this process only, never synced away
        self._pinned: dict[str, FaultRule] = {r.route: r for r in pinned or [] if not r.inert}
        self._engine = engine
        self._metrics = metrics
        self._redis = redis
        self._sync_seconds = sync_seconds
        self._rng = rng or random.Random()  # noqa: S311 - sampling, not secrecy
        self._rules: dict[str, FaultRule] = {}
        self.known_routes: frozenset[str] = frozenset()
        self._last_synced: bytes | None = None
        #: what ``leak_kb`` rules kept, never released
        self.leaked: list[bytes] = []

    def state(self) -> FaultState:
        rules = {**self._pinned, **self._rules}
        return FaultState(enabled=self.enabled, rules=sorted(rules.values(), key=lambda r: r.route))

    def has_rule(self, route: str) -> bool:
        """Whether a fault rule targets ``route`` (the summary hot path then steps aside)."""
        return route in self._rules or route in self._pinned

    async def apply(self, route: str) -> None:
        """Delay and/or fail the current request as the rule for ``route`` says."""
        if not (self._rules or self._pinned) or route.startswith(FAULTS_PREFIX):
            return
        rule = self._rules.get(route) or self._pinned.get(route)
        if rule is None:
            return
        if rule.latency_ms:
            self._metrics.faults_injected.labels(route, "latency").inc()
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.db_latency_ms:
            self._metrics.faults_injected.labels(route, "db_latency").inc()
            await self._database_delay(rule.db_latency_ms / 1000)
        if rule.leak_kb:
            self._metrics.faults_injected.labels(route, "leak").inc()
            self.leaked.append(b"\x01" * (rule.leak_kb * 1024))  # written: resident, not lazy
        if rule.error_rate and self._rng.random() < rule.error_rate:
            self._metrics.faults_injected.labels(route, "error").inc()
            raise InjectedFault(rule.error_status)

    async def _database_delay(self, seconds: float) -> None:
        engine = self._engine
        if engine is None or engine.dialect.name != "postgresql":
            await asyncio.sleep(seconds)  # SQLite has no server to wait in
            return
        from sqlalchemy import text

        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})

    async def set_rule(self, rule: FaultRule, actor: str) -> FaultState:
        self._require_enabled()
        if rule.inert:
            self._rules.pop(rule.route, None)
            action = "remove"
        else:
            self._rules[rule.route] = rule
            action = "set"
        log.warning(
            "fault rule %s",
            action,
            extra={"actor": actor, "fault": rule.model_dump(), "action": action},
        )
        self._metrics.fault_changes.labels(action).inc()
        self._refresh_gauges()
        await self._publish()
        return self.state()

    async def clear(self, actor: str) -> FaultState:
        self._require_enabled()
        count = len(self._rules)
        self._rules.clear()
        log.warning(
            "fault rules cleared", extra={"actor": actor, "cleared": count, "action": "clear"}
        )
        self._metrics.fault_changes.labels("clear").inc()
        self._refresh_gauges()
        await self._publish()
        return self.state()

    async def sync_forever(self) -> None:
        """Adopt rules other workers published; runs until cancelled."""
        while True:
            await self.sync_once()
            await asyncio.sleep(self._sync_seconds)

    async def sync_once(self) -> None:
        try:
            payload = await self._redis.call(lambda r: r.get(_REDIS_KEY))
        except RedisUnavailable:
            return
        if not isinstance(payload, bytes) or payload == self._last_synced:
            return
        self._last_synced = payload
        try:
            rules = [FaultRule.model_validate(item) for item in json.loads(payload)]
        except (ValueError, TypeError):
            log.error("ignoring malformed fault rules in redis")
            return
        new = {rule.route: rule for rule in rules}
        if new != self._rules:
            self._rules = new
            log.warning("fault rules synced", extra={"rules": len(new), "action": "sync"})
            self._metrics.fault_changes.labels("sync").inc()
            self._refresh_gauges()

    async def _publish(self) -> None:
        payload = json.dumps([r.model_dump() for r in self._rules.values()]).encode()
        try:
            await self._redis.call(lambda r: r.set(_REDIS_KEY, payload))
            self._last_synced = payload
        except RedisUnavailable:
            pass

    def _require_enabled(self) -> None:
        if not self.enabled:
            raise FaultsDisabled("fault injection is disabled (AQUA_FAULTS_ENABLED=false)")

    def _refresh_gauges(self) -> None:
        gauge = self._metrics.fault_rules
        gauge.clear()
        for rule in {**self._pinned, **self._rules}.values():
            gauge.labels(rule.route, "latency_seconds").set(rule.latency_ms / 1000)
            gauge.labels(rule.route, "db_latency_seconds").set(rule.db_latency_ms / 1000)
            gauge.labels(rule.route, "error_rate").set(rule.error_rate)
            gauge.labels(rule.route, "leak_kb").set(rule.leak_kb)

"""Operability endpoints: ``/live``, ``/ready``, ``/health`` and ``/metrics``.

* ``/live`` — the process answers; never looks at dependencies (a restart would not fix them).
* ``/ready`` — may this instance get traffic: 503 while draining, when the database (hard
  dependency) is down, or when its schema is older than this code's migrations (a newer one
  is fine: releases expand before they contract). Soft dependencies — Redis, Kafka (when it
  is the queue), the ML service (when configured) — being down give 200 with status
  ``degraded``: the routes that need them answer 503 with ``Retry-After`` themselves, and
  taking every replica out of the load balancer for an outage they all share would fail the
  routes that still work. Each check reports its status and latency; the ML check also the
  circuit breaker's state.
* ``/health`` — the same checks plus version, phase and uptime, always 200: for humans and
  dashboards, not for load balancers.
* ``/metrics`` — Prometheus text format.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service.api import __version__
from service.api.deps import RuntimeDep
from service.api.metrics import CONTENT_TYPE
from service.api.runtime import PROBE_TIMEOUT_SECONDS, Runtime
from service.api.softredis import RedisUnavailable
from service.data.db import DatabaseUnavailable
from service.ml.client import BreakerState
from service.pipeline.queue import KafkaPublisher, QueueUnavailable

router = APIRouter(tags=["operations"])

CheckStatus = Literal["up", "down", "disabled"]
Overall = Literal["ready", "degraded", "unavailable", "draining"]


class Check(BaseModel):
    status: CheckStatus
    required: bool
    latency_ms: float | None = None
    error: str | None = None
    circuit: BreakerState | None = None


class Readiness(BaseModel):
    status: Overall
    checks: dict[str, Check]


class Health(Readiness):
    service: str
    version: str
    environment: str
    phase: str
    uptime_seconds: float


class Liveness(BaseModel):
    status: Literal["alive"] = "alive"


async def _check_database(rt: Runtime) -> Check:
    try:
        latency = await rt.db.ping(PROBE_TIMEOUT_SECONDS)
    except DatabaseUnavailable as exc:
        rt.metrics.set_dependency("database", False)
        return Check(status="down", required=True, error=str(exc)[:200])
    rt.metrics.set_dependency("database", True)
    return Check(status="up", required=True, latency_ms=round(latency * 1000, 3))


async def _check_schema(rt: Runtime) -> Check:
    """Required: a schema older than this code's migrations (a pod started before its
    migration ran) must not serve; a newer one (a later release migrated) may."""
    try:
        schema = await rt.schema()
    except Exception as exc:  # the database check reports why; this one just cannot tell
        return Check(status="down", required=True, error=f"schema unknown: {str(exc)[:150]}")
    if schema.serves:
        return Check(status="up", required=True)
    return Check(
        status="down",
        required=True,
        error=f"schema at {schema.current or 'nothing'}, this version needs {schema.head}: "
        "run the migration first",
    )


async def _check_redis(rt: Runtime) -> Check:
    if not rt.redis.configured:
        return Check(status="disabled", required=False)
    try:
        latency = await rt.redis.ping()
    except RedisUnavailable as exc:
        return Check(status="down", required=False, error=str(exc)[:200])
    return Check(status="up", required=False, latency_ms=round(latency * 1000, 3))


async def _check_kafka(rt: Runtime) -> Check:
    queue = rt.queue
    if not isinstance(queue, KafkaPublisher):
        return Check(status="disabled", required=False)
    try:
        latency = await queue.probe(PROBE_TIMEOUT_SECONDS)
    except QueueUnavailable as exc:
        return Check(status="down", required=False, error=str(exc)[:200])
    return Check(status="up", required=False, latency_ms=round(latency * 1000, 3))


async def _check_ml(rt: Runtime) -> Check:
    state = rt.forecasts.breaker_state()
    if state is None:
        return Check(status="disabled", required=False)
    latency = await rt.forecasts.probe(PROBE_TIMEOUT_SECONDS)
    if latency is None:
        return Check(
            status="down",
            required=False,
            error=f"/ready did not answer 200 within {PROBE_TIMEOUT_SECONDS:g} s",
            circuit=state,
        )
    return Check(status="up", required=False, latency_ms=round(latency * 1000, 3), circuit=state)


async def readiness(rt: Runtime) -> Readiness:
    db, schema, redis, kafka, ml = await asyncio.gather(
        _check_database(rt), _check_schema(rt), _check_redis(rt), _check_kafka(rt), _check_ml(rt)
    )
    checks = {"database": db, "schema": schema, "redis": redis, "kafka": kafka, "ml": ml}
    status: Overall
    if rt.lifecycle.draining:
        status = "draining"
    elif db.status != "up" or schema.status != "up":
        status = "unavailable"
    elif any(c.status == "down" for c in checks.values()):
        status = "degraded"
    else:
        status = "ready"
    return Readiness(status=status, checks=checks)


@router.get("/live", response_model=Liveness)
async def live() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Draining or database down."}},
)
async def ready(rt: RuntimeDep) -> JSONResponse:
    report = await readiness(rt)
    code = 503 if report.status in ("unavailable", "draining") else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=code)


@router.get("/health", response_model=Health)
async def health(rt: RuntimeDep) -> Health:
    report = await readiness(rt)
    return Health(
        status=report.status,
        checks=report.checks,
        service=rt.settings.service_name,
        version=__version__,
        environment=rt.settings.environment,
        phase=rt.lifecycle.phase.value,
        uptime_seconds=round(time.time() - rt.lifecycle.started_at, 3),
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(rt: RuntimeDep, request: Request) -> Response:
    rt.metrics.draining.set(1 if rt.lifecycle.draining else 0)
    # Prometheus asks for OpenMetrics when it stores exemplars: only that format carries them.
    if "application/openmetrics-text" in request.headers.get("accept", ""):
        from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest

        body: bytes = generate_latest(rt.metrics.registry)  # type: ignore[no-untyped-call]
        return Response(body, media_type=CONTENT_TYPE_LATEST)
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE)

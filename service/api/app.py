"""The ASGI application factory.

``create_app()`` reads settings from the environment; tests pass their own::

    app = create_app(ApiSettings(database_url="sqlite+aiosqlite:///t.db"))

``uvicorn --factory service.api.app:create_app`` works, but ``python -m service.api`` is the
production entry point: it migrates once, runs the workers and drains on SIGTERM.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from service.api import __version__, errors, health
from service.api.deps import apply_faults
from service.api.hotpath import SummaryHotPath, summary_route
from service.api.middleware import AuthBeforeBody, BodyLimitMiddleware, TelemetryMiddleware
from service.api.openapi import document_errors
from service.api.routes import api_routers
from service.api.runtime import Runtime
from service.api.settings import ApiSettings
from service.common import otel
from service.common.lifespan import lifespan_of
from service.common.logs import configure_logging

DESCRIPTION = """\
Farms, ponds and their water-quality readings (dissolved oxygen, temperature, pH, ammonia),
with pond summaries: newest readings, stock biomass and oxygen status.

Every `/api` route needs a bearer token from `POST /api/v1/auth/token`. Viewers read,
operators also write, admins also manage users and fault injection.
"""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    if settings.configure_logging:
        configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
    if otel.configure(
        settings.service_name,
        settings.otlp_endpoint,
        ratio=settings.trace_sample_ratio,
        keep_errors=settings.trace_keep_errors,
        keep_slow_ms=settings.trace_keep_slow_ms,
    ):
        otel.instrument_redis()
    runtime = Runtime.build(settings)
    otel.instrument_engine(runtime.db.engine)

    app = FastAPI(
        title="aqua API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan_of(runtime),
        # Only when enabled: a dependency costs on every request even when it does nothing.
        dependencies=[Depends(apply_faults)] if settings.faults_enabled else None,
        # The service exports its own metrics, logs and trace context (middleware); FastAPI's
        # OpenTelemetry hooks would only add per-request cost.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    errors.install(app)
    # One router holding every route: FastAPI tries included routers one after another, and
    # each one tried costs about as much as the rest of a cached read.
    everything = APIRouter()
    for router in [*api_routers(), health.router]:
        everything.routes.extend(router.routes)
    app.include_router(everything)
    document_errors(app)
    # Added last runs first: telemetry wraps the body limit, so 413s are counted and logged;
    # then writes are authenticated before any body is read (401 before 422);
    # both wrap the summary hot path, which answers local-tier hits before FastAPI's routing
    # and dependency resolution (not while a fault rule targets the summary route; switched
    # off, the route answers every request, as the differential test and the benchmark compare).
    if settings.summary_hot_path and runtime.cache.local.enabled:
        app.add_middleware(SummaryHotPath, runtime=runtime, route=summary_route(everything.routes))
    app.add_middleware(AuthBeforeBody, runtime=runtime)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(TelemetryMiddleware, runtime=runtime)
    runtime.faults.known_routes = frozenset(
        path for route in everything.routes if isinstance(path := getattr(route, "path", None), str)
    )
    return app

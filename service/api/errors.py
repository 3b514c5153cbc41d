"""How failures become HTTP answers: JSON ``{"detail": ...}``, never a stack trace.

=========================  ======  ==========================================
failure                    status  notes
=========================  ======  ==========================================
request validation         422     ``detail`` lists ``loc``/``msg``/``type``
bad or missing token       401     ``WWW-Authenticate: Bearer``
rate limit                 429     ``Retry-After``
unique constraint          409
database unreachable       503     ``Retry-After``; the pool recovers by itself
queue unreachable or full  503     ``Retry-After``; nothing of the request was accepted
ML service unavailable     503     ``Retry-After``: until the breaker's next trial call
no forecast possible       409     too few readings, input refused, no ML service
injected fault             5xx     game days only
anything else              500     logged with its traceback (middleware)
=========================  ======  ==========================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from service.api.deps import RateLimited
from service.api.faults import FaultsDisabled, InjectedFault
from service.api.forecasts import ForecastImpossible, ForecastUnavailable
from service.api.runtime import Runtime
from service.api.security import AuthError
from service.data.db import DatabaseUnavailable, is_unavailable
from service.pipeline.queue import QueueUnavailable

log = logging.getLogger("aqua.api.errors")


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and why: echoing the input could leak a password into a response or a log.
    detail = [
        {
            "loc": list(err.get("loc", ())),
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _auth(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


def rate_limited_response(exc: RateLimited) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)}
    )


def _unavailable(detail: str, retry_after: int) -> JSONResponse:
    return JSONResponse(
        {"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after)}
    )


def _rate_limited(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return rate_limited_response(exc)


def _database(request: Request, exc: Exception) -> JSONResponse:
    rt = cast(Runtime, request.app.state.runtime)
    if isinstance(exc, IntegrityError):
        return JSONResponse({"detail": "conflicts with an existing record"}, status_code=409)
    if is_unavailable(exc):
        rt.metrics.set_dependency("database", False)
        log.warning("database unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        return _unavailable("database unavailable, retry later", rt.settings.db_retry_after_seconds)
    log.error("database error", exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def _queue(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueueUnavailable)
    return _unavailable(f"{exc}; nothing was accepted, retry later", exc.retry_after)


def _forecast_unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ForecastUnavailable)
    return _unavailable(f"{exc}, retry later", exc.retry_after)


def _conflict(_: Request, exc: Exception) -> JSONResponse:
    """409 with the exception's own words (no forecast possible, fault injection off)."""
    return JSONResponse({"detail": str(exc)}, status_code=409)


def _injected(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InjectedFault)
    return JSONResponse({"detail": "injected fault"}, status_code=exc.status)


def install(app: FastAPI) -> None:
    handlers: tuple[tuple[type[Exception], Callable[[Request, Exception], JSONResponse]], ...] = (
        (RequestValidationError, _validation),
        (AuthError, _auth),
        (RateLimited, _rate_limited),
        (DatabaseUnavailable, _database),
        (SQLAlchemyError, _database),
        (ConnectionError, _database),
        (TimeoutError, _database),
        (QueueUnavailable, _queue),
        (ForecastUnavailable, _forecast_unavailable),
        (ForecastImpossible, _conflict),
        (InjectedFault, _injected),
        (FaultsDisabled, _conflict),
    )
    for exc_class, handler in handlers:
        app.add_exception_handler(exc_class, handler)

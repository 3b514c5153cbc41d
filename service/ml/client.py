"""Async client of the ML service, with timeouts, retries and a circuit breaker.

    async with MLClient("http://127.0.0.1:8001") as ml:
        response = await ml.forecast(ForecastRequest(ponds=[pond]))

Every attempt has a timeout; failed attempts (connection errors, timeouts, 5xx) are retried
with exponential backoff and full jitter; the whole call also has a deadline, so a caller never
waits longer than ``deadline`` seconds. A :class:`CircuitBreaker` counts consecutive failed
attempts: after ``failure_threshold`` it opens and calls fail at once with
:class:`CircuitOpenError`; after ``reset_timeout`` one trial call is let through (half-open)
and its outcome closes or re-opens the circuit. Errors::

    ServiceError (service.common.errors)
    ├── DependencyUnavailable
    │   └── MLUnavailable        the service did not answer usefully (after retries)
    │       └── CircuitOpenError  the breaker is open: no call was made
    └── RequestRejected
        └── MLRequestRejected     422: the request is invalid; ``detail`` says why
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import httpx

from service.common import otel
from service.common.errors import DependencyUnavailable, RequestRejected
from service.ml.schemas import ForecastRequest, ForecastResponse, ModelDescription

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "MLClient",
    "MLRequestRejected",
    "MLUnavailable",
]

_RETRY_STATUS = frozenset({500, 502, 503, 504})


class MLUnavailable(DependencyUnavailable):
    """The ML service could not produce an answer (down, timing out, failing)."""


class CircuitOpenError(MLUnavailable):
    """The circuit breaker is open; the call was refused without contacting the service."""


class MLRequestRejected(RequestRejected):
    """The ML service rejected the request as invalid (HTTP 422)."""

    def __init__(self, message: str, detail: Any) -> None:
        super().__init__(message)
        self.detail = detail


class BreakerState(enum.StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker with a single half-open trial call."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.closed
        if self._clock() - self._opened_at >= self.reset_timeout:
            return BreakerState.half_open
        return BreakerState.open

    def seconds_until_trial(self) -> float:
        """While open: seconds until a trial call is let through; otherwise 0."""
        if self._opened_at is None:
            return 0.0
        return max(self.reset_timeout - (self._clock() - self._opened_at), 0.0)

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go through now."""
        state = self.state
        if state is BreakerState.open:
            raise CircuitOpenError(
                "ML service circuit is open after repeated failures",
                hint=f"next trial call in {self.seconds_until_trial():.1f} s",
            )
        if state is BreakerState.half_open:
            if self._trial_running:
                raise CircuitOpenError("ML service circuit is half-open; a trial call is running")
            self._trial_running = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()


class MLClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.05,
        max_backoff: float = 1.0,
        deadline: float = 5.0,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        token: str | None = None,
    ) -> None:
        self.breaker = breaker or CircuitBreaker()
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.deadline = deadline
        self._rng = rng or random.Random()  # noqa: S311  jitter, not cryptography
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"authorization": f"Bearer {token}"} if token else None,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def forecast(self, request: ForecastRequest) -> ForecastResponse:
        with otel.span("ml forecast", {"aqua.ponds": len(request.ponds)}, kind="client"):
            body = await self._call("POST", "/v1/forecast", request.model_dump_json())
        return ForecastResponse.model_validate_json(body)

    async def model(self) -> ModelDescription:
        return ModelDescription.model_validate_json(await self._call("GET", "/v1/model", None))

    async def ready(self) -> bool:
        """Whether the service reports ready; never raises, never trips the breaker."""
        try:
            r = await self._http.get("/ready")
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def _delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_backoff, backoff·2^attempt)]."""
        return self._rng.uniform(0.0, min(self.max_backoff, self.backoff * 2**attempt))

    async def _call(self, method: str, path: str, content: str | None) -> bytes:
        self.breaker.before_call()
        start = time.monotonic()
        last: str = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt > 0:
                self.breaker.before_call()
            remaining = self.deadline - (time.monotonic() - start)
            if remaining <= 0:
                break
            try:
                r = await asyncio.wait_for(
                    self._http.request(
                        method,
                        path,
                        content=content,
                        # traceparent: the ML service's spans continue the caller's trace.
                        headers=otel.inject(
                            {"content-type": "application/json"} if content else {}
                        ),
                    ),
                    timeout=remaining,
                )
            except (httpx.TransportError, TimeoutError) as exc:
                self.breaker.record_failure()
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if r.status_code == 422:
                    self.breaker.record_success()
                    detail = _json(r)
                    raise MLRequestRejected(f"ML service rejected the request: {detail}", detail)
                if r.status_code < 400:
                    self.breaker.record_success()
                    return r.content
                if r.status_code not in _RETRY_STATUS:
                    self.breaker.record_success()
                    raise MLUnavailable(f"ML service answered {r.status_code}: {r.text[:200]}")
                self.breaker.record_failure()
                last = f"HTTP {r.status_code}"
            if attempt < self.retries:
                pause = min(self._delay(attempt), self.deadline - (time.monotonic() - start))
                if pause > 0:
                    await asyncio.sleep(pause)
        raise MLUnavailable(
            f"ML service unavailable after {attempt + 1} attempt(s): {last}",
            hint=f"circuit {self.breaker.state.value}",
        )


def _json(r: httpx.Response) -> Any:
    try:
        body: Any = r.json()
    except ValueError:
        return r.text[:500]
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return body

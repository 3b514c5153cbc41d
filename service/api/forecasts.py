"""On-demand forecasts: a pond's last 48 hours plus the caller's aeration plans, sent to the ML
service and answered in the same request.

The input is assembled by :mod:`service.data.forecast_input`, the code the worker's forecast
jobs use, for the night that starts at the latest 20:00 pond-local. The ML call goes through
:class:`service.ml.client.MLClient`: a timeout per attempt, retries with exponential backoff
and full jitter, a deadline for the whole call, and a circuit breaker. Failures map to::

    no ML service configured         ForecastImpossible   409
    readings do not make an input    ForecastImpossible   409 (the reason says what is missing)
    ML service rejects the input     ForecastImpossible   409
    ML service down, failing, slow   ForecastUnavailable  503 + Retry-After
    circuit breaker open             ForecastUnavailable  503 + Retry-After, without a call

While the breaker is open the answer comes before any database or network work, so a dead ML
service costs callers a fast 503, never a hang. Each API process has its own breaker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.metrics import ApiMetrics
from service.api.settings import ApiSettings
from service.common.errors import DependencyUnavailable, RequestRejected
from service.common.schedule import issue_time
from service.data.forecast_input import NO_AERATION, NotEnoughData, load_input
from service.data.schemas import Strict
from service.ml.client import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    MLClient,
    MLRequestRejected,
    MLUnavailable,
)
from service.ml.schemas import NIGHT_CLOCK, AerationPlan, ForecastRequest, PondForecast

log = logging.getLogger("aqua.api.forecasts")

KwPerHa = Annotated[float, Field(ge=0.0, le=40.0, allow_inf_nan=False)]
NightPlan = Annotated[
    list[KwPerHa],
    Field(
        min_length=len(NIGHT_CLOCK),
        max_length=len(NIGHT_CLOCK),
        description="Aeration in kW per hectare for each hour ending 21:00, 22:00 ... 06:00.",
    ),
]


class WhatIfPlan(Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    aeration_kw_ha: NightPlan


class ForecastAsk(Strict):
    """Tonight's planned aeration and alternatives to compare ("what if I aerate?")."""

    aeration_kw_ha: NightPlan | None = Field(
        default=None, description="Tonight's plan; default: no aeration."
    )
    what_if: list[WhatIfPlan] = Field(
        default_factory=list, max_length=8, description="Alternative plans, up to 8."
    )


class ForecastResult(BaseModel):
    """The ML service's forecast of one pond for the night starting at the issue time."""

    model_version: str
    hours: list[str]
    pond: PondForecast


class ForecastOut(ForecastResult):
    pond_id: int
    issued_at: datetime = Field(description="Start of the forecast night (20:00 pond-local).")


class ForecastImpossible(RequestRejected):
    """No forecast can be made from what is stored or configured; retrying will not help."""


class ForecastUnavailable(DependencyUnavailable):
    """The ML service did not answer (or the breaker is open); retry after ``retry_after``."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forecasts:
    """The API's way to the ML service; ``client`` is None when no ML service is configured."""

    def __init__(self, client: MLClient | None, metrics: ApiMetrics) -> None:
        self.client = client
        self._metrics = metrics
        self._outcomes = {
            name: metrics.forecasts.labels(name)
            for name in (
                "ok",
                "not_enough_data",
                "rejected",
                "unavailable",
                "circuit_open",
                "not_configured",
            )
        }
        if client is not None:
            breaker = client.breaker
            metrics.watch_breaker("ml", lambda: breaker.state.value)

    @classmethod
    def from_settings(cls, settings: ApiSettings, metrics: ApiMetrics) -> Forecasts:
        if not settings.ml_url:
            return cls(None, metrics)
        client = MLClient(
            settings.ml_url,
            timeout=settings.ml_timeout_seconds,
            retries=settings.ml_retries,
            backoff=settings.ml_backoff_seconds,
            deadline=settings.ml_deadline_seconds,
            token=settings.ml_token,
            breaker=CircuitBreaker(
                failure_threshold=settings.ml_breaker_failures,
                reset_timeout=settings.ml_breaker_reset_seconds,
            ),
        )
        return cls(client, metrics)

    @property
    def configured(self) -> bool:
        return self.client is not None

    def breaker_state(self) -> BreakerState | None:
        return None if self.client is None else self.client.breaker.state

    def _retry_after(self) -> int:
        assert self.client is not None
        breaker = self.client.breaker
        wait = breaker.seconds_until_trial() or breaker.reset_timeout
        return max(1, math.ceil(wait))

    def _unavailable(self, outcome: str, message: str) -> ForecastUnavailable:
        self._outcomes[outcome].inc()
        return ForecastUnavailable(message, self._retry_after())

    async def forecast(
        self,
        session: AsyncSession,
        pond_id: int,
        timezone: str | None,
        ask: ForecastAsk,
        now: datetime | None = None,
    ) -> ForecastOut:
        """Forecast tonight for a pond that exists; raises the exceptions in the module doc."""
        client = self.client
        if client is None:
            self._outcomes["not_configured"].inc()
            raise ForecastImpossible("no ML service is configured (AQUA_ML_URL)")
        if client.breaker.state is BreakerState.open:
            raise self._unavailable("circuit_open", "ML service unavailable (circuit open)")
        issued_at = issue_time(now or datetime.now(UTC), timezone)
        plan = ask.aeration_kw_ha if ask.aeration_kw_ha is not None else NO_AERATION
        what_if = [AerationPlan(name=w.name, aeration_kw_ha=w.aeration_kw_ha) for w in ask.what_if]
        try:
            pond_input = await load_input(session, pond_id, issued_at, plan, what_if)
        except NotEnoughData as exc:
            self._outcomes["not_enough_data"].inc()
            raise ForecastImpossible(f"pond {pond_id}: {exc}") from exc
        # The ML call may take up to the deadline: give the connection back first.
        await session.close()
        started = time.perf_counter()
        try:
            response = await client.forecast(ForecastRequest(ponds=[pond_input]))
        except CircuitOpenError as exc:
            # Another request's trial call is running, or this call's retries opened it.
            raise self._unavailable(
                "circuit_open", "ML service unavailable (circuit open)"
            ) from exc
        except MLUnavailable as exc:
            self._metrics.set_dependency("ml", False)
            log.warning("ML service unavailable", extra={"pond_id": pond_id, "error": str(exc)})
            raise self._unavailable("unavailable", "ML service unavailable") from exc
        except MLRequestRejected as exc:
            self._outcomes["rejected"].inc()
            raise ForecastImpossible(
                f"the ML service cannot forecast pond {pond_id} from its readings: {exc.detail}"
            ) from exc
        finally:
            self._metrics.ml_call_duration.observe(time.perf_counter() - started)
        self._metrics.set_dependency("ml", True)
        self._outcomes["ok"].inc()
        return ForecastOut(
            pond_id=pond_id,
            issued_at=issued_at,
            model_version=response.model_version,
            hours=list(response.hours),
            pond=response.ponds[0],
        )

    async def probe(self, timeout_s: float) -> float | None:
        """Seconds the ML service took to answer ``/ready`` with 200, or None if it did not.

        A probe never trips or resets the breaker: only real calls do.
        """
        if self.client is None:
            return None
        started = time.perf_counter()
        try:
            ready = await asyncio.wait_for(self.client.ready(), timeout_s)
        except TimeoutError:
            ready = False
        self._metrics.set_dependency("ml", ready)
        return time.perf_counter() - started if ready else None

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

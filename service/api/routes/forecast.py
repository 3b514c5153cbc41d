"""Tonight's forecast of a pond, answered in the request (see :mod:`service.api.forecasts`).

``POST /ponds/{id}/forecast`` takes an optional body with tonight's aeration plan and what-if
plans. It needs the ``read`` scope: a forecast stores nothing and changes nothing, and "what
if I aerate?" is a question for whoever watches the pond, viewers included. (Queuing one with
``/forecast/async`` writes a task, so that one needs ``write``.)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from service.api.deps import Reader, RuntimeDep, SessionDep
from service.api.forecasts import ForecastAsk, ForecastOut
from service.api.routes._common import API_PREFIX, NO_POND, NO_SCOPE, NO_TOKEN, PondId
from service.api.tenancy import pond_and_farm_in

router = APIRouter(prefix=f"{API_PREFIX}/ponds", tags=["forecasts"])


@router.post(
    "/{pond_id}/forecast",
    response_model=ForecastOut,
    responses={
        **NO_TOKEN,
        **NO_SCOPE,
        **NO_POND,
        409: {
            "description": (
                "No forecast possible: too few readings in the last 48 h (the detail says "
                "which), input the ML service refuses, or no ML service configured."
            )
        },
        503: {"description": "ML service unavailable or its circuit open; see Retry-After."},
    },
)
async def forecast(
    pond_id: PondId,
    who: Reader,
    rt: RuntimeDep,
    session: SessionDep,
    body: Annotated[ForecastAsk | None, Body()] = None,
) -> ForecastOut:
    """Forecast dissolved oxygen tonight (21:00-06:00) under a plan and its alternatives.

    P10/P50/P90 per hour, the night minimum, the probability that it falls below the pond's
    threshold and the hours until it does, for the plan and for each what-if.
    """
    _, farm = await pond_and_farm_in(session, who.org_id, pond_id)
    return await rt.forecasts.forecast(session, pond_id, farm.timezone, body or ForecastAsk())

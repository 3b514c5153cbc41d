"""Pond summary: newest readings, biomass and oxygen status, cached read-through
(:mod:`service.api.cache`: a local tier in each process, then Redis).

A cache hit is answered from the stored JSON without touching the database. ``X-Cache`` says
``hit`` or ``miss``. Entries are keyed by the caller's organisation and the pond: only a
request of the pond's own organisation can fill one (another tenant's request fails the scoped
lookup, 404), so no request is ever answered from another tenant's entry. Hits of the local
tier are usually answered before this route is reached (:mod:`service.api.hotpath`), with the
same checks and the same answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from fastapi import APIRouter, Request, Response

from service.api.deps import Reader
from service.api.routes._common import API_PREFIX, NO_POND, NO_TOKEN, PondId
from service.api.runtime import Runtime
from service.api.summaries import build_summary, latest_readings
from service.api.tenancy import pond_in
from service.data.schemas import PondSummary

router = APIRouter(prefix=f"{API_PREFIX}/ponds", tags=["summary"])


@router.get(
    "/{pond_id}/summary",
    response_model=PondSummary,
    responses={
        **NO_TOKEN,
        **NO_POND,
    },
)
async def pond_summary(pond_id: PondId, who: Reader, request: Request) -> Response:
    # The hottest route: the runtime comes from the app state rather than one more dependency.
    rt = cast(Runtime, request.app.state.runtime)
    org_id = who.org_id

    async def compute() -> bytes:
        async with rt.db.session() as session:
            pond = await pond_in(session, org_id, pond_id)
            latest = await latest_readings(session, pond_id)
        summary = build_summary(pond, latest, rt.oxygen, datetime.now(UTC))
        return summary.model_dump_json().encode()

    payload, cached = await rt.cache.read_through((org_id, pond_id), compute)
    return Response(
        payload, media_type="application/json", headers={"X-Cache": "hit" if cached else "miss"}
    )

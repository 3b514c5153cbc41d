"""Ponds of the caller's organisation: list (optionally per farm), create, read, update,
delete. Another organisation's pond or farm answers 404, as a missing one does."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from service.api.deps import PageDep, Reader, RuntimeDep, SessionDep, Writer
from service.api.routes._common import (
    API_PREFIX,
    NO_SCOPE,
    NO_TOKEN,
    PondId,
    Responses,
    added,
    page_of,
    patch,
)
from service.api.tenancy import farm_in, in_org, pond_in
from service.data.models import Pond
from service.data.schemas import MAX_ID, Page, PondCreate, PondOut, PondUpdate

router = APIRouter(prefix=f"{API_PREFIX}/ponds", tags=["ponds"])

_ERRORS: Responses = {**NO_TOKEN, **NO_SCOPE}
_CONFLICT: Responses = {409: {"description": "The farm has a pond of that name."}}
_NOT_FOUND: Responses = {404: {"description": "No such pond in the caller's organisation."}}
_NO_FARM: Responses = {404: {"description": "No such farm in the caller's organisation."}}
_ONE: Responses = {**_ERRORS, **_NOT_FOUND}
_NOT_NULL = frozenset({"name", "species", "area_m2", "depth_m", "stock_count"})


@router.get("", response_model=Page[PondOut], responses=_ERRORS)
async def list_ponds(
    who: Reader,
    session: SessionDep,
    page: PageDep,
    farm_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this farm's ponds.")
    ] = None,
) -> Page[PondOut]:
    where = [in_org(who.org_id)]
    if farm_id is not None:
        where.append(Pond.farm_id == farm_id)
    return await page_of(session, page, PondOut, Pond, *where)


@router.post(
    "",
    response_model=PondOut,
    status_code=201,
    responses={**_ERRORS, **_NO_FARM, **_CONFLICT},
)
async def create_pond(body: PondCreate, who: Writer, session: SessionDep) -> Pond:
    await farm_in(session, who.org_id, body.farm_id)
    pond = Pond(**body.model_dump(mode="python"))
    pond.species = body.species.value
    return await added(session, pond)


@router.get("/{pond_id}", response_model=PondOut, responses=_ONE)
async def read_pond(pond_id: PondId, who: Reader, session: SessionDep) -> Pond:
    return await pond_in(session, who.org_id, pond_id)


@router.patch(
    "/{pond_id}", response_model=PondOut, responses={**_ERRORS, **_NOT_FOUND, **_CONFLICT}
)
async def update_pond(
    pond_id: PondId, body: PondUpdate, who: Writer, rt: RuntimeDep, session: SessionDep
) -> Pond:
    pond = await pond_in(session, who.org_id, pond_id)
    patch(pond, body, _NOT_NULL)
    await session.commit()
    await rt.cache.invalidate(who.org_id, pond_id)
    return pond


@router.delete("/{pond_id}", status_code=204, response_class=Response, responses=_ONE)
async def delete_pond(
    pond_id: PondId, who: Writer, rt: RuntimeDep, session: SessionDep
) -> Response:
    pond = await pond_in(session, who.org_id, pond_id)
    await session.delete(pond)
    await session.commit()
    await rt.cache.invalidate(who.org_id, pond_id)
    return Response(status_code=204)

"""Farms of the caller's organisation: list, create, read, update, delete (deleting a farm
deletes its ponds). Another organisation's farm answers 404, as a missing one does."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import select

from service.api.deps import PageDep, Reader, RuntimeDep, SessionDep, Writer
from service.api.routes._common import (
    API_PREFIX,
    NO_SCOPE,
    NO_TOKEN,
    Responses,
    added,
    page_of,
    patch,
)
from service.api.tenancy import farm_in
from service.data.models import Farm, Pond
from service.data.schemas import MAX_ID, FarmCreate, FarmOut, FarmUpdate, Page

router = APIRouter(prefix=f"{API_PREFIX}/farms", tags=["farms"])

FarmId = Annotated[int, Path(ge=1, le=MAX_ID)]
_ERRORS: Responses = {**NO_TOKEN, **NO_SCOPE}
_CONFLICT: Responses = {409: {"description": "The organisation has a farm of that name."}}
_NOT_FOUND: Responses = {404: {"description": "No such farm in the caller's organisation."}}
_ONE: Responses = {**_ERRORS, **_NOT_FOUND}


@router.get("", response_model=Page[FarmOut], responses=_ERRORS)
async def list_farms(who: Reader, session: SessionDep, page: PageDep) -> Page[FarmOut]:
    return await page_of(session, page, FarmOut, Farm, Farm.org_id == who.org_id)


@router.post("", response_model=FarmOut, status_code=201, responses={**_ERRORS, **_CONFLICT})
async def create_farm(body: FarmCreate, who: Writer, session: SessionDep) -> Farm:
    farm = Farm(org_id=who.org_id, name=body.name, location=body.location, timezone=body.timezone)
    return await added(session, farm)


@router.get("/{farm_id}", response_model=FarmOut, responses=_ONE)
async def read_farm(farm_id: FarmId, who: Reader, session: SessionDep) -> Farm:
    return await farm_in(session, who.org_id, farm_id)


@router.patch(
    "/{farm_id}", response_model=FarmOut, responses={**_ERRORS, **_NOT_FOUND, **_CONFLICT}
)
async def update_farm(farm_id: FarmId, body: FarmUpdate, who: Writer, session: SessionDep) -> Farm:
    farm = await farm_in(session, who.org_id, farm_id)
    patch(farm, body, not_null=("name", "timezone"))
    await session.commit()
    return farm


@router.delete("/{farm_id}", status_code=204, response_class=Response, responses=_ONE)
async def delete_farm(
    farm_id: FarmId, who: Writer, rt: RuntimeDep, session: SessionDep
) -> Response:
    farm = await farm_in(session, who.org_id, farm_id)
    pond_ids = list(await session.scalars(select(Pond.id).where(Pond.farm_id == farm_id)))
    await session.delete(farm)
    await session.commit()
    await rt.cache.invalidate_many((who.org_id, pond_id) for pond_id in pond_ids)
    return Response(status_code=204)

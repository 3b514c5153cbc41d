"""Tenancy: what the caller's organisation holds, and nothing else.

Farms belong to an organisation; ponds, readings, forecasts and tasks belong to it through
their farm. Every lookup of a farm-scoped object names the caller's organisation
(``Principal.org_id``) in the same query, so another tenant's object is never loaded. An id
of another organisation answers exactly as an id that does not exist (404, same body): a
caller cannot tell the two apart::

    pond = await pond_in(session, who.org_id, pond_id)     # 404 unless the caller's
    query = select(Pond).where(in_org(who.org_id))          # only the caller's ponds
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.data.models import Farm, Pond, Task, User


def not_found(kind: str, item_id: object) -> HTTPException:
    """The one 404 of a missing object, whether it does not exist or is another tenant's."""
    return HTTPException(status_code=404, detail=f"{kind} {item_id} not found")


def in_org(org_id: int) -> ColumnElement[bool]:
    """A WHERE clause on ``Pond``: the pond's farm belongs to ``org_id``."""
    return Pond.farm_id.in_(select(Farm.id).where(Farm.org_id == org_id))


async def _one(session: AsyncSession, query: Any, kind: str, item_id: object) -> Any:
    found = await session.scalar(query)
    if found is None:
        raise not_found(kind, item_id)
    return found


async def farm_in(session: AsyncSession, org_id: int, farm_id: int) -> Farm:
    query = select(Farm).where(Farm.id == farm_id, Farm.org_id == org_id)
    farm: Farm = await _one(session, query, "farm", farm_id)
    return farm


async def pond_in(session: AsyncSession, org_id: int, pond_id: int) -> Pond:
    query = (
        select(Pond)
        .join(Farm, Farm.id == Pond.farm_id)
        .where(Pond.id == pond_id, Farm.org_id == org_id)
    )
    pond: Pond = await _one(session, query, "pond", pond_id)
    return pond


async def pond_and_farm_in(session: AsyncSession, org_id: int, pond_id: int) -> tuple[Pond, Farm]:
    """The pond and its farm (for the farm's time zone), in one query."""
    row = (
        await session.execute(
            select(Pond, Farm)
            .join(Farm, Farm.id == Pond.farm_id)
            .where(Pond.id == pond_id, Farm.org_id == org_id)
        )
    ).first()
    if row is None:
        raise not_found("pond", pond_id)
    return row[0], row[1]


def task_in_org(org_id: int) -> ColumnElement[bool]:
    """A WHERE clause on ``Task``: the task's pond belongs to ``org_id``."""
    return Task.pond_id.in_(select(Pond.id).where(in_org(org_id)))


async def task_in(session: AsyncSession, org_id: int, task_id: str) -> Task:
    query = select(Task).where(Task.id == task_id, task_in_org(org_id))
    task: Task = await _one(session, query, "task", task_id)
    return task


async def user_in(session: AsyncSession, org_id: int, user_id: int) -> User:
    query = select(User).where(User.id == user_id, User.org_id == org_id)
    user: User = await _one(session, query, "user", user_id)
    return user

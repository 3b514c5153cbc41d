"""What every router shares: the version prefix, the type of documented responses, and the
422 a route raises itself (in the same shape as FastAPI's request validation errors)."""

from collections.abc import Collection
from enum import Enum
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Path
from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.deps import PageParams
from service.data.schemas import MAX_ID, Out, Page

OutT = TypeVar("OutT", bound=Out)

API_PREFIX = "/api/v1"

Responses = dict[int | str, dict[str, Any]]

#: a pond's id in a path
PondId = Annotated[int, Path(ge=1, le=MAX_ID)]

#: the answers every pond route documents
NO_TOKEN: Responses = {401: {"description": "No valid token."}}
NO_SCOPE: Responses = {403: {"description": "Role lacks the scope."}}
NO_POND: Responses = {404: {"description": "No such pond in the caller's organisation."}}


def invalid(loc: list[str], message: str) -> HTTPException:
    """A 422 whose body matches the documented ``HTTPValidationError``: one failing field."""
    return HTTPException(
        status_code=422, detail=[{"loc": loc, "msg": message, "type": "value_error"}]
    )


async def page_of(
    session: AsyncSession,
    page: PageParams,
    out: type[OutT],
    model: Any,
    *where: ColumnElement[bool],
) -> Page[OutT]:
    """One page of ``model`` rows matching ``where``, by id, with the count of all of them."""
    total = await session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    rows = await session.scalars(
        select(model).where(*where).order_by(model.id).limit(page.limit).offset(page.offset)
    )
    return Page[out](  # type: ignore[valid-type]
        items=[out.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


R = TypeVar("R")


async def added(session: AsyncSession, row: R) -> R:
    """``row`` stored (added and committed)."""
    session.add(row)
    await session.commit()
    return row


def patch(row: object, body: BaseModel, not_null: Collection[str]) -> None:
    """Set the fields ``body`` sets on ``row``; a null for a column in ``not_null`` is no change.
    Enum values are stored as their value."""
    for key, value in body.model_dump(exclude_unset=True).items():
        if value is None and key in not_null:
            continue
        setattr(row, key, value.value if isinstance(value, Enum) else value)

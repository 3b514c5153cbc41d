"""What every router shares: the version prefix, the type of documented responses, and the
422 a route raises itself (in the same shape as FastAPI's request validation errors)."""

from typing import Any, TypeVar

from fastapi import HTTPException
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.deps import PageParams
from service.data.schemas import Out, Page

OutT = TypeVar("OutT", bound=Out)

API_PREFIX = "/api/v1"

Responses = dict[int | str, dict[str, Any]]


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

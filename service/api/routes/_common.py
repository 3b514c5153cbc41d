"""What every router shares: the version prefix, the type of documented responses, and the
422 a route raises itself (in the same shape as FastAPI's request validation errors)."""

from typing import Any

from fastapi import HTTPException

API_PREFIX = "/api/v1"

Responses = dict[int | str, dict[str, Any]]


def invalid(loc: list[str], message: str) -> HTTPException:
    """A 422 whose body matches the documented ``HTTPValidationError``: one failing field."""
    return HTTPException(
        status_code=422, detail=[{"loc": loc, "msg": message, "type": "value_error"}]
    )

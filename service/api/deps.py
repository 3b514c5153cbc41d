"""FastAPI dependencies: the runtime, a database session, the caller and their scopes.

Route signatures read as policy::

    async def create_farm(body: FarmCreate, who: Writer, session: SessionDep) -> FarmOut: ...

``Reader``/``Writer``/``Admin`` authenticate the bearer token against the user's current
state (401), apply the per-user rate limit (429) and check the scope (403), in that order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Query, Request, Security
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from service.api.runtime import Runtime
from service.api.security import AuthError, Principal
from service.common import otel
from service.common.errors import RequestRejected
from service.common.tracing import current_request
from service.data.schemas import MAX_ID

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL, not a secret

SCOPES = {
    "read": "Read farms, ponds, readings and summaries.",
    "write": "Create and change farms, ponds and readings.",
    "admin": "Manage users and fault injection.",
}


class RateLimited(RequestRejected):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded, retry in {retry_after} s")
        self.retry_after = retry_after


async def get_runtime(request: Request) -> Runtime:
    # async on purpose, like every dependency here: FastAPI runs sync ones in a thread pool.
    return cast(Runtime, request.app.state.runtime)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(rt: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with rt.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def authorization_of(scope: Scope) -> str:
    """The ``Authorization`` header of an ASGI request ("" without one), for the middleware
    that authenticates before FastAPI's routing."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return ""


async def bearer_principal(rt: Runtime, authorization: str) -> Principal:
    """The caller named by an ``Authorization`` header, as the user's current state allows;
    :class:`AuthError` (401) otherwise: a bad token, or a user disabled, deleted, changed or
    logged out since it was issued."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("missing bearer token")
    return await rt.users.current(rt.tokens.decode(token.strip(), "access"))


async def admit(rt: Runtime, principal: Principal) -> None:
    """Attach the caller to the request's logs and count the request against their rate
    limit; :class:`RateLimited` (429) when over it."""
    ctx = current_request.get()
    if ctx is not None:
        ctx.user_id = str(principal.user_id)
    if rt.limiter.enabled:
        decision = await rt.limiter.hit(f"user:{principal.user_id}")
        if not decision.allowed:
            rt.metrics.rate_limited.inc()
            raise RateLimited(decision.retry_after)


class BearerAuth(OAuth2PasswordBearer):
    """The OAuth2 bearer scheme of the OpenAPI document, checking a request in one call.

    One dependency per request instead of a chain (token → principal → scopes): every
    ``/api`` request pays for dependency resolution.
    """

    def __init__(self, scope: str) -> None:
        super().__init__(
            tokenUrl=TOKEN_URL, auto_error=False, scopes=SCOPES, scheme_name="OAuth2PasswordBearer"
        )
        self.scope = scope

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        rt = cast(Runtime, request.app.state.runtime)
        with otel.span("authenticate"):
            principal = await bearer_principal(rt, request.headers.get("authorization", ""))
            await admit(rt, principal)
        if self.scope not in principal.scopes:
            raise HTTPException(
                status_code=403,
                detail=f"role {principal.role.value} lacks scope {self.scope}",
            )
        return principal


Reader = Annotated[Principal, Security(BearerAuth("read"), scopes=["read"])]
Writer = Annotated[Principal, Security(BearerAuth("write"), scopes=["write"])]
Admin = Annotated[Principal, Security(BearerAuth("admin"), scopes=["admin"])]


async def apply_faults(request: Request) -> None:
    """App-wide dependency (only when fault injection is enabled): latency/errors per route."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        await cast(Runtime, request.app.state.runtime).faults.apply(template)


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]

"""FastAPI dependencies: the runtime, a database session, the caller and their scopes.

Route signatures read as policy::

    async def create_farm(body: FarmCreate, who: Writer, session: SessionDep) -> FarmOut: ...

``Reader``/``Writer``/``Admin`` authenticate the bearer token (401), apply the per-user rate
limit (429) and check the scope (403), in that order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Query, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.runtime import Runtime
from service.api.schemas import MAX_ID
from service.api.security import AuthError, Principal
from service.common.tracing import current_request

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL, not a secret

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    auto_error=False,
    scopes={
        "read": "Read farms, ponds, readings and summaries.",
        "write": "Create and change farms, ponds and readings.",
        "admin": "Manage users and fault injection.",
    },
)


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded, retry in {retry_after} s")
        self.retry_after = retry_after


def get_runtime(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(rt: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with rt.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def authorize(
    security_scopes: SecurityScopes,
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    rt = get_runtime(request)
    if not token:
        raise AuthError("missing bearer token")
    principal = rt.tokens.decode(token, "access")
    ctx = current_request.get()
    if ctx is not None:
        ctx.user_id = str(principal.user_id)
    if rt.limiter.enabled:
        decision = await rt.limiter.hit(f"user:{principal.user_id}")
        if not decision.allowed:
            rt.metrics.rate_limited.inc()
            raise RateLimited(decision.retry_after)
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        raise HTTPException(
            status_code=403,
            detail=f"role {principal.role.value} lacks scope {', '.join(missing)}",
        )
    return principal


Reader = Annotated[Principal, Security(authorize, scopes=["read"])]
Writer = Annotated[Principal, Security(authorize, scopes=["write"])]
Admin = Annotated[Principal, Security(authorize, scopes=["admin"])]


async def apply_faults(request: Request) -> None:
    """App-wide dependency: injected latency/errors for the matched route, when enabled."""
    faults = get_runtime(request).faults
    if faults.enabled:
        route = request.scope.get("route")
        template = getattr(route, "path", None)
        if isinstance(template, str):
            await faults.apply(template)


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]

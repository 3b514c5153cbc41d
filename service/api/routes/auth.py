"""Tokens: OAuth2 password flow for a pair, a refresh token for the next pair, logout.

Refresh tokens rotate: each is good for one refresh, which issues the next of its family (the
chain of one login). Presenting a used refresh token again means two parties hold it (a stolen
copy and its owner): the whole family is revoked and both must log in again. Logout revokes
the family and bumps the user's token version, which ends every session of the user at once,
access tokens included. Token responses carry ``Cache-Control: no-store``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.deps import RateLimited, RuntimeDep, SessionDep
from service.api.loginguard import request_client_ip
from service.api.routes._common import API_PREFIX, Responses
from service.api.runtime import Runtime
from service.api.security import AuthError
from service.data.models import RefreshToken, User, utcnow
from service.data.schemas import RefreshRequest, Role, TokenPair

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])

_UNAUTHORIZED: Responses = {401: {"description": "Wrong credentials or token."}}
_LOGIN: Responses = {
    **_UNAUTHORIZED,
    429: {"description": "Too many attempts for this username or client; see Retry-After."},
}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _no_store(response: Response) -> None:
    response.headers.update(_NO_STORE)


async def _issue(
    rt: Runtime, session: AsyncSession, user: User, family: str | None = None
) -> TokenPair:
    """A token pair for ``user`` (continuing ``family``), its refresh token recorded."""
    pair, grant = rt.tokens.issue(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        org_id=user.org_id,
        version=user.token_version,
        family=family,
    )
    session.add(
        RefreshToken(
            jti=grant.jti,
            family=grant.family,
            user_id=user.id,
            expires_at=datetime.fromtimestamp(grant.expires_at, UTC),
        )
    )
    await session.commit()
    return pair


@router.post("/token", response_model=TokenPair, responses=_LOGIN)
async def issue_token(
    request: Request,
    response: Response,
    rt: RuntimeDep,
    session: SessionDep,
    username: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    grant_type: Annotated[str | None, Form(pattern=r"^password$")] = None,
    scope: Annotated[str, Form(max_length=200)] = "",
) -> TokenPair:
    """Exchange username and password for an access and a refresh token."""
    _no_store(response)
    wait = await rt.login.admit(username, request_client_ip(request, rt.trusted_proxies))
    if wait > 0:
        rt.metrics.rate_limited.inc()
        raise RateLimited(wait)
    user = await session.scalar(select(User).where(User.username == username))
    ok = await rt.passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        await rt.login.failed(username)
        raise AuthError("incorrect username or password")
    await rt.login.succeeded(username)
    await session.execute(
        delete(RefreshToken).where(
            RefreshToken.user_id == user.id, RefreshToken.expires_at < utcnow()
        )
    )
    return await _issue(rt, session, user)


@router.post("/refresh", response_model=TokenPair, responses=_UNAUTHORIZED)
async def refresh_token(
    body: RefreshRequest, response: Response, rt: RuntimeDep, session: SessionDep
) -> TokenPair:
    """The next pair for an unused refresh token; the user's current role and status apply.
    A refresh token used twice revokes its family."""
    _no_store(response)
    claims = rt.tokens.decode(body.refresh_token, "refresh")
    # One UPDATE decides between concurrent refreshes with the same token: one wins.
    used = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == claims.jti, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if getattr(used, "rowcount", 0) != 1:
        await session.execute(delete(RefreshToken).where(RefreshToken.family == claims.family))
        await session.commit()
        raise AuthError("refresh token reused or revoked")
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active or user.token_version != claims.token_version:
        await session.commit()
        raise AuthError("user no longer active")
    return await _issue(rt, session, user, family=claims.family)


@router.post("/logout", status_code=204, response_class=Response, responses=_UNAUTHORIZED)
async def logout(body: RefreshRequest, rt: RuntimeDep, session: SessionDep) -> Response:
    """End every session of the refresh token's user: its refresh tokens and access tokens
    stop working at once."""
    claims = rt.tokens.decode(body.refresh_token, "refresh")
    await session.execute(delete(RefreshToken).where(RefreshToken.family == claims.family))
    user = await session.get(User, claims.user_id)
    if user is not None and user.token_version == claims.token_version:
        user.token_version += 1
    await session.commit()
    await rt.users.invalidate(claims.user_id)
    return Response(status_code=204, headers=_NO_STORE)

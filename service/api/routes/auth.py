"""Tokens: OAuth2 password flow for a pair, refresh token for a new pair."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy import select

from service.api.deps import RateLimited, RuntimeDep, SessionDep
from service.api.routes._common import API_PREFIX, Responses
from service.api.security import AuthError
from service.data.models import User
from service.data.schemas import RefreshRequest, Role, TokenPair

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])

_UNAUTHORIZED: Responses = {401: {"description": "Wrong credentials or token."}}


@router.post("/token", response_model=TokenPair, responses=_UNAUTHORIZED)
async def issue_token(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    username: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    grant_type: Annotated[str | None, Form(pattern=r"^password$")] = None,
    scope: Annotated[str, Form(max_length=200)] = "",
) -> TokenPair:
    """Exchange username and password for an access and a refresh token."""
    if rt.limiter.enabled:
        client = request.client.host if request.client else "unknown"
        decision = await rt.limiter.hit(f"login:{client}")
        if not decision.allowed:
            rt.metrics.rate_limited.inc()
            raise RateLimited(decision.retry_after)
    user = await session.scalar(select(User).where(User.username == username))
    ok = await rt.passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise AuthError("incorrect username or password")
    return rt.tokens.issue(user_id=user.id, username=user.username, role=Role(user.role))


@router.post("/refresh", response_model=TokenPair, responses=_UNAUTHORIZED)
async def refresh_token(body: RefreshRequest, rt: RuntimeDep, session: SessionDep) -> TokenPair:
    """A new pair for a valid refresh token; the user's current role and status apply."""
    claims = rt.tokens.decode(body.refresh_token, "refresh")
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise AuthError("user no longer active")
    return rt.tokens.issue(user_id=user.id, username=user.username, role=Role(user.role))

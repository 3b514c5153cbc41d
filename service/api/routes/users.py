"""User management (admins, of their own organisation) and the caller's own profile.

An admin sees and changes only the users of their organisation; another organisation's user
answers 404, as a missing one does, and a user an admin creates joins the admin's
organisation. Usernames are unique across organisations (a login names only the user), so
creating a user whose name another organisation took answers 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from sqlalchemy import select

from service.api.deps import Admin, PageDep, Reader, RuntimeDep, SessionDep
from service.api.routes._common import API_PREFIX, Responses, page_of
from service.api.tenancy import user_in
from service.data.models import User
from service.data.schemas import MAX_ID, Page, UserCreate, UserOut, UserUpdate

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"])

UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
_ERRORS: Responses = {401: {"description": "No valid token."}, 403: {"description": "Admins only."}}
_NOT_FOUND: Responses = {404: {"description": "No such user in the caller's organisation."}}


@router.get("/me", response_model=UserOut, responses=_ERRORS)
async def me(who: Reader, session: SessionDep) -> User:
    return await user_in(session, who.org_id, who.user_id)


@router.get("", response_model=Page[UserOut], responses=_ERRORS)
async def list_users(who: Admin, session: SessionDep, page: PageDep) -> Page[UserOut]:
    return await page_of(session, page, UserOut, User, User.org_id == who.org_id)


@router.post(
    "",
    response_model=UserOut,
    status_code=201,
    responses={**_ERRORS, 409: {"description": "Username taken."}},
)
async def create_user(body: UserCreate, who: Admin, rt: RuntimeDep, session: SessionDep) -> User:
    if await session.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise HTTPException(status_code=409, detail=f"user {body.username} exists")
    user = User(
        org_id=who.org_id,
        username=body.username,
        password_hash=await rt.passwords.hash(body.password),
        role=body.role.value,
        is_active=True,
    )
    session.add(user)
    await session.commit()
    return user


@router.get("/{user_id}", response_model=UserOut, responses={**_ERRORS, **_NOT_FOUND})
async def get_user(user_id: UserId, who: Admin, session: SessionDep) -> User:
    return await user_in(session, who.org_id, user_id)


@router.patch("/{user_id}", response_model=UserOut, responses={**_ERRORS, **_NOT_FOUND})
async def update_user(
    user_id: UserId, body: UserUpdate, who: Admin, rt: RuntimeDep, session: SessionDep
) -> User:
    user = await user_in(session, who.org_id, user_id)
    changed = False
    if body.password is not None:
        user.password_hash = await rt.passwords.hash(body.password)
        changed = True
    if body.role is not None and body.role.value != user.role:
        user.role = body.role.value
        changed = True
    if body.is_active is not None and body.is_active != user.is_active:
        user.is_active = body.is_active
        changed = True
    if changed:
        # Tokens issued before carry the old version: every one of them stops working now.
        user.token_version += 1
    await session.commit()
    await rt.users.invalidate(user_id)
    return user


@router.delete(
    "/{user_id}",
    status_code=204,
    response_class=Response,
    responses={**_ERRORS, **_NOT_FOUND, 409: {"description": "Cannot delete yourself."}},
)
async def delete_user(user_id: UserId, who: Admin, rt: RuntimeDep, session: SessionDep) -> Response:
    if user_id == who.user_id:
        raise HTTPException(status_code=409, detail="admins cannot delete themselves")
    user = await user_in(session, who.org_id, user_id)
    await session.delete(user)
    await session.commit()
    await rt.users.invalidate(user_id)
    return Response(status_code=204)

"""Organisations (tenants) and their first admins.

An organisation is created with its first admin, by whoever runs the service (there is no API
route for it: an API admin manages the users of their own organisation only). At startup the
bootstrap admin is created in ``AQUA_BOOTSTRAP_ADMIN_ORGANISATION`` (``default``, the
organisation the migration puts existing users and farms into)::

    python -m service.api add-organisation acme --admin ana --admin-password-file pw.txt

    created = await add_organisation(db, passwords, "acme", "ana", password)
    created.org_id, created.admin_id
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.security import Passwords
from service.api.settings import ApiSettings
from service.common.errors import RequestRejected
from service.data.db import Database
from service.data.models import Organisation, User
from service.data.schemas import Role

log = logging.getLogger("aqua.api.organisations")


class OrganisationConflict(RequestRejected):
    """The organisation or the admin's username exists already."""


@dataclass(frozen=True, slots=True)
class OrganisationCreated:
    org_id: int
    admin_id: int


async def organisation_id(session: AsyncSession, name: str, *, create: bool) -> int | None:
    """The id of the organisation called ``name``; created (in the session's transaction)
    when missing and ``create`` is true."""
    found = await session.scalar(select(Organisation.id).where(Organisation.name == name))
    if found is not None or not create:
        return found
    org = Organisation(name=name)
    session.add(org)
    await session.flush()
    return org.id


async def _add_admin(
    session: AsyncSession, passwords: Passwords, org_id: int, username: str, password: str
) -> User:
    user = User(
        org_id=org_id,
        username=username,
        password_hash=await passwords.hash(password),
        role=Role.admin.value,
        is_active=True,
    )
    session.add(user)
    await session.flush()
    return user


async def add_organisation(
    db: Database, passwords: Passwords, name: str, admin_username: str, admin_password: str
) -> OrganisationCreated:
    """A new organisation and its first admin, in one transaction;
    :class:`OrganisationConflict` if either name is taken."""
    async with db.session() as session:
        if await organisation_id(session, name, create=False) is not None:
            raise OrganisationConflict(f"organisation {name} exists")
        taken = await session.scalar(select(User.id).where(User.username == admin_username))
        if taken is not None:
            raise OrganisationConflict(f"user {admin_username} exists")
        try:
            org_id = await organisation_id(session, name, create=True)
            assert org_id is not None
            admin = await _add_admin(session, passwords, org_id, admin_username, admin_password)
            await session.commit()
        except IntegrityError as exc:  # created meanwhile by another process
            await session.rollback()
            raise OrganisationConflict(
                f"organisation {name} or user {admin_username} exists"
            ) from exc
        created = OrganisationCreated(org_id=org_id, admin_id=admin.id)
    log.info("organisation created", extra={"organisation": name, "username": admin_username})
    return created


async def bootstrap_admin(db: Database, settings: ApiSettings, passwords: Passwords) -> bool:
    """Create the configured admin (and its organisation) when no user of that name exists;
    True if created."""
    username = settings.bootstrap_admin_username
    password = settings.bootstrap_admin_password
    if not username or password is None:
        return False
    async with db.session() as session:
        existing = await session.scalar(select(User.id).where(User.username == username))
        if existing is not None:
            return False
        try:
            org_id = await organisation_id(
                session, settings.bootstrap_admin_organisation, create=True
            )
            assert org_id is not None
            await _add_admin(session, passwords, org_id, username, password.get_secret_value())
            await session.commit()
        except IntegrityError:  # another worker created it first
            await session.rollback()
            return False
    log.info(
        "bootstrap admin created",
        extra={"username": username, "organisation": settings.bootstrap_admin_organisation},
    )
    return True

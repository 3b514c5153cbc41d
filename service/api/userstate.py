"""The current state of the users tokens name: is the user still there, active, in that role,
and is the token's version still theirs? Which organisation do they belong to?

A token is valid until it expires, but the user behind it may be disabled, deleted, demoted or
have logged out since. Every authenticated request therefore checks the user's current state,
and that must stay cheap on the hot path. A lookup tries, in order:

1. this process's **local tier** (a dict, ``AQUA_AUTH_STATE_LOCAL_TTL_SECONDS``: this bounds how
   long another process's change can go unseen here);
2. **Redis** (``AQUA_AUTH_STATE_TTL_SECONDS``), shared by every process;
3. the database; the state is then stored in Redis and locally.

Every change of a user (role, status, password, deletion, logout) bumps its token version in
the database and then calls :meth:`UserStates.invalidate`, which drops the local copy and the
Redis entry at once. With Redis down every miss reads the database::

    state = await states.get(42)
    # UserState(active=True, role=Role.admin, token_version=3, org_id=1)
    principal = await states.current(principal)   # AuthError (401) when revoked
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace

from sqlalchemy import select

from service.api.security import SCOPES_BY_ROLE, AuthError, Principal
from service.api.softredis import RedisUnavailable, SoftRedis
from service.data.db import Database
from service.data.models import User
from service.data.schemas import Role

log = logging.getLogger("aqua.api.userstate")

KEY_PREFIX = "aqua:user-state:v2:"
LOCAL_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class UserState:
    active: bool
    role: Role
    token_version: int
    org_id: int

    def encode(self) -> str:
        return f"{int(self.active)}:{self.role.value}:{self.token_version}:{self.org_id}"

    @classmethod
    def decode(cls, raw: bytes | str) -> UserState | None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        active, _, rest = text.partition(":")
        role, _, rest = rest.partition(":")
        version, _, org = rest.partition(":")
        try:
            return cls(active == "1", Role(role), int(version), int(org))
        except ValueError:
            return None


class UserStates:
    def __init__(
        self, db: Database, redis: SoftRedis, *, ttl_seconds: int, local_ttl_seconds: float
    ) -> None:
        self._db = db
        self._redis = redis
        self.ttl_seconds = ttl_seconds
        self.local_ttl_seconds = local_ttl_seconds
        self._local: dict[int, tuple[UserState, float]] = {}

    @staticmethod
    def key(user_id: int) -> str:
        return f"{KEY_PREFIX}{user_id}"

    async def current(self, principal: Principal) -> Principal:
        """``principal`` as the user's current state allows it; :class:`AuthError` when the
        user is gone or disabled or the token's version is no longer theirs. The organisation
        is always the user's own (a token from before organisations carries none)."""
        state = await self.get(principal.user_id)
        if state is None or not state.active or state.token_version != principal.token_version:
            raise AuthError("token revoked")
        if state.org_id != principal.org_id:
            principal = replace(principal, org_id=state.org_id)
        if state.role is not principal.role:
            # A role change bumps the version; this only guards a state written without it.
            return replace(
                principal, role=state.role, scopes=principal.scopes & SCOPES_BY_ROLE[state.role]
            )
        return principal

    async def get(self, user_id: int) -> UserState | None:
        entry = self._local.get(user_id)
        if entry is not None:
            if time.monotonic() < entry[1]:
                return entry[0]
            del self._local[user_id]
        state = await self._from_redis(user_id)
        if state is None:
            state = await self._from_database(user_id)
            if state is None:
                return None
            with contextlib.suppress(RedisUnavailable):
                await self._redis.call(
                    lambda r: r.set(self.key(user_id), state.encode(), ex=self.ttl_seconds)
                )
        if self.local_ttl_seconds > 0:
            if len(self._local) >= LOCAL_MAX_ENTRIES:
                self._local.pop(next(iter(self._local)))
            self._local[user_id] = (state, time.monotonic() + self.local_ttl_seconds)
        return state

    async def invalidate(self, user_id: int) -> None:
        """Forget the user's state here and in Redis (call after committing the change)."""
        self._local.pop(user_id, None)
        try:
            await self._redis.call(lambda r: r.delete(self.key(user_id)))
        except RedisUnavailable as exc:
            if self._redis.configured:
                # Another process may keep the old state until the Redis entry expires.
                log.warning(
                    "user state not invalidated in redis",
                    extra={"user_id": user_id, "error": str(exc)},
                )

    async def _from_redis(self, user_id: int) -> UserState | None:
        if not self._redis.configured:
            return None
        try:
            raw = await self._redis.call(lambda r: r.get(self.key(user_id)))
        except RedisUnavailable:
            return None
        return None if raw is None else UserState.decode(raw)

    async def _from_database(self, user_id: int) -> UserState | None:
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(User.is_active, User.role, User.token_version, User.org_id).where(
                        User.id == user_id
                    )
                )
            ).first()
        if row is None:
            return None
        return UserState(bool(row[0]), Role(row[1]), int(row[2]), int(row[3]))

"""Passwords and tokens (the bootstrap admin lives in :mod:`service.api.organisations`).

Passwords are argon2id hashes, computed off the event loop. Tokens are HMAC-signed JWTs with
``exp``, ``iat``, ``sub`` (the user id), ``scopes`` and a ``typ`` of ``access`` or ``refresh``;
a refresh token is never accepted where an access token is expected::

    tokens = TokenService.from_settings(settings)
    pair, grant = tokens.issue(user_id=1, username="ana", role=Role.operator, org_id=1, version=0)
    tokens.decode(pair.access_token, "access").scopes   # frozenset({"read", "write"})

Roles map to scopes: viewers read, operators also write, admins also manage users and faults.
A token names the user's organisation (``org``): every farm-scoped query is filtered by it
(:mod:`service.api.tenancy`), and the user's current state confirms it on every request.
A token also carries the user's ``ver`` (token version) when issued; a token is only good while
it equals the user's current one (:mod:`service.api.userstate`), and a refresh token carries
its ``fam`` (family: one login's chain of refresh tokens), recorded by the caller from the
:class:`RefreshGrant` for rotation and reuse detection.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from typing import Literal

import anyio
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.api.settings import ApiSettings
from service.common.errors import RequestRejected
from service.data.schemas import Role, TokenPair

log = logging.getLogger("aqua.api.security")

TokenType = Literal["access", "refresh"]
VERIFIED_CACHE_SIZE = 4096

SCOPES_BY_ROLE: dict[Role, frozenset[str]] = {
    Role.viewer: frozenset({"read"}),
    Role.operator: frozenset({"read", "write"}),
    Role.admin: frozenset({"read", "write", "admin"}),
}


class AuthError(RequestRejected):
    """The credentials or token were not accepted (answered with 401)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: int
    username: str
    role: Role
    scopes: frozenset[str]
    org_id: int = 0
    token_version: int = 0
    jti: str = ""
    family: str = ""


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """What the database records of an issued refresh token."""

    jti: str
    family: str
    expires_at: float


class Passwords:
    """argon2id hashing with the configured cost, run in a worker thread."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verifying against this when the user does not exist keeps login timing uniform.
        self._dummy = self._hasher.hash(os.urandom(16).hex())

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> Passwords:
        return cls(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy, password) and (
                    password_hash is not None
                )
            except (VerificationError, InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(check)


class TokenService:
    """Issue and check the service's JWTs."""

    def __init__(
        self,
        secret: str,
        *,
        algorithm: str,
        issuer: str,
        audience: str,
        access_ttl: int,
        refresh_ttl: int,
    ) -> None:
        self._secret = secret
        self._algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._verified: dict[str, tuple[Principal, TokenType, float]] = {}

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> TokenService:
        return cls(
            settings.jwt_secret.get_secret_value(),
            algorithm=settings.jwt_algorithm,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl=settings.access_token_ttl_seconds,
            refresh_ttl=settings.refresh_token_ttl_seconds,
        )

    def encode(
        self,
        *,
        user_id: int,
        username: str,
        role: Role,
        typ: TokenType,
        ttl: int,
        org_id: int = 0,
        version: int = 0,
        family: str | None = None,
        jti: str | None = None,
        now: float | None = None,
    ) -> str:
        issued = int(now if now is not None else time.time())
        claims: dict[str, object] = {
            "sub": str(user_id),
            "name": username,
            "role": role.value,
            "scopes": sorted(SCOPES_BY_ROLE[role]),
            "typ": typ,
            "iat": issued,
            "exp": issued + ttl,
            "iss": self.issuer,
            "aud": self.audience,
            "jti": jti or os.urandom(12).hex(),
            "ver": version,
            "org": org_id,
        }
        if family is not None:
            claims["fam"] = family
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def issue(
        self,
        *,
        user_id: int,
        username: str,
        role: Role,
        org_id: int,
        version: int,
        family: str | None = None,
    ) -> tuple[TokenPair, RefreshGrant]:
        """An access and a refresh token; the refresh token starts a family or continues
        ``family``."""
        now = time.time()
        grant = RefreshGrant(
            jti=os.urandom(16).hex(),
            family=family or os.urandom(16).hex(),
            expires_at=int(now) + self.refresh_ttl,
        )
        # Both tokens carry the same user, organisation, token version and issue time.
        user = functools.partial(self.encode, user_id=user_id, username=username, role=role)
        encode = functools.partial(user, org_id=org_id, version=version, now=now)
        pair = TokenPair(
            access_token=encode(typ="access", ttl=self.access_ttl),
            refresh_token=encode(
                typ="refresh", ttl=self.refresh_ttl, family=grant.family, jti=grant.jti
            ),
            expires_in=self.access_ttl,
        )
        return pair, grant

    def decode(self, token: str, expected: TokenType) -> Principal:
        """Check signature, claims and type; raise :class:`AuthError` on any problem.

        A token already verified is remembered until it expires: the same bearer token
        arrives with every request of a client, and verifying it is a large share of the
        cost of a cached read.
        """
        cached = self._verified.get(token)
        if cached is not None:
            principal, typ, exp = cached
            if typ == expected and time.time() < exp:
                return principal
        principal, exp = self._verify(token, expected)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (principal, expected, exp)
        return principal

    def _verify(self, token: str, expected: TokenType) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "typ", "scopes", "ver", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("invalid token") from exc
        if claims.get("typ") != expected:
            raise AuthError(
                f"not an {expected} token" if expected == "access" else "not a refresh token"
            )
        try:
            role = Role(claims["role"])
            user_id = int(claims["sub"])
        except (KeyError, ValueError) as exc:
            raise AuthError("invalid token") from exc
        scopes = claims["scopes"]
        version = claims["ver"]
        family = claims.get("fam", "")
        # Tokens issued before organisations existed carry none: the user's state supplies it.
        org_id = claims.get("org", 0)
        if (
            not isinstance(scopes, list)
            or not all(isinstance(s, str) for s in scopes)
            or type(version) is not int
            or type(org_id) is not int
            or not isinstance(claims["jti"], str)
            or not isinstance(family, str)
            or (expected == "refresh" and not family)
        ):
            raise AuthError("invalid token")
        principal = Principal(
            user_id=user_id,
            username=str(claims.get("name", "")),
            role=role,
            scopes=frozenset(scopes) & SCOPES_BY_ROLE[role],
            org_id=org_id,
            token_version=version,
            jti=claims["jti"],
            family=family,
        )
        return principal, float(claims["exp"])

"""The edges of the service's tokens: the second they expire, the claims a token must carry in
their exact types, the identifiers of a refresh token and the verified-token cache's bound.

The token service is the contract here, so it is driven directly, on a clock the test sets:
both the service's own (its cache of verified tokens) and the JWT library's (``exp``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest
from api.api_harness import Clock, clock_of
from jwt import api_jwt

from service.api import security
from service.api.security import VERIFIED_CACHE_SIZE, AuthError, TokenService
from service.data.models import RefreshToken
from service.data.schemas import Role

SECRET = "token-edges-secret-" * 3


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = clock_of(security, monkeypatch, 1_900_000_000.0)

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: object = None) -> FrozenDatetime:
            return cls.fromtimestamp(fake.now, tz=UTC)

    monkeypatch.setattr(api_jwt, "datetime", FrozenDatetime)
    return fake


def _service() -> TokenService:
    return TokenService(
        SECRET,
        algorithm="HS256",
        issuer="aqua",
        audience="aqua-api",
        access_ttl=60,
        refresh_ttl=3600,
    )


def _claims(**changes: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "sub": "7",
        "name": "ana",
        "role": "operator",
        "scopes": ["read", "write"],
        "typ": "access",
        "iat": 1_900_000_000,
        "exp": 1_900_000_060,
        "iss": "aqua",
        "aud": "aqua-api",
        "jti": "a" * 24,
        "ver": 0,
        "org": 3,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, object]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_a_token_expires_at_its_exp_second_even_once_verified(clock: Clock) -> None:
    tokens = _service()
    pair, _ = tokens.issue(user_id=7, username="ana", role=Role.operator, org_id=3, version=0)
    clock.now += 59
    assert tokens.decode(pair.access_token, "access").user_id == 7  # verified and remembered
    clock.now += 1  # now == exp
    with pytest.raises(AuthError, match="token expired"):
        tokens.decode(pair.access_token, "access")


def test_a_remembered_token_is_not_taken_as_the_other_type(clock: Clock) -> None:
    tokens = _service()
    pair, _ = tokens.issue(user_id=7, username="ana", role=Role.operator, org_id=3, version=0)
    tokens.decode(pair.access_token, "access")
    with pytest.raises(AuthError, match=r"^not a refresh token$"):
        tokens.decode(pair.access_token, "refresh")
    tokens.decode(pair.refresh_token, "refresh")
    with pytest.raises(AuthError, match=r"^not an access token$"):
        tokens.decode(pair.refresh_token, "access")


def test_the_refresh_grant_matches_its_token_and_fills_the_columns(clock: Clock) -> None:
    tokens = _service()
    pair, grant = tokens.issue(user_id=7, username="ana", role=Role.admin, org_id=3, version=2)
    claims = jwt.decode(pair.refresh_token, options={"verify_signature": False})
    assert (claims["jti"], claims["fam"], claims["exp"]) == (
        grant.jti,
        grant.family,
        grant.expires_at,
    )
    assert grant.expires_at == int(clock.now) + 3600
    # 128 random bits each, in hex: exactly the width the database records.
    for value, column in ((grant.jti, RefreshToken.jti), (grant.family, RefreshToken.family)):
        assert len(value) == column.type.length
        int(value, 16)
    following, next_grant = tokens.issue(
        user_id=7, username="ana", role=Role.admin, org_id=3, version=2, family=grant.family
    )
    assert next_grant.family == grant.family
    assert next_grant.jti != grant.jti
    principal = tokens.decode(following.refresh_token, "refresh")
    assert (principal.family, principal.jti, principal.token_version) == (
        grant.family,
        next_grant.jti,
        2,
    )


@pytest.mark.parametrize(
    ("name", "changes", "expected"),
    [
        ("scopes not a list", {"scopes": "read write"}, "access"),
        ("a scope not a string", {"scopes": ["read", 1]}, "access"),
        ("version not an integer", {"ver": "0"}, "access"),
        ("version a boolean", {"ver": True}, "access"),
        ("organisation not an integer", {"org": "3"}, "access"),
        ("jti not a string", {"jti": 12}, "access"),
        ("family not a string", {"typ": "refresh", "fam": 5}, "refresh"),
        ("refresh without family", {"typ": "refresh"}, "refresh"),
        ("refresh with an empty family", {"typ": "refresh", "fam": ""}, "refresh"),
        ("unknown role", {"role": "root"}, "access"),
        ("subject not a number", {"sub": "ana"}, "access"),
    ],
)
def test_each_malformed_claim_alone_is_refused(
    clock: Clock, name: str, changes: dict[str, object], expected: security.TokenType
) -> None:
    with pytest.raises(AuthError, match=r"^invalid token$"):
        _service().decode(_sign(_claims(**changes)), expected)


def test_a_well_formed_token_is_accepted_and_an_old_one_has_no_organisation(clock: Clock) -> None:
    tokens = _service()
    principal = tokens.decode(_sign(_claims()), "access")
    assert (principal.user_id, principal.role, principal.org_id) == (7, Role.operator, 3)
    assert principal.scopes == frozenset({"read", "write"})
    # Tokens from before organisations: 0, for the user's state to fill in.
    assert tokens.decode(_sign(_claims(org=None, jti="b" * 24)), "access").org_id == 0
    refresh = tokens.decode(_sign(_claims(typ="refresh", fam="f" * 32)), "refresh")
    assert refresh.family == "f" * 32


def test_the_verified_token_cache_is_bounded(clock: Clock) -> None:
    tokens = _service()
    signed = [_sign(_claims(jti=f"{i:024x}")) for i in range(VERIFIED_CACHE_SIZE + 1)]
    for token in signed:
        tokens.decode(token, "access")
    assert len(tokens._verified) == VERIFIED_CACHE_SIZE
    assert signed[0] not in tokens._verified  # the oldest went first
    assert signed[-1] in tokens._verified

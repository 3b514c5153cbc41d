"""Every authenticated route of the OpenAPI document × every kind of token that must fail,
and another tenant's token (:mod:`api.tenant_matrix`: 404 as for a missing id).

The routes come from the app's own OpenAPI document, so a new route is covered without
editing this file. Each cell must answer 401 with ``WWW-Authenticate: Bearer``; a valid admin
token on the same request must not (the control that keeps the matrix honest). Bodies are
deliberately malformed: authentication runs before the body is read, so a bad body from a bad
caller is a 401, never a 422.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import jwt
import pytest
from api.api_harness import Api, running_api, settings_for
from api.tenant_matrix import Owned, other_tenant_failures, own_tenant_failures, seed_tenant_a

from service.data.schemas import Role

_PARAM = re.compile(r"\{[^}]+\}")


def _operations(api: Api) -> list[tuple[str, str]]:
    spec = api.client.get("/openapi.json").json()
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if op.get("security"):
                ops.append((method.upper(), _PARAM.sub("1", path)))
    return sorted(ops)


def _admin(api: Api, name: str) -> tuple[int, str]:
    r = api.client.post(
        "/api/v1/users",
        json={"username": name, "password": f"{name}-password-1", "role": "admin"},
        headers=api.auth(),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"]), api.login(name, f"{name}-password-1")["access_token"]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, dict[str, str]]]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('matrix') / 'api.sqlite3'}"
    settings = settings_for(url)
    with running_api(settings) as api:
        good = api.tokens["admin"]
        claims = jwt.decode(good, options={"verify_signature": False})
        tokens = api.app.state.runtime.tokens
        kinds = {
            "malformed": "abc.def.ghi",
            "wrong key": jwt.encode(claims, "another-key-of-enough-length-" * 3, "HS256"),
            "alg none": jwt.encode(claims, key=None, algorithm="none"),  # type: ignore[arg-type]
            "HS512": jwt.encode(claims, settings.jwt_secret.get_secret_value() * 2, "HS512"),
            "wrong audience": jwt.encode(
                {**claims, "aud": "someone-else"}, settings.jwt_secret.get_secret_value(), "HS256"
            ),
            "expired": tokens.encode(
                user_id=int(claims["sub"]),
                username="admin",
                role=Role.admin,
                typ="access",
                ttl=60,
                version=claims["ver"],
                now=time.time() - 3600,
            ),
            "refresh as access": api.login("admin", "admin-password-for-tests")["refresh_token"],
        }
        disabled, kinds["disabled"] = _admin(api, "disabled")
        deleted, kinds["deleted"] = _admin(api, "deleted")
        demoted, kinds["demoted"] = _admin(api, "demoted")
        h = api.auth()
        assert (
            api.client.patch(
                f"/api/v1/users/{disabled}", json={"is_active": False}, headers=h
            ).status_code
            == 200
        )
        assert api.client.delete(f"/api/v1/users/{deleted}", headers=h).status_code == 204
        assert (
            api.client.patch(
                f"/api/v1/users/{demoted}", json={"role": "viewer"}, headers=h
            ).status_code
            == 200
        )
        yield api, kinds


KINDS = [
    "none",
    "malformed",
    "wrong key",
    "alg none",
    "HS512",
    "wrong audience",
    "expired",
    "refresh as access",
    "disabled",
    "deleted",
    "demoted",
]


@pytest.mark.parametrize("kind", KINDS)
def test_every_route_refuses(matrix: tuple[Api, dict[str, str]], kind: str) -> None:
    api, kinds = matrix
    ops = _operations(api)
    assert len(ops) >= 25
    wrong = []
    for method, path in ops:
        headers = {"content-type": "application/json"}
        if kind != "none":
            headers["authorization"] = f"Bearer {kinds[kind]}"
        r = api.client.request(method, path, content=b"{not json", headers=headers)
        if r.status_code != 401 or r.headers.get("www-authenticate") != "Bearer":
            wrong.append(f"{method} {path}: {r.status_code} {r.text[:100]}")
    assert not wrong, "\n".join(wrong)


def test_a_valid_token_passes_every_route(matrix: tuple[Api, dict[str, str]]) -> None:
    api, _ = matrix
    for method, path in _operations(api):
        if method == "DELETE" and path.startswith("/api/v1/users/"):
            continue  # user 1 is the admin itself: 409, tested elsewhere
        r = api.client.request(
            method,
            path,
            content=b"{not json",
            headers={"content-type": "application/json", **api.auth()},
        )
        assert r.status_code != 401, (method, path, r.text)


@pytest.fixture(scope="module")
def tenants(matrix: tuple[Api, dict[str, str]]) -> tuple[Api, dict[str, str], Owned]:
    api, _ = matrix
    return api, api.add_organisation("tenant-b"), seed_tenant_a(api)


def test_other_tenant_column(tenants: tuple[Api, dict[str, str], Owned]) -> None:
    """Every route naming an object answers another tenant's id as a missing one (404, same
    body); every list leaves their objects out; the owner still gets past the lookup."""
    api, other, owned = tenants
    assert not other_tenant_failures(api, other["admin"], owned)
    assert not own_tenant_failures(api, api.tokens["admin"], owned)

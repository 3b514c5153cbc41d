"""Authentication and authorization: 401 for every kind of bad token, 403 for a wrong role."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from api.api_harness import ADMIN_PASSWORD, Api, settings_for
from pydantic import SecretStr, ValidationError

from service.api.security import TokenService
from service.api.settings import DEV_JWT_SECRET, ApiSettings
from service.data.schemas import Role

PROTECTED = [
    ("GET", "/api/v1/farms"),
    ("POST", "/api/v1/farms"),
    ("GET", "/api/v1/ponds/1"),
    ("GET", "/api/v1/ponds/1/summary"),
    ("POST", "/api/v1/ponds/1/readings"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/admin/faults"),
]


def _tokens(api: Api) -> TokenService:
    return api.app.state.runtime.tokens  # type: ignore[no-any-return]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_token_is_401(sqlite_api: Api, method: str, path: str) -> None:
    r = sqlite_api.client.request(method, path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_bad_signature_expired_and_wrong_type_are_401(api: Api) -> None:
    c = api.client
    good = api.tokens["admin"]
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-secret-" * 4, algorithm="HS256")
    expired = _tokens(api).encode(
        user_id=1,
        username="admin",
        role=Role.admin,
        typ="access",
        ttl=60,
        now=time.time() - 3600,
    )
    refresh = api.login("admin", ADMIN_PASSWORD)["refresh_token"]
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    cases = {
        "forged": forged,
        "expired": expired,
        "refresh-as-access": refresh,
        "alg-none": unsigned,
        "garbage": "abc.def.ghi",
    }
    for name, token in cases.items():
        r = c.get("/api/v1/farms", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
    r = c.get("/api/v1/farms", headers={"Authorization": f"Bearer {expired}"})
    assert r.json()["detail"] == "token expired"
    # An access token is no refresh token either.
    assert c.post("/api/v1/auth/refresh", json={"refresh_token": good}).status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(api: Api) -> None:
    c = api.client
    wrong = c.post("/api/v1/auth/token", data={"username": "admin", "password": "nope"})
    unknown = c.post("/api/v1/auth/token", data={"username": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_token_claims(api: Api) -> None:
    pair = api.login("operator", "operator-password-1")
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "sub", "scopes", "typ"} <= set(claims)
    assert claims["scopes"] == ["read", "write"]
    assert claims["exp"] - claims["iat"] == pair["expires_in"] == 900
    assert claims["typ"] == "access"


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("viewer", "POST", "/api/v1/farms", {"name": "x"}),
        ("viewer", "POST", "/api/v1/ponds/1/readings", {"readings": []}),
        ("operator", "GET", "/api/v1/users", None),
        ("operator", "POST", "/api/v1/users", {"username": "abc", "password": "x" * 12}),
        ("operator", "GET", "/api/v1/admin/faults", None),
        ("viewer", "DELETE", "/api/v1/admin/faults", None),
    ],
)
def test_wrong_role_is_403(
    api: Api, role: str, method: str, path: str, body: dict[str, object] | None
) -> None:
    r = api.client.request(method, path, json=body, headers=api.auth(role))
    assert r.status_code == 403
    assert "lacks scope" in r.json()["detail"]


def test_production_refuses_weak_secrets(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://aqua@db/aqua"
    with pytest.raises(ValidationError, match="development JWT secret"):
        ApiSettings(environment="production", database_url=url)
    with pytest.raises(ValidationError, match="at least 32"):
        ApiSettings(
            environment="production", database_url=url, jwt_secret=SecretStr("short-secret")
        )
    with pytest.raises(ValidationError, match="AQUA_DATABASE_URL"):
        ApiSettings(environment="production", jwt_secret=SecretStr("s" * 40))
    secret_file = tmp_path / "jwt"
    secret_file.write_text("f" * 48 + "\n")
    ok = ApiSettings(environment="production", database_url=url, jwt_secret_file=secret_file)
    assert ok.jwt_secret.get_secret_value() == "f" * 48
    # Development may keep the default, so local runs need no setup.
    assert ApiSettings().jwt_secret.get_secret_value() == DEV_JWT_SECRET


def test_bootstrap_admin_from_secret_file(tmp_path: Path, database_url: str) -> None:
    from api.api_harness import running_api

    pw = tmp_path / "admin-password"
    pw.write_text("from-a-mounted-secret\n")
    settings = settings_for(
        database_url, bootstrap_admin_password=None, bootstrap_admin_password_file=pw
    )
    with running_api(settings, users=False) as api:
        assert api.login("admin", "from-a-mounted-secret")["token_type"] == "bearer"


@pytest.mark.parametrize(
    ("username", "password", "status"),
    [
        ("a", "x", 401),  # the shortest allowed: checked, not refused as malformed
        ("a" * 64, "x" * 256, 401),  # the longest allowed (the username column's width)
        ("a" * 65, "x", 422),
        ("a", "x" * 257, 422),
        ("", "x", 422),
        ("a", "", 422),
        ("ana smith", "x", 422),
    ],
)
def test_login_form_lengths(sqlite_api: Api, username: str, password: str, status: int) -> None:
    r = sqlite_api.client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    assert r.status_code == status, r.text


def test_token_route_documents_its_refusals(sqlite_api: Api) -> None:
    paths = sqlite_api.client.get("/openapi.json").json()["paths"]
    assert {"401", "429"} <= set(paths["/api/v1/auth/token"]["post"]["responses"])
    assert "401" in paths["/api/v1/auth/refresh"]["post"]["responses"]
    assert "204" in paths["/api/v1/auth/logout"]["post"]["responses"]


def test_logout_with_a_stale_refresh_token_leaves_newer_sessions(sqlite_api: Api) -> None:
    c = sqlite_api.client
    first = sqlite_api.login("operator", "operator-password-1")
    second = sqlite_api.login("operator", "operator-password-1")
    logout = {"refresh_token": first["refresh_token"]}
    assert c.post("/api/v1/auth/logout", json=logout).status_code == 204  # ends both
    newer = sqlite_api.login("operator", "operator-password-1")
    # The second login's refresh token predates that logout: it ends nothing newer.
    stale = {"refresh_token": second["refresh_token"]}
    assert c.post("/api/v1/auth/logout", json=stale).status_code == 204
    bearer = {"Authorization": f"Bearer {newer['access_token']}"}
    assert c.get("/api/v1/farms", headers=bearer).status_code == 200


def test_a_valid_token_under_another_scheme_is_refused(sqlite_api: Api) -> None:
    token = sqlite_api.tokens["admin"]
    for header in (f"Token {token}", f"Basic {token}", "Bearer ", "Bearer", token):
        r = sqlite_api.client.get("/api/v1/farms", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.json()["detail"] == "missing bearer token", header
    assert sqlite_api.client.get("/api/v1/farms", headers=sqlite_api.auth()).status_code == 200

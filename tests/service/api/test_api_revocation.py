"""Tokens follow the user's current state; refresh tokens rotate; logins are limited.

Revocation runs with and without Redis (the shared tier of the user-state cache); the login
limits run in-process and, for the client IP, from behind a trusted proxy.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from api.api_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    PASSWORDS,
    Api,
    limited_client,
    running_api,
    settings_for,
)
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.loginguard import client_ip, parse_networks

FARMS = "/api/v1/farms"


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.integration)])
def api(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Api]:
    extra = {}
    if request.param == "redis":
        extra["redis_url"] = request.getfixturevalue("redis_url")
    with running_api(settings_for(sqlite_url, **extra)) as running:
        yield running


def _user_id(api: Api, name: str) -> int:
    me = api.client.get("/api/v1/users/me", headers=api.auth(name))
    assert me.status_code == 200, me.text
    return int(me.json()["id"])


@pytest.mark.parametrize(
    ("change", "role"),
    [
        ({"is_active": False}, "operator"),
        ({"role": "viewer"}, "operator"),
        ({"password": "a-brand-new-password"}, "viewer"),
        (None, "operator"),  # deleted
    ],
)
def test_a_changed_user_loses_access_at_once(
    api: Api, change: dict[str, object] | None, role: str
) -> None:
    c = api.client
    user_id = _user_id(api, role)  # the user's state is now cached
    assert c.get(FARMS, headers=api.auth(role)).status_code == 200
    if change is None:
        r = c.delete(f"/api/v1/users/{user_id}", headers=api.auth())
        assert r.status_code == 204
    else:
        r = c.patch(f"/api/v1/users/{user_id}", json=change, headers=api.auth())
        assert r.status_code == 200, r.text
    after = c.get(FARMS, headers=api.auth(role))
    assert after.status_code == 401
    assert after.json()["detail"] == "token revoked"


def test_a_demoted_admin_cannot_create_an_admin(api: Api) -> None:
    c = api.client
    r = c.post(
        "/api/v1/users",
        json={"username": "second", "password": "second-admin-pw", "role": "admin"},
        headers=api.auth(),
    )
    assert r.status_code == 201
    second = api.login("second", "second-admin-pw")["access_token"]
    as_second = {"Authorization": f"Bearer {second}"}
    demote = c.patch(f"/api/v1/users/{r.json()['id']}", json={"role": "viewer"}, headers=api.auth())
    assert demote.status_code == 200
    attempt = c.post(
        "/api/v1/users",
        json={"username": "third", "password": "third-admin-pw1", "role": "admin"},
        headers=as_second,
    )
    assert attempt.status_code == 401
    # A fresh login carries the new role: 403 now.
    fresh = api.login("second", "second-admin-pw")["access_token"]
    attempt = c.post(
        "/api/v1/users",
        json={"username": "third", "password": "third-admin-pw1", "role": "admin"},
        headers={"Authorization": f"Bearer {fresh}"},
    )
    assert attempt.status_code == 403


def test_an_unchanged_update_keeps_tokens(api: Api) -> None:
    user_id = _user_id(api, "operator")
    r = api.client.patch(f"/api/v1/users/{user_id}", json={"role": "operator"}, headers=api.auth())
    assert r.status_code == 200
    assert api.client.get(FARMS, headers=api.auth("operator")).status_code == 200


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(api: Api) -> None:
    c = api.client
    first = api.login("viewer", PASSWORDS["viewer"])
    r = c.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    # The first token again: a copy is in other hands. Both of the family stop working.
    reuse = c.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    again = c.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 401
    # Another login's family is untouched.
    other = api.login("viewer", PASSWORDS["viewer"])
    r = c.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 200


def test_logout_ends_every_session_of_the_user(api: Api) -> None:
    c = api.client
    one = api.login("operator", PASSWORDS["operator"])
    two = api.login("operator", PASSWORDS["operator"])
    assert (
        c.get(FARMS, headers={"Authorization": f"Bearer {one['access_token']}"}).status_code == 200
    )
    r = c.post("/api/v1/auth/logout", json={"refresh_token": one["refresh_token"]})
    assert r.status_code == 204
    for pair in (one, two):
        access = {"Authorization": f"Bearer {pair['access_token']}"}
        assert c.get(FARMS, headers=access).status_code == 401
        refreshed = c.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 401
    assert api.login("operator", PASSWORDS["operator"])["token_type"] == "bearer"
    bad = c.post("/api/v1/auth/logout", json={"refresh_token": one["access_token"]})
    assert bad.status_code == 401


def test_token_responses_are_not_stored(api: Api) -> None:
    r = api.client.post("/api/v1/auth/token", data={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"


def _login(c: TestClient, user: str, password: str = "wrong-password", **headers: str) -> int:
    r: httpx.Response = c.post(
        "/api/v1/auth/token", data={"username": user, "password": password}, headers=headers
    )
    if r.status_code == 429:
        assert int(r.headers["retry-after"]) >= 1
    return r.status_code


def test_login_limit_per_username(sqlite_url: str) -> None:
    with limited_client(sqlite_url, "192.0.2.1", login_limit_per_user=5) as c:
        codes = [_login(c, ADMIN, **{"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(8)]
        assert codes == [401] * 5 + [429] * 3
        # The right password does not lift it, and other usernames are not affected.
        assert _login(c, ADMIN, ADMIN_PASSWORD) == 429
        assert _login(c, "someone-else") == 401


def test_rotating_forwarded_for_from_an_untrusted_peer_is_one_client(sqlite_url: str) -> None:
    with limited_client(sqlite_url, "192.0.2.7", login_limit_per_ip=5) as c:
        codes = [
            _login(
                c, f"user{i}", **{"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"10.0.0.{i}"}
            )
            for i in range(8)
        ]
        assert codes == [401] * 5 + [429] * 3


def test_a_trusted_proxy_names_the_client(sqlite_url: str) -> None:
    with limited_client(
        sqlite_url, "127.0.0.1", login_limit_per_ip=3, trusted_proxies=["127.0.0.0/8"]
    ) as c:
        # The proxy appends the address it saw; what the client sent before it does not count.
        first = [
            _login(c, f"u{i}", **{"X-Forwarded-For": f"1.2.3.{i}, 203.0.113.9"}) for i in range(4)
        ]
        other = [_login(c, f"v{i}", **{"X-Forwarded-For": "203.0.113.10"}) for i in range(3)]
    assert first == [401, 401, 401, 429]
    assert other == [401, 401, 401]


def test_failed_logins_back_off_exponentially(sqlite_url: str) -> None:
    with limited_client(
        sqlite_url, "192.0.2.9", login_backoff_after=2, login_backoff_base_seconds=30
    ) as c:
        assert [_login(c, ADMIN) for _ in range(2)] == [401, 401]
        r = c.post("/api/v1/auth/token", data={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 30
        assert _login(c, "someone-else") == 401
    guard = create_app(
        settings_for(sqlite_url, login_backoff_after=2, login_backoff_base_seconds=1)
    ).state.runtime.login
    assert [guard._delay(n) for n in range(1, 7)] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert guard._delay(100) == guard.backoff_max


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("192.0.2.1", "203.0.113.5", "192.0.2.1"),  # untrusted peer: header ignored
        ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # only the proxy's own hop
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        ("testclient", "203.0.113.5", "testclient"),
    ],
)
def test_client_ip(peer: str, header: str | None, expected: str) -> None:
    assert client_ip(peer, header, parse_networks(["127.0.0.1/32", "::1"])) == expected

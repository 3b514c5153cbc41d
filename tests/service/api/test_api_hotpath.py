"""The summary hot path answers exactly as the route would: a differential test.

Two apps on one database and one Redis, one with the hot path and one without
(``summary_hot_path=False``), get the same requests: valid, expired, refresh-as-access, wrong
scheme, missing scope, rate-limited, unknown pond, another tenant's pond, odd paths. Every
answer must match in status, body and headers, and every counter must move by the same amount,
except
``summary_hot_path_answers_total``, which shows which path answered.
"""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from api.api_harness import ADMIN, Api, running_api, settings_for

from service.api.hotpath import SUMMARY_ROUTE
from service.api.settings import ApiSettings

SUMMARY = "/api/v1/ponds/{}/summary"
HOT = "summary_hot_path_answers_total"
LIMIT = 30
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _counters(api: Api) -> dict[str, float]:
    """Every counter sample (``*_total``, histogram ``*_count``) of the app's /metrics."""
    out: dict[str, float] = {}
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        metric = name.partition("{")[0]
        if metric.endswith(("_total", "_count")):
            out[name] = float(value)
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def _token(settings: ApiSettings, *, scopes: list[str], expires_in: int) -> str:
    now = int(time.time())
    claims = {
        "sub": "1",
        "role": "viewer",
        "scopes": scopes,
        "typ": "access",
        "iat": now - 3600,
        "exp": now + expires_in,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    secret = settings.jwt_secret.get_secret_value()
    return jwt.encode(claims, secret, algorithm=settings.jwt_algorithm)


def _same(label: str, hot: httpx.Response, route: httpx.Response) -> None:
    assert (hot.status_code, hot.content) == (route.status_code, route.content), label
    hot_headers = dict(hot.headers.multi_items())
    route_headers = dict(route.headers.multi_items())
    # The trace continues the caller's: same trace id, a new span id per request.
    for headers in (hot_headers, route_headers):
        assert headers.pop("traceparent").startswith(TRACE[:36]), label
    assert hot_headers == route_headers, label


def _at_start_of_a_second() -> None:
    """Retry-After counts whole seconds to the window's end: send a pair within one second."""
    deadline = time.monotonic() + 5
    while time.time() % 1 > 0.2:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _user(api: Api, name: str, role: str) -> str:
    password = f"{name}-password-1"
    r = api.client.post(
        "/api/v1/users",
        json={"username": name, "password": password, "role": role},
        headers=api.auth(),
    )
    assert r.status_code == 201, r.text
    return str(api.login(name, password)["access_token"])


def _cases(
    settings: ApiSettings, pond: int, tokens: dict[str, str]
) -> list[tuple[str, str, dict[str, str], bool]]:
    """(label, path, headers, answered by the hot path) for one side's own users."""
    url = SUMMARY.format(pond)

    def bearer(token: str, scheme: str = "Bearer") -> dict[str, str]:
        return {"Authorization": f"{scheme} {token}"}

    expired = _token(settings, scopes=["read"], expires_in=-600)
    no_scope = _token(settings, scopes=[], expires_in=600)
    admin = bearer(tokens["admin"])
    return [
        ("valid", url, bearer(tokens["viewer"]), True),
        ("lowercase scheme", url, bearer(tokens["viewer"], "bearer"), True),
        ("admin", url, admin, True),
        ("query string", url + "?x=1", bearer(tokens["viewer"]), True),
        ("no token", url, {}, False),
        ("wrong scheme", url, bearer(tokens["viewer"], "Basic"), False),
        ("empty bearer", url, {"Authorization": "Bearer "}, False),
        ("garbage token", url, bearer("nope"), False),
        ("refresh as access", url, bearer(tokens["refresh"]), False),
        ("expired", url, bearer(expired), False),
        ("missing scope", url, bearer(no_scope), False),
        ("unknown pond", SUMMARY.format(pond + 1000), admin, False),
        # Its summary is in the local tier, but under the pond's organisation, not the caller's.
        ("another tenant's pond", url, bearer(tokens["other tenant"]), False),
        ("padded id", f"/api/v1/ponds/0{pond}/summary", admin, False),
        ("pond zero", SUMMARY.format(0), admin, False),
        ("huge id", SUMMARY.format(10**30), admin, False),
        ("not a number", SUMMARY.format("x"), admin, False),
        ("trailing slash", url + "/", admin, False),
    ]


def _put_rule(api: Api, rule: dict[str, object], *others: Api) -> None:
    """Set a fault rule through ``api``; return once every app has it (synced via Redis)."""
    r = api.client.put("/api/v1/admin/faults", json=rule, headers=api.auth())
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 10
    for app in (api, *others):
        faults = app.app.state.runtime.faults
        while not faults.has_rule(str(rule["route"])):
            assert time.monotonic() < deadline, "the fault rule did not reach every app"
            time.sleep(0.02)


@pytest.mark.integration
@pytest.mark.parametrize("faults", [False, True], ids=["plain", "fault-injection-enabled"])
def test_hot_path_answers_exactly_as_the_route(
    sqlite_url: str, redis_url: str, faults: bool
) -> None:
    common = {
        "redis_url": redis_url,
        "cache_local_ttl_seconds": 60,
        "rate_limit_requests": LIMIT,
        "rate_limit_window_seconds": 86_400,
        "faults_enabled": faults,
        "faults_sync_seconds": 0.05,
    }
    hot_settings = settings_for(sqlite_url, **common)
    route_settings = settings_for(sqlite_url, summary_hot_path=False, **common)
    with running_api(hot_settings) as hot, running_api(route_settings, users=False) as route:
        pond = hot.pond(hot.farm())
        # Each side has its own users: rate-limit counts are per user, shared through Redis.
        tokens: dict[str, dict[str, str]] = {}
        other_tenant = hot.add_organisation("tenant-b")
        for side, api in (("hot", hot), ("route", route)):
            api.tokens[ADMIN] = hot.tokens[ADMIN]
            tokens[side] = {
                "admin": _user(api, f"{side}-admin", "admin"),
                "viewer": _user(api, f"{side}-viewer", "viewer"),
                "limited": _user(api, f"{side}-limited", "viewer"),
                "other tenant": other_tenant["viewer" if side == "hot" else "operator"],
            }
            tokens[side]["refresh"] = api.login(f"{side}-admin", f"{side}-admin-password-1")[
                "refresh_token"
            ]
        # The hot app computes the summary into Redis, the route app reads it from there: both
        # local tiers then hold the same bytes.
        for api in (hot, route):
            api.wait_local_tier()
            assert api.client.get(SUMMARY.format(pond), headers=api.auth()).status_code == 200
        assert hot.client.get(SUMMARY.format(pond), headers=hot.auth()).headers["x-cache"] == "hit"
        if faults:
            # A rule on another route leaves the summary's answer, and the hot path, as they are.
            _put_rule(hot, {"route": "/api/v1/farms", "error_rate": 1.0}, route)

        before = {"hot": _counters(hot), "route": _counters(route)}
        answered = 0
        paired = zip(
            _cases(hot_settings, pond, tokens["hot"]),
            _cases(route_settings, pond, tokens["route"]),
            strict=True,
        )
        for i, (on_hot, on_route) in enumerate(paired):
            label, shortcut = on_hot[0], on_hot[3]
            pair = [
                api.client.get(
                    path,
                    headers={**headers, "X-Request-ID": f"diff-{i}", "traceparent": TRACE},
                    follow_redirects=False,
                )
                for api, (_, path, headers, _) in ((hot, on_hot), (route, on_route))
            ]
            _same(label, *pair)
            answered += shortcut

        # Rate limited: the same count on each side; the last request is over the limit.
        for n in range(LIMIT + 1):
            if n == LIMIT:
                _at_start_of_a_second()
            pair = [
                api.client.get(
                    SUMMARY.format(pond),
                    headers={
                        "Authorization": f"Bearer {tokens[side]['limited']}",
                        "X-Request-ID": f"limit-{n}",
                        "traceparent": TRACE,
                    },
                )
                for side, api in (("hot", hot), ("route", route))
            ]
            _same(f"rate limit, request {n + 1}", *pair)
            assert pair[0].status_code == (200 if n < LIMIT else 429)
            answered += 1

        after = {"hot": _counters(hot), "route": _counters(route)}
        changed = {side: _delta(before[side], after[side]) for side in ("hot", "route")}
        assert changed["hot"].pop(HOT) == answered
        assert HOT not in changed["route"]
        assert changed["hot"] == changed["route"]
        assert changed["hot"]["rate_limited_requests_total"] == 1

        if faults:
            # A rule on the summary route: the route answers on both sides, with the fault.
            rule = {"route": SUMMARY_ROUTE, "error_rate": 1.0, "error_status": 503}
            _put_rule(hot, rule, route)
            before_hot = _counters(hot).get(HOT, 0.0)
            headers = {**hot.auth(), "X-Request-ID": "faulted", "traceparent": TRACE}
            pair = [api.client.get(SUMMARY.format(pond), headers=headers) for api in (hot, route)]
            _same("faulted summary", *pair)
            assert pair[0].status_code == 503
            assert _counters(hot).get(HOT, 0.0) == before_hot


@pytest.mark.integration
def test_without_the_hot_path_the_route_answers_local_hits(sqlite_url: str, redis_url: str) -> None:
    settings = settings_for(
        sqlite_url, redis_url=redis_url, cache_local_ttl_seconds=60, summary_hot_path=False
    )
    with running_api(settings) as api:
        pond = api.pond(api.farm())
        api.wait_local_tier()
        h = api.auth("viewer")
        for _ in range(3):
            assert api.client.get(SUMMARY.format(pond), headers=h).status_code == 200
        counters = _counters(api)
        assert counters.get(HOT, 0.0) == 0.0
        assert counters['cache_hits_total{cache="pond_summary_local"}'] >= 1

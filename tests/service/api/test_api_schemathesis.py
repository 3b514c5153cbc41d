"""Property-based requests generated from the OpenAPI document, with an admin token, against a
real server on PostgreSQL and Redis: no request may produce a 5xx, every status must be
documented for its operation, and every response must match its documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from api.api_harness import ApiProcess, create_pg_database, harness_fixture
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [
    pytest.mark.integration,
    # Schemathesis' own strategies draw from the `random` module; Hypothesis warns about it
    # once per process, on whichever example meets it first, and the suite's warnings-as-errors
    # turned that one example into a failure that did not repeat (a "flaky" report).
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

# Bounded so the whole run stays well under a minute on two cores.
EXAMPLES_PER_OPERATION = 20


@pytest.fixture(scope="module")
def live_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    import redis

    pg = harness_fixture(request, "postgres_server")
    redis_server = harness_fixture(request, "redis_server")
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/7"  # a database of its own
    redis.Redis.from_url(redis_url).flushdb()
    workdir: Path = tmp_path_factory.mktemp("schemathesis-api")
    api = ApiProcess(
        workdir,
        {
            "AQUA_DATABASE_URL": create_pg_database(pg.url),
            "AQUA_REDIS_URL": redis_url,
            "AQUA_ACCESS_LOG": "false",
            # No AQUA_QUEUE: the default without a broker (the in-process queue) must not 5xx.
            "AQUA_DRAIN_SECONDS": "0",
        },
    ).start()
    try:
        token = api.token()
        h = {"Authorization": f"Bearer {token}"}
        farm = httpx.post(f"{api.base_url}/api/v1/farms", json={"name": "seed"}, headers=h)
        httpx.post(
            f"{api.base_url}/api/v1/ponds",
            json={
                "farm_id": farm.json()["id"],
                "name": "seed",
                "species": "nile_tilapia",
                "area_m2": 100.0,
                "depth_m": 1.0,
            },
            headers=h,
        ).raise_for_status()
        yield api
    finally:
        api.stop()
    assert "unhandled error" not in api.log_tail(100_000)


@pytest.fixture(scope="module")
def api_schema(live_api: ApiProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_api.base_url}/openapi.json")


@pytest.fixture(scope="module")
def admin_headers(live_api: ApiProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {live_api.token()}"}


def _not_on_the_admin(case: schemathesis.Case[Any]) -> bool:
    return not (
        case.method.upper() == "PATCH"
        and case.path == "/api/v1/users/{user_id}"
        and (case.path_parameters or {}).get("user_id") == 1
    )


def _describe(exc: BaseException) -> str:
    """The failure with what it wraps: hypothesis reports a flaky example as a group whose
    members hold the real error (a status, a schema mismatch, a timeout)."""
    lines = [f"{type(exc).__name__}: {exc}"]
    for inner in getattr(exc, "exceptions", ()):
        lines.append("  " + _describe(inner).replace("\n", "\n  "))
    return "\n".join(lines)


def test_no_server_errors(
    api_schema: schemathesis.BaseSchema, admin_headers: dict[str, str]
) -> None:
    # Driven with hypothesis directly: schemathesis' pytest plugin does not run under pytest 9.
    failures: dict[str, str] = {}
    operations = 0
    calls = 0
    for result in api_schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        operations += 1

        # A change to the admin itself (role, status, password) revokes the token every
        # later request uses: those cases would turn the rest of the run into 401s.
        @given(case=operation.as_strategy().filter(_not_on_the_admin))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def check(case: schemathesis.Case[Any]) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=admin_headers, timeout=10)
            case.validate_response(
                response,
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
                headers=admin_headers,
            )

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[operation.label] = _describe(exc)[:4000]
    assert operations >= 25
    assert calls >= 10 * operations, "hypothesis generated fewer requests than expected"
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())

"""Fixtures of the API service tests.

Layers by lifetime: the database servers come from the session fixtures of tests/conftest.py
(``postgres_server``, ``redis_server``); each test gets its own database (a fresh SQLite file
or a fresh PostgreSQL database) and its own app, so tests run in parallel safely. Helpers that
tests import live in ``api_harness``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sre_cli.infra.redis import RedisServer

# With tests/ on sys.path, ``service`` would resolve to the namespace package tests/service
# (it comes first and the real package is only found through the editable-install finder,
# which is consulted last). Put the repository root first and drop such a namespace import.
_ROOT = str(Path(__file__).resolve().parents[3])
if sys.path[:1] != [_ROOT]:
    sys.path.insert(0, _ROOT)
if getattr(sys.modules.get("service"), "__file__", "") is None:
    for _name in [n for n in sys.modules if n == "service" or n.startswith("service.")]:
        del sys.modules[_name]

from api.api_harness import (  # noqa: E402 - after the path fix above
    Api,
    create_pg_database,
    harness_fixture,
    running_api,
    settings_for,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database per test, on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'api.sqlite3'}"
    server = harness_fixture(request, "postgres_server")
    return create_pg_database(server.url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'api.sqlite3'}"


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(settings_for(database_url)) as running:
        yield running


@pytest.fixture
def sqlite_api(sqlite_url: str) -> Iterator[Api]:
    with running_api(settings_for(sqlite_url)) as running:
        yield running


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """The session Redis, emptied: tests of one xdist worker share it one after another."""
    import redis

    server = harness_fixture(request, "redis_server")
    client = redis.Redis.from_url(server.url)
    try:
        client.flushdb()
    finally:
        client.close()
    return str(server.url)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test alone, on a port of its own, so that the test can stop it and
    start it again at the same address."""
    from sre_cli.infra.process import free_port
    from sre_cli.infra.redis import RedisServer

    with RedisServer(tmp_path / "redis", port=free_port()) as redis:
        yield redis

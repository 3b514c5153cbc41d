"""Fixtures of the API service tests.

Layers by lifetime: the database servers come from the session fixtures of tests/conftest.py
(``postgres_server``, ``redis_server``); each test gets its own database (a fresh SQLite file
or a fresh PostgreSQL database) and its own app, so tests run in parallel safely. Helpers that
tests import live in ``api_harness``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import Api, create_pg_database, harness_fixture, running_api, settings_for


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

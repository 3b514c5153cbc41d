"""``/ready`` against the schema: an older one than this code's migrations (the pod started
before its migration ran) keeps the instance out of the load balancer; a newer one (a later
release migrated first: expand/contract) does not, so the running release keeps serving."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from api.api_harness import running_api, settings_for
from sqlalchemy.ext.asyncio import create_async_engine

from service.data import migrate


def _set_revision(database_url: str, revision: str | None) -> None:
    """Migrate to ``revision`` (a known one), or stamp an unknown later one by hand."""

    async def run() -> None:
        engine = create_async_engine(database_url)
        try:
            await migrate.upgrade(engine)
            if revision is None or revision == migrate.head():
                return
            if migrate.schema_state(revision).state == "older":
                await migrate.downgrade(engine, revision)
            else:
                async with engine.begin() as conn:
                    await conn.execute(
                        sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
                    )
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_schema_states() -> None:
    head = migrate.head()
    assert migrate.schema_state(head).state == "current"
    assert migrate.schema_state("0001").state == "older"
    assert migrate.schema_state(None).state == "empty"
    assert migrate.schema_state("9001_from_a_later_release").state == "newer"
    assert [migrate.schema_state(r).serves for r in (head, "0001", None, "9001")] == [
        True,
        False,
        False,
        True,
    ]


def test_ready_refuses_an_older_schema_and_says_which_revision_it_needs(
    database_url: str,
) -> None:
    _set_revision(database_url, "0003")
    settings = settings_for(database_url, db_migrate_on_start=False, bootstrap_admin_username=None)
    with running_api(settings, users=False) as api:
        ready = api.client.get("/ready")
        assert ready.status_code == 503, ready.text
        check = ready.json()["checks"]["schema"]
        assert check["status"] == "down"
        assert f"schema at 0003, this version needs {migrate.head()}" in check["error"]
        assert api.client.get("/live").status_code == 200


def test_ready_serves_with_a_newer_schema(database_url: str) -> None:
    _set_revision(database_url, "9001_from_a_later_release")
    settings = settings_for(database_url, db_migrate_on_start=False, bootstrap_admin_username=None)
    with running_api(settings, users=False) as api:
        ready = api.client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["schema"]["status"] == "up"


def test_upgrading_over_a_newer_schema_leaves_it_alone(database_url: str) -> None:
    """A pod of the previous release starting again (a rollback) must not fail its migration."""
    _set_revision(database_url, "9001_from_a_later_release")

    async def run() -> str | None:
        engine = create_async_engine(database_url)
        try:
            await migrate.upgrade(engine)
            return await migrate.current(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == "9001_from_a_later_release"

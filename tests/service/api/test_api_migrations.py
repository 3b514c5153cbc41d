"""Migrations upgrade and downgrade cleanly and match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from service.data import migrate
from service.data.models import Base


def _schema(conn: Connection) -> dict[str, object]:
    insp = inspect(conn)
    tables = set(insp.get_table_names()) - {"alembic_version"}
    readings = {
        "pk": insp.get_pk_constraint("readings")["constrained_columns"]
        if "readings" in tables
        else None,
        "indexes": {i["name"]: i["column_names"] for i in insp.get_indexes("readings")}
        if "readings" in tables
        else {},
    }
    diff = compare_metadata(
        MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
    )
    return {"tables": tables, "readings": readings, "diff": diff}


def test_upgrade_downgrade_roundtrip(database_url: str) -> None:
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()

    async def run() -> list[dict[str, object]]:
        engine = create_async_engine(database_url)
        seen = []
        try:
            for step in ("upgrade", "downgrade", "upgrade"):
                if step == "upgrade":
                    await migrate.upgrade(engine)
                    assert await migrate.current(engine) == head
                else:
                    await migrate.downgrade(engine, "base")
                    assert await migrate.current(engine) is None
                async with engine.connect() as conn:
                    seen.append(await conn.run_sync(_schema))
        finally:
            await engine.dispose()
        return seen

    up, down, again = asyncio.run(run())
    assert {"users", "farms", "ponds", "readings"} <= up["tables"]  # type: ignore[operator]
    assert up["diff"] == [], "models and migrations disagree"
    readings = up["readings"]
    assert readings["pk"] == ["pond_id", "sensor", "ts"]  # type: ignore[index]
    assert readings["indexes"]["ix_readings_pond_ts"] == ["pond_id", "ts"]  # type: ignore[index]
    assert down["tables"] == set()
    assert again == up

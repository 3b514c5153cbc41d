"""Migrations upgrade and downgrade cleanly and match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from service.data import migrate
from service.data.models import Base, UTCDateTime


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


def _tables() -> dict[str, sa.TableClause]:
    """The tables as revision 0003 had them (only the columns these tests write)."""

    def stamps() -> tuple[sa.ColumnClause[object], ...]:
        return (sa.column("created_at", UTCDateTime()), sa.column("updated_at", UTCDateTime()))

    return {
        "users": sa.table(
            "users",
            sa.column("id"),
            sa.column("username"),
            sa.column("password_hash"),
            sa.column("role"),
            sa.column("is_active"),
            sa.column("token_version"),
            *stamps(),
        ),
        "farms": sa.table(
            "farms", sa.column("id"), sa.column("name"), sa.column("timezone"), *stamps()
        ),
        "ponds": sa.table(
            "ponds",
            sa.column("id"),
            sa.column("farm_id"),
            sa.column("name"),
            sa.column("species"),
            sa.column("area_m2"),
            sa.column("depth_m"),
            sa.column("stock_count"),
            *stamps(),
        ),
        "readings": sa.table(
            "readings",
            sa.column("pond_id"),
            sa.column("sensor"),
            sa.column("ts", UTCDateTime()),
            sa.column("value"),
        ),
        "refresh_tokens": sa.table(
            "refresh_tokens",
            sa.column("jti"),
            sa.column("family"),
            sa.column("user_id"),
            sa.column("expires_at", UTCDateTime()),
        ),
    }


def _count(conn: Connection, table: str) -> int:
    return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_upgrade_with_data_moves_it_into_the_default_organisation(database_url: str) -> None:
    """From the revision before organisations, with users, farms, ponds, readings and refresh
    tokens in it: nothing is lost (no cascade from a rebuilt table), every user and farm is in
    the default organisation, the columns are NOT NULL; the downgrade keeps the rows too."""
    now = datetime.now(UTC).replace(microsecond=0)
    t = _tables()

    def fill(conn: Connection) -> None:
        conn.execute(
            t["users"].insert(),
            [
                {"id": i, "username": f"u{i}", "password_hash": "x", "role": "admin",
                 "is_active": True, "token_version": 0, "created_at": now, "updated_at": now}
                for i in (1, 2)
            ],
        )  # fmt: skip
        conn.execute(
            t["farms"].insert(),
            [{"id": i, "name": f"F{i}", "timezone": "UTC", "created_at": now, "updated_at": now}
             for i in (1, 2)],
        )  # fmt: skip
        conn.execute(
            t["ponds"].insert(),
            [{"id": i, "farm_id": 1 + i % 2, "name": f"P{i}", "species": "nile_tilapia",
              "area_m2": 100.0, "depth_m": 1.0, "stock_count": 5, "created_at": now,
              "updated_at": now} for i in (1, 2, 3)],
        )  # fmt: skip
        conn.execute(
            t["readings"].insert(),
            [{"pond_id": p, "sensor": "temperature", "ts": now, "value": 28.0} for p in (1, 2, 3)],
        )
        conn.execute(
            t["refresh_tokens"].insert(),
            [{"jti": "a" * 32, "family": "b" * 32, "user_id": 1, "expires_at": now}],
        )

    def state(conn: Connection) -> dict[str, object]:
        counts = {n: _count(conn, n) for n in ("users", "farms", "ponds", "readings")}
        counts["refresh_tokens"] = _count(conn, "refresh_tokens")
        insp = inspect(conn)
        out: dict[str, object] = {"counts": counts}
        if "organisations" in insp.get_table_names():
            out["orgs"] = conn.execute(sa.text("SELECT id, name FROM organisations")).all()
            out["owners"] = {
                table: conn.execute(sa.text(f"SELECT DISTINCT org_id FROM {table}")).all()
                for table in ("users", "farms")
            }
            out["nullable"] = {
                table: next(c["nullable"] for c in insp.get_columns(table) if c["name"] == "org_id")
                for table in ("users", "farms")
            }
            out["fks"] = {
                table: [fk["referred_table"] for fk in insp.get_foreign_keys(table)]
                for table in ("users", "farms")
            }
            out["diff"] = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        return out

    async def run() -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
        engine = create_async_engine(database_url)
        try:
            await migrate.upgrade(engine, "0003")
            async with engine.begin() as conn:
                await conn.run_sync(fill)
                before = await conn.run_sync(state)
            await migrate.upgrade(engine)
            async with engine.connect() as conn:
                after = await conn.run_sync(state)
            await migrate.downgrade(engine, "0003")
            assert await migrate.current(engine) == "0003"
            async with engine.connect() as conn:
                down = await conn.run_sync(state)
        finally:
            await engine.dispose()
        return before, after, down

    before, after, down = asyncio.run(run())
    counts = {"users": 2, "farms": 2, "ponds": 3, "readings": 3, "refresh_tokens": 1}
    assert before["counts"] == counts
    assert after["counts"] == counts, "rows lost by the upgrade"
    orgs = after["orgs"]
    assert [name for _, name in orgs] == ["default"]  # type: ignore[attr-defined]
    default_id = orgs[0][0]  # type: ignore[index]
    assert after["owners"] == {"users": [(default_id,)], "farms": [(default_id,)]}
    assert after["nullable"] == {"users": False, "farms": False}
    assert after["fks"] == {"users": ["organisations"], "farms": ["organisations"]}
    assert after["diff"] == []
    assert down["counts"] == counts, "rows lost by the downgrade"
    assert "orgs" not in down


def test_upgrade_of_an_empty_database_creates_no_organisation(database_url: str) -> None:
    async def run() -> int:
        engine = create_async_engine(database_url)
        try:
            await migrate.upgrade(engine)
            async with engine.connect() as conn:
                return await conn.run_sync(lambda c: _count(c, "organisations"))
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == 0

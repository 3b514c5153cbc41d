"""Schema migrations (Alembic), configured in code rather than an alembic.ini.

Run them from the command line (``python -m service.api migrate``) or from async code on an
engine the service already has::

    await upgrade(engine)            # to head
    await downgrade(engine, "base")

On PostgreSQL the migration transaction takes an advisory lock, so replicas starting together
apply each revision once. On SQLite, foreign keys are off while migrations run: a batch
migration rebuilds a table (copy, drop, rename), and with foreign keys on, dropping the old
table would delete the rows that reference it (``ON DELETE CASCADE``). They are checked
before the migration commits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class ForeignKeyViolation(RuntimeError):
    """A migration left rows whose foreign key points nowhere (SQLite; rolled back)."""


async def _migrate(engine: AsyncEngine, step: Callable[[Connection], None]) -> None:
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            async with conn.begin():
                await conn.run_sync(step)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise ForeignKeyViolation(f"foreign keys broken by the migration: {broken}")
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await _migrate(engine, lambda sync: command.downgrade(alembic_config(sync), revision))


async def current(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )

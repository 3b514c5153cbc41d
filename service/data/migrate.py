"""Schema migrations (Alembic), configured in code rather than an alembic.ini.

Run them from the command line (``python -m service.api migrate``) or from async code on an
engine the service already has::

    await upgrade(engine)            # to head
    await downgrade(engine, "base")
    (await status(engine)).serves    # the schema is this code's head, or newer

On PostgreSQL the migration transaction takes an advisory lock, so replicas starting together
apply each revision once. On SQLite, foreign keys are off while migrations run: a batch
migration rebuilds a table (copy, drop, rename), and with foreign keys on, dropping the old
table would delete the rows that reference it (``ON DELETE CASCADE``). They are checked
before the migration commits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
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
    """Upgrade to ``revision``; to ``head`` over a newer schema (a later release migrated, and
    this one starts again: a rollback, a restarted pod) it leaves the schema alone."""
    if revision == "head" and (await status(engine)).state == "newer":
        return
    await _migrate(engine, lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await _migrate(engine, lambda sync: command.downgrade(alembic_config(sync), revision))


async def current(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


SchemaState = Literal["current", "newer", "older", "empty"]


@dataclass(frozen=True)
class SchemaStatus:
    """The database's revision against the one this code needs (its head).

    ``newer``: a revision this code does not know, so a later release migrated (expand/
    contract: a release only adds what the one before can ignore, so this one keeps serving);
    ``older`` or ``empty``: the schema lacks what this code needs, it must not serve.
    """

    current: str | None
    head: str
    state: SchemaState

    @property
    def serves(self) -> bool:
        return self.state in ("current", "newer")


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The revision this code's migrations end at."""
    found = _scripts().get_current_head()
    if found is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return found


def schema_state(current: str | None) -> SchemaStatus:
    target = head()
    if current is None:
        return SchemaStatus(None, target, "empty")
    if current == target:
        return SchemaStatus(current, target, "current")
    known = {r.revision for r in _scripts().walk_revisions()}
    return SchemaStatus(current, target, "older" if current in known else "newer")


async def status(engine: AsyncEngine) -> SchemaStatus:
    """Where the database stands against this code (one ``SELECT`` of alembic_version)."""
    return schema_state(await current(engine))

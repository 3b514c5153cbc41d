"""Alembic environment: always runs on a connection handed over by service.data.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from service.data.models import Base

# Arbitrary constant identifying the migration lock among other advisory locks.
_ADVISORY_LOCK_ID = 0x6171756D6967


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError(
        "run migrations through service.data.migrate (python -m service.api migrate)"
    )
run(_connection)

"""Ingestion of sensor readings behind a small seam.

The API hands batches to a :class:`ReadingsSink`. Today the sink writes to the database
directly; a queue-backed sink (publish now, a consumer stores later) fits the same protocol,
and its consumer reuses :func:`upsert_readings` so both paths store identically.

Readings are keyed by (pond, sensor, ts): writing the same key again updates the value, so a
retried or replayed batch is harmless::

    sink = DatabaseReadingsSink(db, on_written=cache.invalidate)
    await sink.write(org_id, pond_id, batch.readings)   # IngestResult(accepted=..., durable=True)

The caller has checked that the pond belongs to ``org_id``; the organisation travels with the
batch so that what is invalidated (and, through a queue, what the worker checks) names it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from service.data.db import Database
from service.data.models import Reading
from service.data.schemas import IngestResult, ReadingIn


class ReadingsSink(Protocol):
    """Where accepted readings go."""

    async def write(
        self, org_id: int, pond_id: int, readings: Sequence[ReadingIn]
    ) -> IngestResult: ...


def _rows(pond_id: int, readings: Sequence[ReadingIn]) -> list[dict[str, Any]]:
    # Last one wins for a repeated key: one statement must not touch a row twice.
    latest: dict[tuple[str, object], float] = {}
    for r in readings:
        latest[(r.sensor.value, r.ts)] = r.value
    return [
        {"pond_id": pond_id, "sensor": sensor, "ts": ts, "value": value}
        for (sensor, ts), value in latest.items()
    ]


async def upsert_readings(
    conn: AsyncSession | AsyncConnection, pond_id: int, readings: Sequence[ReadingIn]
) -> int:
    """Insert or update readings of one pond; returns the number of distinct keys written.

    The caller owns the transaction (commit or roll back).
    """
    rows = _rows(pond_id, readings)
    if not rows:
        return 0
    bind = conn.get_bind() if isinstance(conn, AsyncSession) else conn
    dialect = bind.dialect.name
    table = Reading.__table__
    assert isinstance(table, Table)
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        stmt: Any = pg.on_conflict_do_update(
            index_elements=["pond_id", "sensor", "ts"], set_={"value": pg.excluded.value}
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(table)
        stmt = lite.on_conflict_do_update(
            index_elements=["pond_id", "sensor", "ts"], set_={"value": lite.excluded.value}
        )
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(f"no upsert for {dialect}")
    await conn.execute(stmt, rows)
    return len(rows)


class DatabaseReadingsSink:
    """Store each batch in one transaction, then tell ``on_written`` (cache invalidation)."""

    def __init__(
        self, db: Database, on_written: Callable[[int, int], Awaitable[None]] | None = None
    ) -> None:
        self._db = db
        self._on_written = on_written

    async def write(self, org_id: int, pond_id: int, readings: Sequence[ReadingIn]) -> IngestResult:
        async with self._db.session() as session:
            accepted = await upsert_readings(session, pond_id, readings)
            await session.commit()
        if self._on_written is not None:
            await self._on_written(org_id, pond_id)
        return IngestResult(pond_id=pond_id, accepted=accepted, durable=True)

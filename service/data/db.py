"""The database: one async engine with its pool, sessions, a probe, and outage detection.

PostgreSQL (asyncpg) in production; an embedded SQLite file (aiosqlite) when no URL is set.
Pool settings come from any :class:`DatabaseSettings` (the API's settings are one)::

    db = Database.from_settings(settings)
    async with db.session() as session:
        await session.execute(select(Farm))
    await db.dispose()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool, StaticPool

from service.common.errors import DependencyUnavailable

# asyncpg errors meaning "the server went away", which SQLAlchemy may pass through unwrapped.
_DISCONNECT_NAMES = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "CannotConnectNowError",
        "CrashShutdownError",
        "InterfaceError",
        "TooManyConnectionsError",
    }
)


class DatabaseSettings(Protocol):
    """The settings a :class:`Database` is built from."""

    @property
    def effective_database_url(self) -> str: ...
    @property
    def service_name(self) -> str: ...

    db_pool_size: int
    db_max_overflow: int
    db_pool_pre_ping: bool
    db_pool_recycle_seconds: int
    db_pool_timeout_seconds: float
    db_connect_timeout_seconds: float


class DatabaseUnavailable(DependencyUnavailable):
    """The database did not answer; callers answer 503 and retry later."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    size: int
    checked_out: int
    overflow: int
    idle: int


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database is unreachable rather than the query is wrong."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseUnavailable | PoolTimeoutError | OSError | TimeoutError):
            return True
        if isinstance(current, OperationalError | InterfaceError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if type(current).__name__ in _DISCONNECT_NAMES:
            return True
        orig = getattr(current, "orig", None)
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )
    return False


class Database:
    """Engine, session factory and health probe of one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Database:
        url = make_url(settings.effective_database_url)
        kwargs: dict[str, Any] = {"pool_pre_ping": settings.db_pool_pre_ping}
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        if in_memory:
            kwargs = {"poolclass": StaticPool}
        else:
            kwargs.update(
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_recycle=settings.db_pool_recycle_seconds,
                pool_timeout=settings.db_pool_timeout_seconds,
            )
        if url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": 30}
        elif url.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {
                "timeout": settings.db_connect_timeout_seconds,
                "server_settings": {"application_name": settings.service_name},
            }
        engine = create_async_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def ping(self, timeout: float) -> float:
        """Run ``SELECT 1``; return the latency in seconds or raise :class:`DatabaseUnavailable`."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to answer counts as down for a probe
            raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}".strip()[:300]) from exc
        return time.perf_counter() - started

    def pool_stats(self) -> PoolStats:
        pool = self.engine.pool
        if isinstance(pool, QueuePool):
            return PoolStats(
                size=pool.size(),
                checked_out=pool.checkedout(),
                overflow=max(pool.overflow(), 0),
                idle=pool.checkedin(),
            )
        return PoolStats(size=1, checked_out=0, overflow=0, idle=1)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite (cascading deletes need them); WAL lets
    # readers proceed during a write.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()

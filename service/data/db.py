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

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
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

    def __init__(
        self, engine: AsyncEngine, *, connect_timeout: float = 3.0, pings_on_checkout: bool = False
    ) -> None:
        """``pings_on_checkout``: :func:`ping_on_checkout` was installed on ``engine``;
        ``connect_timeout``: how long opening a connection may take."""
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self.connect_timeout = connect_timeout
        self.pings_on_checkout = pings_on_checkout
        self._probes: set[asyncio.Task[None]] = set()
        self._opening: set[asyncio.Task[None]] = set()
        self._abandoned: set[asyncio.Task[None]] = set()
        event.listen(engine.sync_engine, "do_connect", self._note_connecting)

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Database:
        url = make_url(settings.effective_database_url)
        postgres = url.get_backend_name() == "postgresql"
        # PostgreSQL gets its one-round-trip ping from ping_on_checkout instead of the
        # dialect's own pre-ping (three round trips); SQLite's is local and cheap.
        own_ping = postgres and settings.db_pool_pre_ping
        kwargs: dict[str, Any] = {"pool_pre_ping": settings.db_pool_pre_ping and not own_ping}
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
        elif postgres:
            kwargs["connect_args"] = {
                "timeout": settings.db_connect_timeout_seconds,
                "server_settings": {"application_name": settings.service_name},
            }
        engine = create_async_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if own_ping:
            ping_on_checkout(engine)
        return cls(
            engine,
            connect_timeout=settings.db_connect_timeout_seconds,
            pings_on_checkout=own_ping,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def ping(self, timeout: float) -> float:
        """One round trip to the database on a pooled connection: the latency in seconds, or
        :class:`DatabaseUnavailable` when it did not answer within ``timeout``.

        With :func:`ping_on_checkout` installed, checking a connection out is that round trip
        (or the connection was just opened, which proves as much); otherwise the probe sends
        ``SELECT 1`` itself, outside a transaction. A probe that has to open a connection
        (several round trips: startup, authentication, type codecs) gets ``connect_timeout``
        more. A probe given up on is cancelled and cleans up in the background: the answer
        comes when the time is up, not after the driver has closed its connection.
        """
        started = time.perf_counter()
        probe = asyncio.create_task(self._check_out_and_test())
        self._probes.add(probe)
        try:
            await asyncio.wait({probe}, timeout=timeout)
            if not probe.done() and probe in self._opening:
                await asyncio.wait({probe}, timeout=self.connect_timeout)
            if not probe.done():
                raise TimeoutError(f"no answer within {timeout:g} s")
            probe.result()
        except Exception as exc:  # any failure to answer counts as down for a probe
            raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}".strip()[:300]) from exc
        finally:
            self._opening.discard(probe)
            if not probe.done():
                probe.cancel()
                self._abandoned.add(probe)
                probe.add_done_callback(self._forget)
            self._probes.discard(probe)
        return time.perf_counter() - started

    async def _check_out_and_test(self) -> None:
        async with self.engine.connect() as conn:
            if not self.pings_on_checkout:
                await _round_trip(conn)

    def _note_connecting(self, *_args: Any) -> None:
        # "do_connect": the task opening a connection is the one running this listener.
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no event loop: not a probe
            return
        if task in self._probes:
            self._opening.add(task)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a given-up probe's failure was reported already

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
        # Probes given up on finish closing their connections first.
        await asyncio.gather(*self._abandoned, return_exceptions=True)
        await self.engine.dispose()


_PING_SQL = "SELECT 1"
_FRESH = "aqua_fresh"


async def _round_trip(conn: AsyncConnection) -> None:
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        await driver.execute(_PING_SQL)
    except BaseException:
        # An interrupted statement leaves the driver connection unusable: do not pool it.
        await conn.invalidate()
        raise


def ping_on_checkout(engine: AsyncEngine) -> None:
    """Test each pooled PostgreSQL connection with one round trip when it is checked out.

    Use it instead of ``pool_pre_ping``: the asyncpg dialect's pre-ping wraps its statement in
    ``BEGIN``/``ROLLBACK`` and so costs three round trips on every checkout. Here
    ``SELECT 1`` goes by the simple query protocol, outside a transaction (nothing prepared,
    fine behind a transaction-pooling proxy too). A connection opened for this checkout is
    not tested again; one that fails the test is discarded and the pool opens another.
    """
    pool = engine.sync_engine.pool

    def fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info[_FRESH] = True

    def test(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_FRESH, False):
            return
        try:
            dbapi_conn.run_async(lambda driver: driver.execute(_PING_SQL))
        except Exception as exc:
            raise DisconnectionError(f"ping failed: {type(exc).__name__}: {exc}"[:300]) from exc

    event.listen(pool, "connect", fresh)
    event.listen(pool, "checkout", test)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite (cascading deletes need them); WAL lets
    # readers proceed during a write.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()

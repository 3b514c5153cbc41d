"""The lifespan of a service app: its runtime starts before the first request and stops after
the last one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

__all__ = ["Startable", "lifespan_of"]


class Startable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def lifespan_of(runtime: Startable) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """A FastAPI ``lifespan`` that starts ``runtime`` and, however the app ends, stops it."""

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return lifespan

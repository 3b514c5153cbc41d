"""What a ``with`` block does with a client or a server, written once.

::

    with PrometheusClient(url) as prom: ...    # Closing: close() on the way out
    with PostgresServer(workdir) as pg: ...    # Running: start() on the way in, stop() out

A class names what it opens and closes; the two dunder methods come from here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

__all__ = ["Closing", "Running"]


class Closing(ABC):
    """Something open from construction on (an HTTP client, a file) that ``close`` releases."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Running(Closing):
    """Something that runs between ``start`` (which returns it, ready) and ``stop``; closing
    it stops it."""

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

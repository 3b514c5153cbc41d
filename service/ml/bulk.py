"""Large forecast requests, prepared where they cannot hold up small ones.

Parsing a 1,024-pond × 9-scenario body (2.7 MB) and turning it into a job take hundreds of
milliseconds in calls that never let go of the GIL (pydantic-core validates the whole body in
one call, numpy converts the nested lists in another). In a thread of the server they still
stop the event loop for that long: measured, single-pond requests sent meanwhile waited
0.5-0.8 s. So a large body is parsed and converted in a helper process, which sends back the
job (a few numpy arrays: cheap to unpickle), the windows per pond and each pond's labels,
or the 422 body when the request is invalid. The helper runs at a lower priority (nice 10):
on a busy machine the server and the inference process, which answer small requests, come
first::

    intake = BulkIntake()
    await intake.start()                      # the helper imports its modules once
    prepared = await intake.prepare(body)     # Prepared, or bytes (a 422 body)
    await intake.stop()

The answer is encoded in slices on a thread (:func:`service.ml.codec.response_json_sliced`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from pydantic import ValidationError

from service.ml.codec import Labels, labels_of, to_job, validation_errors_json
from service.ml.intake import parse
from service.ml.serving import Job

__all__ = ["BulkIntake", "Prepared", "prepare"]

# spawn: the helper must not inherit the server's threads or its event loop.
_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Prepared:
    """A large request ready for the batcher."""

    job: Job
    counts: list[int]
    labels: list[Labels]


def prepare(body: bytes) -> Prepared | bytes:
    """Parse, validate and convert ``body``: the job, or the 422 body. Runs in the helper."""
    try:
        ponds = parse(body)
    except ValidationError as exc:
        return validation_errors_json(exc)
    job, counts = to_job(ponds)
    return Prepared(job, counts, labels_of(ponds))


def _warm() -> None:
    """Nothing: the helper has imported this module (and pydantic, numpy) by now."""


#: the helper's niceness: on a busy machine its parsing yields the CPU to the server and the
#: inference process, which answer the small requests
HELPER_NICE = 10


def _lower_priority() -> None:
    os.nice(HELPER_NICE)


def _pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=_SPAWN, initializer=_lower_priority)


class BulkIntake:
    """One helper process for large bodies, started with the service and stopped with it."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        if self._pool is None:
            self._pool = _pool()
        await asyncio.get_running_loop().run_in_executor(self._pool, _warm)

    @property
    def pids(self) -> list[int]:
        """The helper's process id (empty before the first task or after stop)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    async def prepare(self, body: bytes) -> Prepared | bytes:
        """The prepared request; a helper that died is replaced and the body tried once more."""
        if self._pool is None:
            raise RuntimeError("the bulk intake is not running")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, prepare, body)
        except BrokenProcessPool:
            broken, self._pool = self._pool, _pool()
            broken.shutdown(wait=False)
            return await loop.run_in_executor(self._pool, prepare, body)

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)

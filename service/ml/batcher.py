"""Dynamic micro-batching: many concurrent requests, one forward pass.

Requests put their windows on a queue. A single consumer takes the first waiting request, then
keeps gathering until it holds ``max_batch`` windows or ``max_wait_ms`` have passed, runs one
forward pass on a dedicated inference thread and hands every request its own rows back. While
that pass runs, new requests queue up, so under load batches fill without waiting at all.

With batching disabled every request runs its own forward pass on the same inference thread,
which is what a plain per-request model server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from service.ml.inference import Job, ServedForecast


@dataclass
class _Pending:
    job: Job
    future: asyncio.Future[ServedForecast]


class BatchObserver:
    """Hooks for metrics; the default does nothing."""

    def forward(self, rows: int, seconds: float) -> None:
        """One forward pass of ``rows`` windows took ``seconds``."""

    def queue_depth(self, depth: int) -> None:
        """Requests waiting for a forward pass."""


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[Job], ServedForecast],
        *,
        enabled: bool = True,
        max_batch: int = 512,
        max_wait_ms: float = 1.0,
        observer: BatchObserver | None = None,
    ) -> None:
        self._predict = predict
        self.enabled = enabled
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._observer = observer or BatchObserver()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._waiting = 0

    async def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    def _timed(self, job: Job) -> ServedForecast:
        t0 = time.perf_counter()
        out = self._predict(job)
        self._observer.forward(len(job), time.perf_counter() - t0)
        return out

    async def submit(self, job: Job) -> ServedForecast:
        loop = asyncio.get_running_loop()
        if not self.enabled:
            self._waiting += 1
            self._observer.queue_depth(self._waiting)
            try:
                return await loop.run_in_executor(self._executor, self._timed, job)
            finally:
                self._waiting -= 1
                self._observer.queue_depth(self._waiting)
        future: asyncio.Future[ServedForecast] = loop.create_future()
        await self._queue.put(_Pending(job, future))
        self._observer.queue_depth(self._queue.qsize())
        return await future

    async def _gather(self) -> list[_Pending]:
        first = await self._queue.get()
        items, rows = [first], len(first.job)
        deadline = time.perf_counter() + self.max_wait
        while rows < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            items.append(item)
            rows += len(item.job)
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._gather()
            self._observer.queue_depth(self._queue.qsize())
            live = [i for i in items if not i.future.done()]
            if not live:
                continue
            merged = Job.concat([i.job for i in live])
            try:
                result = await loop.run_in_executor(self._executor, self._timed, merged)
            except Exception as exc:  # a failed pass fails its requests, not the batcher
                for i in live:
                    if not i.future.done():
                        i.future.set_exception(exc)
                continue
            start = 0
            for i in live:
                stop = start + len(i.job)
                if not i.future.done():
                    i.future.set_result(result.rows(slice(start, stop)))
                start = stop

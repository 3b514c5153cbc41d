"""Dynamic micro-batching: many concurrent requests, one forward pass.

Requests put their windows on a queue and wait. A dedicated inference thread takes the first
waiting request, keeps gathering until it holds ``max_batch`` windows or ``max_wait_ms`` have
passed, runs one forward pass and hands every request its own rows back to the event loop.

It waits for company only under contention (the last pass or the queue held more than one
request), so a lone request is not held back for others that never come, and only while
requests keep arriving: when none arrived for ``ARRIVAL_GAP_S`` the burst is over and the pass
starts. At 16 connections every pass holds all 16 requests, and waiting out the full window
after the last one only idled the model (2,900 against 2,450 requests/s).

The inference thread drives the batching itself: the moment a pass ends it takes whatever
queued up meanwhile, while the event loop answers the requests of the pass that just ended.
(Gathering on the event loop instead left the model idle until the loop had written those
answers.) torch releases the GIL inside each of its calls, but the network makes dozens of
them per pass and takes the GIL back after each, so in one process the pass and the event loop
mostly take turns; the service therefore gives the batcher a ``predict`` that runs the pass in
a child process (:mod:`service.ml.inference_process`), and this thread only waits for it.

With batching disabled every request is its own forward pass, taken in arrival order by the
same thread: the plain per-request model server.

Parts of large requests (``submit(job, bulk=True)``) wait in a lane of their own, one part per
pass: a pass takes the waiting small requests first and adds a bulk part only when no small
request waits, or when small ones have gone first ``BULK_EVERY`` passes in a row (a stream of
small requests slows a large one down, never stops it). A single-pond request therefore waits
for at most the pass in progress, not for a large request's next part as well.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from service.ml.serving import Job, ServedForecast

ARRIVAL_GAP_S = 0.00025  # parsing a request on the event loop takes 30-70 us
#: passes of small requests in a row before a waiting bulk part joins one
BULK_EVERY = 2


@dataclass
class _Pending:
    job: Job
    future: asyncio.Future[ServedForecast]


class BatchObserver:
    """Hooks for metrics; the default does nothing. Called from the inference thread too."""

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
        self.max_batch = max_batch if enabled else 1
        self.max_wait = max_wait_ms / 1000.0 if enabled else 0.0
        self._observer = observer or BatchObserver()
        self.arrival_gap = ARRIVAL_GAP_S
        self._queue: deque[_Pending] = deque()
        self._bulk: deque[_Pending] = deque()  # parts of large requests, one per pass
        self._bulk_skipped = 0  # passes in a row that left a waiting bulk part behind
        self._rows = 0  # windows in the queue
        self._last_pass = 0  # requests in the last forward pass
        self._ready = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._stopping = False
            self._thread = threading.Thread(target=self._serve, name="inference", daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        """Finish the pass in progress; requests still waiting are cancelled."""
        thread = self._thread
        if thread is None:
            return
        with self._ready:
            self._stopping = True
            waiting = [*self._queue, *self._bulk]
            self._queue.clear()
            self._bulk.clear()
            self._rows = 0
            self._ready.notify()
        for p in waiting:
            p.future.cancel()
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        self._thread = None

    async def submit(self, job: Job, *, bulk: bool = False) -> ServedForecast:
        """The forecast of ``job``; a ``bulk`` job (a part of a large request) yields to
        small ones."""
        if self._thread is None:
            raise RuntimeError("the batcher is not running")
        future: asyncio.Future[ServedForecast] = asyncio.get_running_loop().create_future()
        with self._ready:
            if bulk:
                self._bulk.append(_Pending(job, future))
            else:
                self._queue.append(_Pending(job, future))
                self._rows += len(job)
            depth = len(self._queue) + len(self._bulk)
            self._ready.notify()
        self._observer.queue_depth(depth)
        return await future

    def _take(self) -> list[_Pending] | None:
        """The next batch, or ``None`` when stopping. Runs on the inference thread."""
        with self._ready:
            while not self._queue and not self._bulk:
                if self._stopping:
                    return None
                self._ready.wait()
            # Wait for company only under contention (the last pass or the queue holds more
            # than one request): a lone request is not held back for others that never come.
            crowded = self._last_pass > 1 or len(self._queue) > 1
            if crowded and self._rows < self.max_batch and self.max_wait > 0:
                deadline = time.monotonic() + self.max_wait
                while self._rows < self.max_batch and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    waiting = len(self._queue)
                    self._ready.wait(min(remaining, self.arrival_gap))
                    if len(self._queue) == waiting:
                        break  # nobody came within the gap: the burst is over
            items: list[_Pending] = []
            rows = 0
            while self._queue and rows < self.max_batch:
                item = self._queue.popleft()
                n = len(item.job)
                self._rows -= n
                if item.future.done():  # cancelled while waiting (client gone)
                    continue
                items.append(item)
                rows += n
            if self._bulk and (not items or self._bulk_skipped >= BULK_EVERY):
                self._bulk_skipped = 0
                while self._bulk:
                    item = self._bulk.popleft()
                    if not item.future.done():
                        items.append(item)
                        break
            elif self._bulk:
                self._bulk_skipped += 1
            depth = len(self._queue) + len(self._bulk)
            self._last_pass = len(items)
        self._observer.queue_depth(depth)
        return items

    def _serve(self) -> None:
        loop = self._loop
        assert loop is not None
        while (items := self._take()) is not None:
            if not items:
                continue
            try:
                merged = Job.concat([i.job for i in items])
                t0 = time.perf_counter()
                result = self._predict(merged)
                self._observer.forward(len(merged), time.perf_counter() - t0)
                answers: list[ServedForecast | BaseException] = []
                start = 0
                for i in items:
                    stop = start + len(i.job)
                    answers.append(result.rows(slice(start, stop)))
                    start = stop
            except Exception as exc:  # a failed pass fails its requests, not the batcher
                answers = [exc] * len(items)
            try:
                loop.call_soon_threadsafe(_deliver, items, answers)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return


def _deliver(items: list[_Pending], answers: list[ServedForecast | BaseException]) -> None:
    for item, answer in zip(items, answers, strict=True):
        if item.future.done():
            continue
        if isinstance(answer, BaseException):
            item.future.set_exception(answer)
        else:
            item.future.set_result(answer)

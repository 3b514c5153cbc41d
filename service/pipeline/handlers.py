"""What the worker does with a batch of messages, independent of where they came from.

A handler takes a batch and returns the messages that failed, by index. Two kinds of failure:

* :class:`DependencyDown` (raised) — the database or the ML service did not answer. It is no
  message's fault: the whole batch is retried later, with backoff, and nothing is
  dead-lettered however long the outage lasts.
* :class:`MessageFailure` (returned) — this message failed: undecodable (``retriable=False``,
  straight to the dead-letter topic), or rejected by the database (retried up to N times).

Handlers write only within the organisation a message names: readings for a pond of another
organisation, or a forecast job whose task is another organisation's or another pond's, are
refused for good (dead-lettered, or the task failed) and nothing is written.

Handlers are idempotent, so a batch done twice (a crash before the offset commit, a retry)
stores the same rows: readings are upserted by (pond, sensor, ts), and a forecast task that
is already done is skipped. :func:`process` runs the retry policy around a handler; both the
Kafka consumer and the in-process queue use it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.common.errors import DependencyUnavailable
from service.data.db import is_unavailable
from service.data.forecast_input import NO_AERATION, NotEnoughData, load_input
from service.data.ingest import upsert_readings
from service.data.models import Farm, Pond, Task
from service.data.schemas import ReadingIn
from service.data.summary_keys import PondRef
from service.pipeline.messages import Envelope, ForecastJob, ReadingsMessage
from service.pipeline.metrics import WorkerMetrics
from service.pipeline.topics import FORECASTS, READINGS

log = logging.getLogger("aqua.worker")

LIVE_READING_WINDOW_S = 300.0


M = TypeVar("M")


class DependencyDown(DependencyUnavailable):
    """A dependency did not answer; retry the whole batch later."""

    def __init__(self, dependency: str, cause: BaseException | str) -> None:
        text = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"{dependency} unavailable: {text}"[:500])
        self.dependency = dependency


@dataclass(frozen=True, slots=True)
class MessageFailure:
    error: str
    error_type: str
    retriable: bool

    @classmethod
    def of(cls, exc: BaseException, *, retriable: bool) -> MessageFailure:
        return cls(
            error=str(exc)[:1000] or type(exc).__name__,
            error_type=type(exc).__name__,
            retriable=retriable,
        )


class Handler(Protocol):
    topic: str

    async def handle(self, batch: Sequence[Envelope]) -> dict[int, MessageFailure]: ...

    def started_at(self, envelope: Envelope) -> float: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_s: float = 0.2
    backoff_max_s: float = 10.0

    def delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based): doubling, capped."""
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** max(attempt - 1, 0)))


DeadLetter = Callable[[Envelope, MessageFailure, int], Awaitable[None]]


async def process(
    handler: Handler,
    batch: Sequence[Envelope],
    policy: RetryPolicy,
    dead_letter: DeadLetter,
    metrics: WorkerMetrics,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Handle ``batch`` until every message is stored or dead-lettered; return the dead count.

    Raises :class:`DependencyDown` when the batch must be retried later as a whole.
    """
    failures = await handler.handle(batch)
    dead = 0
    for index, failure in sorted(failures.items()):
        envelope, attempts, current = batch[index], 1, failure
        while current.retriable and attempts < policy.max_attempts:
            metrics.retries.labels(handler.topic, "message").inc()
            await sleep(policy.delay(attempts))
            again = await handler.handle([envelope])
            attempts += 1
            if not again:
                break
            current = again[0]
        else:
            log.warning(
                "message dead-lettered",
                extra={
                    "topic": envelope.topic,
                    "partition": envelope.partition,
                    "offset": envelope.offset,
                    "attempts": attempts,
                    "error": current.error,
                },
            )
            await dead_letter(envelope, current, attempts)
            metrics.dead_lettered.labels(handler.topic).inc()
            metrics.failed.labels(handler.topic).inc()
            dead += 1
    return dead


def _db_call_failed(exc: BaseException) -> DependencyDown | None:
    return DependencyDown("database", exc) if is_unavailable(exc) else None


def decode_batch(
    batch: Sequence[Envelope], decode: Callable[[bytes], M]
) -> tuple[dict[int, MessageFailure], list[tuple[int, Envelope, M]]]:
    """Each envelope's message, by index in ``batch``; one that does not validate is a
    failure not worth retrying (poison)."""
    failures: dict[int, MessageFailure] = {}
    decoded: list[tuple[int, Envelope, M]] = []
    for i, envelope in enumerate(batch):
        try:
            decoded.append((i, envelope, decode(envelope.value)))
        except ValidationError as exc:
            failures[i] = MessageFailure.of(exc, retriable=False)
    return failures, decoded


class WrongOrganisation(ValueError):
    """A message names an organisation its pond or task does not belong to."""


def wrong_organisation(what: str, org_id: int | None) -> MessageFailure:
    return MessageFailure.of(
        WrongOrganisation(f"{what} is not in organisation {org_id}"), retriable=False
    )


class ReadingsHandler:
    """Upsert the readings of a batch: one transaction, one statement per pond.

    After the commit, ``on_stored`` gets the ponds written to, as (organisation, pond) (the
    API's cached summaries of those ponds are stale now). A farm never changes organisation,
    so the owners read before the write still hold when it commits.
    """

    topic = READINGS

    def __init__(
        self,
        engine: AsyncEngine,
        metrics: WorkerMetrics,
        on_stored: Callable[[Collection[PondRef]], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.on_stored = on_stored
        self._newest: dict[tuple[int, int, str], float] = {}

    def started_at(self, envelope: Envelope) -> float:
        enqueued = envelope.timestamp_ms / 1000.0
        newest = self._newest.pop((envelope.partition, envelope.offset, envelope.topic), None)
        if newest is not None and enqueued - LIVE_READING_WINDOW_S <= newest <= enqueued:
            return newest
        return enqueued

    async def handle(self, batch: Sequence[Envelope]) -> dict[int, MessageFailure]:
        failures, parsed = decode_batch(batch, ReadingsMessage.decode)
        decoded: list[tuple[int, ReadingsMessage]] = []
        for i, envelope, message in parsed:
            decoded.append((i, message))
            newest = max(r.ts for r in message.readings).timestamp()
            self._newest[(envelope.partition, envelope.offset, envelope.topic)] = newest
        if not decoded:
            return failures
        try:
            owners = await self._owners({m.pond_id for _, m in decoded})
        except Exception as exc:
            if (down := _db_call_failed(exc)) is not None:
                raise down from exc
            raise
        kept = []
        for i, message in decoded:
            owner = owners.get(message.pond_id)
            if owner is not None and message.org_id not in (None, owner):
                failures[i] = wrong_organisation(f"pond {message.pond_id}", message.org_id)
            else:
                kept.append((i, message))
        decoded = kept
        if not decoded:
            return failures
        try:
            await self._store([m for _, m in decoded], owners)
        except Exception as exc:
            if (down := _db_call_failed(exc)) is not None:
                raise down from exc
            # One bad message (say, a pond deleted since) must not hold back the others.
            for i, message in decoded:
                try:
                    await self._store([message], owners)
                except Exception as one:
                    if (down := _db_call_failed(one)) is not None:
                        raise down from one
                    failures[i] = MessageFailure.of(one, retriable=True)
        return failures

    async def _owners(self, pond_ids: Collection[int]) -> dict[int, int]:
        """The organisation of each pond that exists."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(Pond.id, Farm.org_id)
                .join(Farm, Farm.id == Pond.farm_id)
                .where(Pond.id.in_(sorted(pond_ids)))
            )
            return {int(pond_id): int(org_id) for pond_id, org_id in rows}

    async def _store(self, messages: Sequence[ReadingsMessage], owners: dict[int, int]) -> None:
        by_pond: dict[int, list[ReadingIn]] = {}
        for m in messages:
            by_pond.setdefault(m.pond_id, []).extend(m.readings)
        stored = 0
        async with self.engine.begin() as conn:
            for pond_id, readings in by_pond.items():
                stored += await upsert_readings(conn, pond_id, readings)
        self.metrics.readings_stored.inc(stored)
        if self.on_stored is not None:
            await self.on_stored([(owners[p], p) for p in by_pond if p in owners])


class Forecaster(Protocol):
    """The part of :class:`service.ml.client.MLClient` the worker uses."""

    async def forecast(self, request: Any) -> Any: ...


class ForecastHandler:
    """Run forecast jobs: mark running, build inputs, batch them into ML calls, store results."""

    topic = FORECASTS

    def __init__(
        self,
        engine: AsyncEngine,
        ml: Forecaster | None,
        metrics: WorkerMetrics,
        batch_size: int = 64,
        aerate_kw_ha: float = 4.0,
    ) -> None:
        self.engine = engine
        self.ml = ml
        self.metrics = metrics
        self.batch_size = batch_size
        self.aerate_kw_ha = aerate_kw_ha

    def started_at(self, envelope: Envelope) -> float:
        return envelope.timestamp_ms / 1000.0

    async def handle(self, batch: Sequence[Envelope]) -> dict[int, MessageFailure]:
        failures, parsed = decode_batch(batch, ForecastJob.decode)
        jobs: dict[str, ForecastJob] = {}
        index: dict[str, int] = {}
        for i, _, job in parsed:
            jobs.setdefault(str(job.task_id), job)
            index.setdefault(str(job.task_id), i)
        if not jobs:
            return failures
        try:
            await self._run(list(jobs.values()))
        except DependencyDown:
            raise
        except Exception as exc:
            if (down := _db_call_failed(exc)) is not None:
                raise down from exc
            if len(jobs) == 1:
                (task_id,) = jobs
                failures[index[task_id]] = MessageFailure.of(exc, retriable=True)
                return failures
            # Something failed for one job (a bug, an odd row): find it, run the others.
            for task_id, job in jobs.items():
                try:
                    await self._run([job])
                except DependencyDown:
                    raise
                except Exception as one:
                    if (down := _db_call_failed(one)) is not None:
                        raise down from one
                    log.exception("forecast job failed", extra={"task_id": task_id})
                    failures[index[task_id]] = MessageFailure.of(one, retriable=True)
        return failures

    async def _run(self, jobs: list[ForecastJob]) -> None:
        from service.ml.client import MLRequestRejected, MLUnavailable
        from service.ml.schemas import ForecastRequest, PondInput

        now = datetime.now(UTC)
        by_id = {str(j.task_id): j for j in jobs}
        wrong: dict[str, str] = {}
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                select(Task.id, Task.status, Task.pond_id, Farm.org_id)
                .join(Pond, Pond.id == Task.pond_id)
                .join(Farm, Farm.id == Pond.farm_id)
                .where(Task.id.in_(list(by_id)))
            )
            todo = []
            for task_id, st, pond_id, org_id in rows:
                job = by_id[str(task_id)]
                if st not in ("pending", "running"):
                    continue  # a replay of a finished job
                if job.pond_id != pond_id or job.org_id not in (None, org_id):
                    # Never the task's own pond: a forged or corrupt job writes nothing.
                    wrong[str(task_id)] = (
                        f"forecast job for pond {job.pond_id} in organisation {job.org_id} "
                        "does not match its task"
                    )
                else:
                    todo.append(job)
            if todo:
                await conn.execute(
                    update(Task)
                    .where(Task.id.in_([str(j.task_id) for j in todo]))
                    .values(status="running", attempts=Task.attempts + 1, updated_at=now)
                )
        if wrong:
            await self._finish_failed(wrong)
        if not todo:
            return  # replays of finished jobs, or tasks deleted with their pond
        if self.ml is None:
            await self._finish_failed({str(j.task_id): "no ML service configured" for j in todo})
            return
        inputs: dict[str, PondInput] = {}
        failed: dict[str, str] = {}
        async with self.engine.connect() as conn:
            for job in todo:
                try:
                    inputs[str(job.task_id)] = await self._input(conn, job)
                except NotEnoughData as exc:
                    failed[str(job.task_id)] = str(exc)
                except LookupError as exc:
                    failed[str(job.task_id)] = str(exc)
        if failed:
            await self._finish_failed(failed)
        order = list(inputs)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            try:
                answers = await self._call(ForecastRequest(ponds=[inputs[t] for t in chunk]))
            except MLUnavailable as exc:
                await self._back_to_pending(
                    order[start:], f"ML service unavailable, retrying: {exc}"
                )
                raise DependencyDown("ml", exc) from exc
            except MLRequestRejected:
                results: dict[str, dict[str, Any]] = {}
                for task_id in chunk:  # find the pond the service refuses
                    try:
                        one = await self._call(ForecastRequest(ponds=[inputs[task_id]]))
                        results[task_id] = one[0]
                    except MLRequestRejected as exc:
                        await self._finish_failed(
                            {task_id: f"ML service rejected the input: {exc}"}
                        )
                    except MLUnavailable as exc:
                        await self._back_to_pending(order[start:], f"ML service unavailable: {exc}")
                        raise DependencyDown("ml", exc) from exc
                await self._finish_done(results)
                continue
            await self._finish_done(dict(zip(chunk, answers, strict=True)))

    async def _call(self, request: Any) -> list[dict[str, Any]]:
        started = time.perf_counter()
        assert self.ml is not None
        response = await self.ml.forecast(request)
        self.metrics.ml_calls.observe(time.perf_counter() - started)
        return [
            {
                "model_version": response.model_version,
                "hours": list(response.hours),
                "pond": p.model_dump(mode="json"),
            }
            for p in response.ponds
        ]

    async def _input(self, conn: Any, job: ForecastJob) -> Any:
        from service.ml.schemas import NIGHT_HOURS, AerationPlan

        # The main scenario is "no aeration tonight", the risk if nobody acts (what the nightly
        # alert is about), with an "aerate" what-if at AQUA_WORKER_AERATE_KW_HA.
        aerate = AerationPlan(name="aerate", aeration_kw_ha=[self.aerate_kw_ha] * NIGHT_HOURS)
        return await load_input(conn, job.pond_id, job.issued_at, NO_AERATION, [aerate])

    async def _finish_done(self, results: dict[str, dict[str, Any]]) -> None:
        if not results:
            return
        await self._finish(
            "done",
            {task_id: {"result": result, "error": None} for task_id, result in results.items()},
        )

    async def _finish_failed(self, errors: dict[str, str]) -> None:
        await self._finish(
            "failed", {task_id: {"error": error[:1000]} for task_id, error in errors.items()}
        )

    async def _finish(self, status: str, outcomes: dict[str, dict[str, Any]]) -> None:
        """Mark each task of ``outcomes`` finished as ``status`` with its values (result, error),
        in one transaction, and count them."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            for task_id, values in outcomes.items():
                await conn.execute(
                    update(Task)
                    .where(Task.id == task_id)
                    .values(status=status, **values, finished_at=now, updated_at=now)
                )
        self.metrics.forecasts.labels(status).inc(len(outcomes))

    async def _back_to_pending(self, task_ids: list[str], error: str) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(Task)
                    .where(Task.id.in_(task_ids), Task.status == "running")
                    .values(status="pending", error=error[:1000], updated_at=datetime.now(UTC))
                )
        except Exception as exc:  # best effort: the retry sets the state again
            log.warning("could not mark tasks pending", extra={"error": str(exc)[:300]})

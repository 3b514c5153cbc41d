"""The nightly run: a forecast job for every pond at 20:00 pond-local, and the crash-risk gauge.

Every worker ticks the scheduler; the database makes it run once per pond and night: a task's
``dedupe_key`` is ``nightly:<pond>:<local date>`` (unique), so only the worker whose insert
wins publishes. A task whose publication was interrupted (a crash between insert and publish,
Kafka down) still has ``published_at`` unset and is sent again after
``AQUA_WORKER_REPUBLISH_AFTER_SECONDS``; handlers skip finished tasks, so a duplicate is
harmless.

``aqua_pond_crash_risk{pond_id}`` is read from the database (the newest nightly forecast of
each pond in the last 36 h), so every worker exports the same values and a restarted worker
exports them at once; alert rules take ``max by (pond_id)``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from service.common.schedule import local_issue, nightly_due, zone
from service.data.models import Farm, Pond, Task
from service.pipeline.messages import ForecastJob, pond_key
from service.pipeline.metrics import WorkerMetrics
from service.pipeline.topics import FORECASTS

log = logging.getLogger("aqua.worker.nightly")

RISK_LOOKBACK = timedelta(hours=36)
Publish = Callable[[str, bytes, bytes], Awaitable[None]]


class NightlyRun:
    def __init__(
        self,
        engine: AsyncEngine,
        publish: Publish,
        metrics: WorkerMetrics,
        hour: int = 20,
        republish_after_s: float = 120.0,
    ) -> None:
        self.engine = engine
        self.publish = publish
        self.metrics = metrics
        self.hour = hour
        self.republish_after = timedelta(seconds=republish_after_s)

    async def tick(self, now: datetime | None = None) -> int:
        """Create the due nightly tasks, publish unpublished ones; return how many were sent."""
        now = now or datetime.now(UTC)
        async with self.engine.begin() as conn:
            ponds = (
                await conn.execute(
                    select(Pond.id, Farm.timezone).join(Farm, Farm.id == Pond.farm_id)
                )
            ).all()
            rows: list[dict[str, object]] = []
            inserted: set[str] = set()
            for pond_id, tz_name in ponds:
                day = nightly_due(now, tz_name, self.hour)
                if day is None:
                    continue
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "pond_id": pond_id,
                        "kind": "forecast",
                        "trigger": "nightly",
                        "status": "pending",
                        "dedupe_key": f"nightly:{pond_id}:{day.isoformat()}",
                        "issued_at": local_issue(day, zone(tz_name), self.hour),
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            if rows:
                table: Any = Task.__table__
                insert: Any = (
                    postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                )
                stmt = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
                for row in rows:  # one by one: RETURNING tells which inserts won
                    won = await conn.execute(stmt.values(row).returning(table.c.id))
                    inserted.update(str(r[0]) for r in won)
        return await self._publish_unsent(now, inserted)

    async def _publish_unsent(self, now: datetime, inserted: set[str]) -> int:
        stale = now - self.republish_after
        async with self.engine.connect() as conn:
            unsent = (
                await conn.execute(
                    select(
                        Task.id,
                        Farm.org_id,
                        Task.pond_id,
                        Task.trigger,
                        Task.issued_at,
                        Task.created_at,
                    )
                    .join(Pond, Pond.id == Task.pond_id)
                    .join(Farm, Farm.id == Pond.farm_id)
                    .where(Task.status == "pending", Task.published_at.is_(None))
                )
            ).all()
        sent = 0
        for task_id, org_id, pond_id, trigger, issued_at, created_at in unsent:
            # Ours go out now; others only once clearly abandoned by whoever created them.
            if task_id not in inserted and created_at >= stale:
                continue
            job = ForecastJob(
                task_id=uuid.UUID(task_id),
                org_id=org_id,
                pond_id=pond_id,
                trigger="nightly" if trigger == "nightly" else "on_demand",
                issued_at=issued_at,
            )
            await self.publish(FORECASTS, pond_key(pond_id), job.encode())
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(Task).where(Task.id == task_id).values(published_at=datetime.now(UTC))
                )
            sent += 1
            if trigger == "nightly":
                self.metrics.nightly_enqueued.inc()
        if sent:
            log.info("forecast jobs enqueued", extra={"count": sent})
        return sent

    async def refresh_crash_risk(self, now: datetime | None = None) -> dict[int, float]:
        """Set ``aqua_pond_crash_risk`` from the newest nightly forecasts; return the values."""
        now = now or datetime.now(UTC)
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(Task.pond_id, Task.result, Task.finished_at)
                    .where(
                        Task.trigger == "nightly",
                        Task.status == "done",
                        Task.finished_at >= now - RISK_LOOKBACK,
                    )
                    .order_by(Task.finished_at)
                )
            ).all()
        risk: dict[int, float] = {}
        for pond_id, result, _ in rows:  # ordered: the newest wins
            try:
                risk[pond_id] = float(result["pond"]["forecast"]["prob_below_threshold"])
            except (KeyError, TypeError, ValueError):
                continue
        gauge = self.metrics.crash_risk
        for labels in list(getattr(gauge, "_metrics", {})):
            if int(labels[0]) not in risk:
                gauge.remove(*labels)
        for pond_id, p in risk.items():
            gauge.labels(str(pond_id)).set(p)
        return risk

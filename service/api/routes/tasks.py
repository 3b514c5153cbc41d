"""Asynchronous forecast jobs: queue one for a pond, then poll its task.

``POST /ponds/{id}/forecast/async`` records a pending task, publishes the job and answers 202
with the task id; a worker batches jobs into ML calls and stores the forecast in the task.
``GET /tasks/{task_id}`` answers pending | running | done | failed, with the forecast when
done. If the queue does not take the job, the task is removed again and the answer is 503
with ``Retry-After``: a task id is only handed out for a job that is queued.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import delete, update

from service.api.deps import Reader, RuntimeDep, SessionDep, Writer
from service.api.forecasts import ForecastResult
from service.api.routes._common import API_PREFIX, NO_SCOPE, NO_TOKEN, PondId, Responses
from service.api.tenancy import pond_and_farm_in, task_in
from service.common.schedule import issue_time
from service.data.models import Task
from service.pipeline.messages import ForecastJob, pond_key
from service.pipeline.queue import QueueUnavailable
from service.pipeline.topics import FORECASTS

router = APIRouter(prefix=API_PREFIX, tags=["tasks"])

TaskStatus = Literal["pending", "running", "done", "failed"]
_ERRORS: Responses = {**NO_TOKEN, **NO_SCOPE}


class TaskAccepted(BaseModel):
    task_id: str
    status: TaskStatus = "pending"
    status_url: str


class TaskOut(BaseModel):
    task_id: str
    pond_id: int
    kind: str
    trigger: str
    status: TaskStatus
    issued_at: datetime = Field(description="Start of the forecast night (20:00 pond-local).")
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    result: ForecastResult | None
    error: str | None


@router.post(
    "/ponds/{pond_id}/forecast/async",
    response_model=TaskAccepted,
    status_code=202,
    responses={
        **_ERRORS,
        404: {"description": "No such pond in the caller's organisation."},
        501: {"description": "No queue configured (AQUA_QUEUE=direct)."},
        503: {"description": "Queue unavailable: no task created, see Retry-After."},
    },
)
async def forecast_async(
    pond_id: PondId, who: Writer, rt: RuntimeDep, session: SessionDep
) -> TaskAccepted:
    """Queue tonight's forecast for a pond; poll ``status_url`` for the result."""
    if rt.queue is None:
        raise HTTPException(status_code=501, detail="asynchronous jobs need a queue (AQUA_QUEUE)")
    _, farm = await pond_and_farm_in(session, who.org_id, pond_id)
    now = datetime.now(UTC)
    task = Task(
        id=str(uuid.uuid4()),
        pond_id=pond_id,
        kind="forecast",
        trigger="on_demand",
        status="pending",
        issued_at=issue_time(now, farm.timezone),
        attempts=0,
    )
    session.add(task)
    await session.commit()  # the row exists before any worker can see the job
    job = ForecastJob(
        task_id=uuid.UUID(task.id),
        org_id=who.org_id,
        pond_id=pond_id,
        trigger="on_demand",
        issued_at=task.issued_at,
    )
    try:
        await rt.queue.publish(FORECASTS, pond_key(pond_id), job.encode())
    except QueueUnavailable:
        await session.execute(delete(Task).where(Task.id == task.id))
        await session.commit()
        raise
    await session.execute(
        update(Task).where(Task.id == task.id, Task.published_at.is_(None)).values(published_at=now)
    )
    await session.commit()
    return TaskAccepted(task_id=task.id, status_url=f"{API_PREFIX}/tasks/{task.id}")


@router.get(
    "/tasks/{task_id}",
    response_model=TaskOut,
    responses={**_ERRORS, 404: {"description": "No such task in the caller's organisation."}},
)
async def read_task(task_id: uuid.UUID, who: Reader, session: SessionDep) -> TaskOut:
    """A task's state, with the forecast once it is done."""
    task = await task_in(session, who.org_id, str(task_id))
    return TaskOut(
        task_id=task.id,
        pond_id=task.pond_id,
        kind=task.kind,
        trigger=task.trigger,
        status=task.status,  # type: ignore[arg-type]  # the CHECK constraint guarantees it
        issued_at=task.issued_at,
        attempts=task.attempts,
        created_at=task.created_at,
        updated_at=task.updated_at,
        finished_at=task.finished_at,
        result=ForecastResult.model_validate(task.result) if task.result else None,
        error=task.error,
    )

"""Sensor readings of a pond: batch ingestion and time-range queries.

``POST /ponds/{id}/readings`` takes up to 1,000 readings; re-sending a (sensor, ts) updates
it. ``GET /ponds/{id}/readings`` returns a time range ordered by (ts, sensor), either raw
(paged with an opaque cursor) or downsampled into buckets of ``bucket_seconds`` with mean,
min, max and count per bucket and sensor.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import BigInteger, Integer, and_, cast, func, literal_column, or_, select

from service.api.deps import Reader, RuntimeDep, SessionDep, Writer
from service.api.routes._common import (
    API_PREFIX,
    NO_POND,
    NO_SCOPE,
    NO_TOKEN,
    PondId,
    Responses,
    invalid,
)
from service.api.tenancy import pond_in
from service.data.models import Reading
from service.data.schemas import (
    IngestResult,
    ReadingBatch,
    ReadingPoint,
    ReadingSeries,
    Sensor,
    Timestamp,
)

router = APIRouter(prefix=f"{API_PREFIX}/ponds", tags=["readings"])

MAX_POINTS = 10_000
DEFAULT_RANGE = timedelta(hours=24)
_ERRORS: Responses = {**NO_TOKEN, **NO_SCOPE, **NO_POND}


@router.post(
    "/{pond_id}/readings",
    response_model=IngestResult,
    responses={
        **_ERRORS,
        202: {"model": IngestResult, "description": "Queued; a worker stores the batch."},
        503: {"description": "Queue unavailable: nothing accepted, see Retry-After."},
    },
)
async def ingest_readings(
    pond_id: PondId,
    body: ReadingBatch,
    who: Writer,
    rt: RuntimeDep,
    session: SessionDep,
    response: Response,
) -> IngestResult:
    """Store a batch of readings (idempotent per pond, sensor and timestamp).

    200 when stored in the request; 202 when a queue took it (a worker stores it).
    """
    await pond_in(session, who.org_id, pond_id)
    await session.close()  # give the connection back before the sink takes one
    result = await rt.sink.write(who.org_id, pond_id, body.readings)
    if not result.durable:
        response.status_code = 202
    return result


def _encode_cursor(ts: datetime, sensor: str) -> str:
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{sensor}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts_text, sensor = raw.split("|", 1)
        ts = datetime.fromisoformat(ts_text)
        if ts.tzinfo is None or sensor not in Sensor.__members__:
            raise ValueError(raw)
        return ts.astimezone(UTC), sensor
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise invalid(["query", "cursor"], "invalid cursor") from exc


def _bucket_expr(dialect: str, seconds: int) -> Any:
    n: Any = literal_column(str(int(seconds)))  # an int literal: GROUP BY must repeat it verbatim
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", Reading.ts) / n) * n, BigInteger)
    return cast(func.strftime("%s", Reading.ts), Integer) // n * n


@router.get("/{pond_id}/readings", response_model=ReadingSeries, responses=_ERRORS)
async def query_readings(
    pond_id: PondId,
    who: Reader,
    session: SessionDep,
    start: Annotated[Timestamp | None, Query(description="Inclusive; default end - 24 h.")] = None,
    end: Annotated[Timestamp | None, Query(description="Exclusive; default now.")] = None,
    sensor: Annotated[Sensor | None, Query(description="Only this sensor.")] = None,
    bucket_seconds: Annotated[
        int | None, Query(ge=1, le=31 * 86400, description="Downsample to buckets of this size.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS, description="Raw points per page.")] = 1000,
    cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$")] = None,
) -> ReadingSeries:
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_RANGE
    if start >= end:
        raise invalid(["query", "start"], "start must be before end")
    await pond_in(session, who.org_id, pond_id)
    where = [Reading.pond_id == pond_id, Reading.ts >= start, Reading.ts < end]
    if sensor is not None:
        where.append(Reading.sensor == sensor.value)

    if bucket_seconds is not None:
        sensors = 1 if sensor is not None else len(Sensor)
        buckets = math.ceil((end - start).total_seconds() / bucket_seconds) + 1
        if buckets * sensors > MAX_POINTS:
            raise invalid(
                ["query", "bucket_seconds"],
                f"more than {MAX_POINTS} buckets: widen bucket_seconds or narrow the range",
            )
        bucket = _bucket_expr(session.get_bind().dialect.name, bucket_seconds).label("bucket")
        rows = await session.execute(
            select(
                Reading.sensor,
                bucket,
                func.avg(Reading.value),
                func.min(Reading.value),
                func.max(Reading.value),
                func.count(),
            )
            .where(*where)
            .group_by(Reading.sensor, bucket)
            .order_by(bucket, Reading.sensor)
        )
        points = [
            ReadingPoint(
                sensor=Sensor(s),
                ts=datetime.fromtimestamp(int(b), UTC),
                value=float(avg),
                min=float(lo),
                max=float(hi),
                count=int(n),
            )
            for s, b, avg, lo, hi, n in rows
        ]
        return ReadingSeries(
            pond_id=pond_id, start=start, end=end, bucket_seconds=bucket_seconds, points=points
        )

    if cursor is not None:
        c_ts, c_sensor = _decode_cursor(cursor)
        where.append(or_(Reading.ts > c_ts, and_(Reading.ts == c_ts, Reading.sensor > c_sensor)))
    rows = await session.execute(
        select(Reading.sensor, Reading.ts, Reading.value)
        .where(*where)
        .order_by(Reading.ts, Reading.sensor)
        .limit(limit + 1)
    )
    found = rows.all()
    more = len(found) > limit
    found = found[:limit]
    points = [
        ReadingPoint(sensor=Sensor(s), ts=t, value=v, min=v, max=v, count=1) for s, t, v in found
    ]
    next_cursor = _encode_cursor(found[-1][1], found[-1][0]) if more and found else None
    return ReadingSeries(
        pond_id=pond_id,
        start=start,
        end=end,
        bucket_seconds=None,
        points=points,
        next_cursor=next_cursor,
    )

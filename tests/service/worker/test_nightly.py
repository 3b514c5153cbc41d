"""The nightly run on PostgreSQL: one job per pond and local night at 20:00 pond-local time,
re-sent when its publication was lost, and the crash-risk gauge read back from the results."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from pipeline_harness import query

from service.pipeline.messages import ForecastJob
from service.pipeline.metrics import WorkerMetrics
from service.pipeline.nightly import NightlyRun

pytestmark = pytest.mark.integration


def _farm_with_pond(url: str, name: str, tz: str) -> int:
    now = datetime.now(UTC)
    farm = query(
        url,
        "INSERT INTO farms (name, timezone, created_at, updated_at) "
        "VALUES ($1, $2, $3, $3) RETURNING id",
        name,
        tz,
        now,
    )[0][0]
    return int(
        query(
            url,
            "INSERT INTO ponds (farm_id, name, species, area_m2, depth_m, stock_count, created_at, "
            "updated_at) VALUES ($1, 'P1', 'nile_tilapia', 2000, 1.2, 1000, $2, $2) RETURNING id",
            farm,
            now,
        )[0][0]
    )


def test_nightly_run_enqueues_once_per_pond_at_local_evening(pg_database: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    tokyo = _farm_with_pond(pg_database, "Kagoshima", "Asia/Tokyo")
    _farm_with_pond(pg_database, "Bergen", "Europe/Oslo")
    sent: list[ForecastJob] = []

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        assert topic == "forecast-requests"
        sent.append(ForecastJob.decode(value))
        assert key == str(sent[-1].pond_id).encode()

    async def scenario() -> dict[int, float]:
        engine = create_async_engine(pg_database)
        metrics = WorkerMetrics()
        run = NightlyRun(engine, publish, metrics, hour=20, republish_after_s=60)
        try:
            # 11:05 UTC is 20:05 in Tokyo and 13:05 in Oslo: only the Tokyo pond is due.
            now = datetime(2025, 6, 1, 11, 5, tzinfo=UTC)
            assert await run.tick(now) == 1
            assert await run.tick(now + timedelta(minutes=30)) == 0  # once per night
            # A task whose publication was lost is sent again once it is clearly abandoned.
            await asyncio.to_thread(query, pg_database, "UPDATE tasks SET published_at = NULL")
            assert await run.tick(now + timedelta(seconds=30)) == 0
            assert await run.tick(now + timedelta(minutes=2)) == 1
            result = {
                "model_version": "x",
                "hours": [],
                "pond": {"forecast": {"prob_below_threshold": 0.7}},
            }
            await asyncio.to_thread(
                query,
                pg_database,
                "UPDATE tasks SET status = 'done', result = $1::json, finished_at = now()",
                json.dumps(result),
            )
            return await run.refresh_crash_risk(datetime.now(UTC))
        finally:
            await engine.dispose()

    risk = asyncio.run(scenario())
    assert [j.pond_id for j in sent] == [tokyo, tokyo]
    assert sent[0].task_id == sent[1].task_id
    assert sent[0].trigger == "nightly"
    assert sent[0].issued_at == datetime(2025, 6, 1, 11, 0, tzinfo=UTC)
    rows = query(pg_database, "SELECT dedupe_key, trigger FROM tasks")
    assert rows == [(f"nightly:{tokyo}:2025-06-01", "nightly")]
    assert risk == {tokyo: 0.7}

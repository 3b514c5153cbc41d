"""The nightly run on PostgreSQL and Kafka: one job per pond and local night at 20:00
pond-local time, published to a real broker through the worker's producer (as the worker
wires it), re-sent when its publication was lost, and the crash-risk gauge read back from the
results."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from worker.pipeline_harness import Pipeline, query

from service.pipeline.messages import ForecastJob
from service.pipeline.metrics import WorkerMetrics
from service.pipeline.nightly import NightlyRun
from service.pipeline.producer import KAFKA_API_VERSION
from service.pipeline.topics import FORECASTS, ensure_topics
from service.worker.consumer import Producer

pytestmark = pytest.mark.integration


def _farm_with_pond(url: str, name: str, tz: str) -> int:
    now = datetime.now(UTC)
    org = query(
        url,
        "INSERT INTO organisations (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
        f"org of {name}",
        now,
    )[0][0]
    farm = query(
        url,
        "INSERT INTO farms (org_id, name, timezone, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $4) RETURNING id",
        org,
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


def _read_topic(bootstrap: str, topic: str, expect: int) -> list[Any]:
    """Every record of ``topic`` from the beginning, until ``expect`` of them arrived."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, api_version=KAFKA_API_VERSION
    )
    try:
        partitions = _partitions(consumer, topic)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while len(records) < expect:
            assert time.monotonic() < deadline, f"{len(records)} of {expect} records on {topic}"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        # Nothing more than expected: one more poll finds the topic drained.
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
        return records
    finally:
        consumer.close()


def _partitions(consumer: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    ids = consumer.partitions_for_topic(topic)
    assert ids, f"no partitions for {topic}"
    return [TopicPartition(topic, i) for i in sorted(ids)]


def test_nightly_run_publishes_once_per_pond_at_local_evening(pipeline: Pipeline) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    pg_database = pipeline.database_url
    tokyo = _farm_with_pond(pg_database, "Kagoshima", "Asia/Tokyo")
    _farm_with_pond(pg_database, "Bergen", "Europe/Oslo")
    ensure_topics(pipeline.bootstrap, prefix=pipeline.prefix)
    producer = Producer(pipeline.bootstrap, "nightly-test")

    async def publish(topic: str, key: bytes, value: bytes) -> None:
        # As the worker's runtime wires it: the prefixed topic, acknowledged by the broker.
        await producer.asend(pipeline.prefix + topic, key, value)

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
            producer.close()

    risk = asyncio.run(scenario())
    records = _read_topic(pipeline.bootstrap, pipeline.prefix + FORECASTS, 2)
    sent = [ForecastJob.decode(r.value) for r in records]
    assert [r.key for r in records] == [str(tokyo).encode()] * 2
    assert [j.pond_id for j in sent] == [tokyo, tokyo]
    (tokyo_org,) = query(
        pg_database,
        "SELECT farms.org_id FROM ponds JOIN farms ON farms.id = ponds.farm_id WHERE ponds.id = $1",
        tokyo,
    )[0]
    assert [j.org_id for j in sent] == [tokyo_org, tokyo_org]  # the worker checks it
    assert sent[0].task_id == sent[1].task_id
    assert sent[0].trigger == "nightly"
    assert sent[0].issued_at == datetime(2025, 6, 1, 11, 0, tzinfo=UTC)
    rows = query(pg_database, "SELECT dedupe_key, trigger FROM tasks")
    assert rows == [(f"nightly:{tokyo}:2025-06-01", "nightly")]
    assert risk == {tokyo: 0.7}

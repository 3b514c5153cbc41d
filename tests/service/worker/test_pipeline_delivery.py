"""Readings through API → Kafka → worker → PostgreSQL: every one stored exactly once, through a
worker crash, and through two workers sharing partitions while one dies."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from polling import wait_for
from worker.pipeline_harness import (
    Pipeline,
    WorkerProcess,
    batch,
    count_readings,
    keys_of,
    query,
    stored_keys,
    wait_for_rows,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def _send_all(api, ponds: list[int], per_pond: int, size: int = 500, start: datetime = T0):  # type: ignore[no-untyped-def]
    """POST ``per_pond`` readings to each pond in batches of ``size``; return the expected keys."""
    expected = set()
    for pond in ponds:
        for off in range(0, per_pond, size):
            readings = batch(size, start + timedelta(hours=off))
            r = api.post(pond, readings)
            assert r.status_code == 202, r.text
            assert r.json() == {"pond_id": pond, "accepted": size, "durable": False}
            expected |= keys_of(pond, readings)
    return expected


def _assigned(worker: WorkerProcess) -> float:
    return worker.metric('worker_assigned_partitions{topic="sensor-readings"}')


def _wait_both_assigned(a: WorkerProcess, b: WorkerProcess) -> None:
    wait_for(lambda: _assigned(a) > 0 and _assigned(b) > 0, "both workers assigned partitions", 30)


def test_ten_thousand_readings_stored_exactly_once(pipeline: Pipeline) -> None:
    worker = pipeline.worker().start()
    with pipeline.api() as api:
        ponds = api.make_ponds(10)
        expected = _send_all(api, ponds, per_pond=1000)
        # The same batches again: a client retry must not double anything.
        _send_all(api, ponds[:2], per_pond=1000)
    assert len(expected) == 10_000
    wait_for_rows(pipeline.database_url, 10_000)
    wait_for(lambda: worker.metric("worker_consumer_lag{") == 0, "lag back to zero", 30)
    assert count_readings(pipeline.database_url) == 10_000
    assert stored_keys(pipeline.database_url) == expected
    m = worker.metrics()
    assert m['worker_messages_processed_total{topic="sensor-readings"}'] == 24
    assert m['worker_messages_failed_total{topic="sensor-readings"}'] == 0
    assert m['pipeline_end_to_end_seconds_count{topic="sensor-readings"}'] == 24
    assert m["worker_readings_stored_total"] == 12_000
    assert worker.stop() == 0


def test_kill_9_mid_stream_then_restart_still_exactly_once(pipeline: Pipeline) -> None:
    with pipeline.api() as api:
        ponds = api.make_ponds(10)
        expected = _send_all(api, ponds, per_pond=2000)
    # One message (500 readings) per poll and transaction: 40 commits to land the kill among.
    first = pipeline.worker(AQUA_WORKER_BATCH_MAX_MESSAGES="1").start()
    wait_for(lambda: count_readings(pipeline.database_url) >= 500, "first rows", 60, every=0.02)
    first.kill()
    stored = count_readings(pipeline.database_url)
    assert 0 < stored < len(expected), "the kill was meant to land mid-stream"
    second = pipeline.worker().start()
    wait_for_rows(pipeline.database_url, len(expected))
    wait_for(lambda: second.metric("worker_consumer_lag{") == 0, "lag back to zero", 30)
    assert count_readings(pipeline.database_url) == len(expected) == 20_000
    assert stored_keys(pipeline.database_url) == expected
    assert second.metric("worker_messages_processed_total") > 0
    assert second.stop() == 0


def test_two_workers_share_partitions_and_one_takes_over(pipeline: Pipeline) -> None:
    a = pipeline.worker().start()
    b = pipeline.worker().start()
    _wait_both_assigned(a, b)
    assert _assigned(a) + _assigned(b) == 8
    with pipeline.api() as api:
        ponds = api.make_ponds(32)  # 16 ponds per half: both workers' partitions get some
        expected = _send_all(api, ponds[:16], per_pond=500)
        wait_for(lambda: count_readings(pipeline.database_url) == len(expected), "first half", 60)
        assert a.metric("worker_messages_processed_total") > 0
        assert b.metric("worker_messages_processed_total") > 0
        a.kill()
        expected |= _send_all(api, ponds[16:], per_pond=500, start=T0 + timedelta(days=1))
    wait_for(lambda: _assigned(b) == 8, "the survivor owning every partition", 45)
    wait_for_rows(pipeline.database_url, len(expected))
    assert count_readings(pipeline.database_url) == len(expected) == 16_000
    assert stored_keys(pipeline.database_url) == expected
    rows = query(pipeline.database_url, "SELECT count(DISTINCT pond_id) FROM readings")
    assert rows[0][0] == 32
    assert b.stop() == 0


def test_sigterm_finishes_the_batch_commits_and_leaves_the_group(pipeline: Pipeline) -> None:
    # A session timeout far longer than the wait below: only leaving the group explains a
    # takeover within it.
    slow_to_notice = {"AQUA_WORKER_SESSION_TIMEOUT_MS": "45000"}
    a = pipeline.worker(**slow_to_notice).start()
    b = pipeline.worker(**slow_to_notice).start()
    _wait_both_assigned(a, b)
    with pipeline.api() as api:
        ponds = api.make_ponds(16)
        expected = _send_all(api, ponds, per_pond=1000)
    wait_for(lambda: count_readings(pipeline.database_url) > 0, "first rows", 60)
    stopped_at = time.monotonic()
    assert a.stop() == 0
    wait_for(lambda: _assigned(b) == 8, "the other worker owning every partition", 15)
    assert time.monotonic() - stopped_at < 20
    wait_for_rows(pipeline.database_url, len(expected))
    assert count_readings(pipeline.database_url) == len(expected) == 16_000
    assert stored_keys(pipeline.database_url) == expected
    messages = [r.get("message") for r in a.log_records()]
    assert "consumer closed; left the group" in messages
    assert b.stop() == 0

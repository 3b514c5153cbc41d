"""The pipeline under failure: poison messages, a stopped broker, an ML service that is down."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import wait_for
from worker.pipeline_harness import (
    ROOT,
    Pipeline,
    batch,
    count_readings,
    keys_of,
    stored_keys,
)

from service.common.schedule import issue_time
from service.pipeline.messages import ReadingsMessage
from sre_cli.infra.process import free_port

pytestmark = pytest.mark.integration

T0 = datetime(2025, 7, 1, tzinfo=UTC)


def _dead_letters(bootstrap: str, topic: str, expect: int) -> list[Any]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        api_version=(4, 0),
        consumer_timeout_ms=2000,
    )
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while len(records) < expect and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                records.extend(recs)
        return records
    finally:
        consumer.close()


def test_poison_messages_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    pipeline: Pipeline,
) -> None:
    from kafka import KafkaProducer

    worker = pipeline.worker(AQUA_WORKER_MAX_ATTEMPTS="3").start()
    with pipeline.api() as api:
        (pond,) = api.make_ponds(1)
        producer = KafkaProducer(bootstrap_servers=pipeline.bootstrap, api_version=(4, 0))
        topic = pipeline.prefix + "sensor-readings"
        # Undecodable: dead-lettered at once. A pond that does not exist: fails every time.
        producer.send(topic, key=str(pond).encode(), value=b"\x00not json")
        ghost = ReadingsMessage.model_validate(
            {"pond_id": 987654, "readings": batch(4, T0)}
        ).encode()
        producer.send(topic, key=str(pond).encode(), value=ghost)
        producer.flush()
        producer.close()
        good = batch(500, T0)
        r = api.post(pond, good)
        assert r.status_code == 202, r.text
    wait_for(lambda: count_readings(pipeline.database_url) == 500, "the good batch stored", 60)
    assert stored_keys(pipeline.database_url) == keys_of(pond, good)
    dead = _dead_letters(pipeline.bootstrap, topic + ".dlq", expect=2)
    assert [d.value for d in dead] == [b"\x00not json", ghost]
    headers = [dict(d.headers) for d in dead]
    assert headers[0][b"aqua-attempts".decode()] == b"1"
    assert headers[0]["aqua-error-type"] == b"ValidationError"
    assert headers[1]["aqua-attempts"] == b"3"
    assert headers[1]["aqua-error-type"] == b"IntegrityError"
    assert b"987654" in headers[1]["aqua-error"] or b"foreign key" in headers[1]["aqua-error"]
    assert headers[1]["aqua-source-topic"] == topic.encode()
    m = worker.metrics()
    assert m['worker_messages_dead_lettered_total{topic="sensor-readings"}'] == 2
    assert m['worker_messages_failed_total{topic="sensor-readings"}'] == 2
    assert m['worker_messages_processed_total{topic="sensor-readings"}'] == 3
    assert m['worker_retries_total{reason="message",topic="sensor-readings"}'] == 2
    assert worker.stop() == 0


def _kafka_check(api: Any) -> tuple[int, dict[str, Any]]:
    """/ready's status code and its kafka check (with the overall status)."""
    ready = api.client.get("/ready")
    return ready.status_code, {**ready.json()["checks"]["kafka"], "overall": ready.json()["status"]}


def _kafka_up_gauge(api: Any) -> float:
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith('dependency_up{dependency="kafka"} '):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no dependency_up for kafka")


def test_broker_stopped_api_answers_503_and_loses_nothing_accepted(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    from sre_cli.infra.kafka import KafkaServer

    broker = KafkaServer(tmp_path / "private-kafka").start()
    port, controller = broker.port, broker.controller_port
    try:
        pipeline.bootstrap = broker.bootstrap
        worker = pipeline.worker().start()
        accepted: set[Any] = set()
        with pipeline.api(kafka_publish_timeout_seconds=2.0) as api:
            (pond,) = api.make_ponds(1)
            before = batch(500, T0)
            assert api.post(pond, before).status_code == 202
            accepted |= keys_of(pond, before)
            code, kafka = _kafka_check(api)
            assert (code, kafka["overall"], kafka["status"]) == (200, "ready", "up")
            assert kafka["required"] is False
            assert kafka["latency_ms"] > 0
            assert _kafka_up_gauge(api) == 1

            broker.stop()
            during = batch(500, T0 + timedelta(days=1))
            r = api.post(pond, during)
            assert r.status_code == 503, r.text
            assert int(r.headers["Retry-After"]) >= 1
            assert "nothing was accepted" in r.json()["detail"]
            # Soft dependency: still ready for reads, degraded, and says why (once the reuse
            # window of the last good probe is over).
            deadline = time.monotonic() + 30
            while (checked := _kafka_check(api))[1]["status"] != "down":
                assert time.monotonic() < deadline, f"/ready still reports kafka: {checked}"
                time.sleep(0.1)
            code, kafka = checked
            assert (code, kafka["overall"], kafka["status"]) == (200, "degraded", "down"), kafka
            assert "kafka" in kafka["error"]
            assert _kafka_up_gauge(api) == 0
            assert api.client.get(f"/api/v1/ponds/{pond}", headers=api.auth).status_code == 200
            assert api.client.get("/health").json()["checks"]["kafka"]["status"] == "down"

            broker = KafkaServer(tmp_path / "private-kafka", port=port, controller_port=controller)
            broker.start()
            after = batch(500, T0 + timedelta(days=2))
            deadline = time.monotonic() + 60
            while (status := api.post(pond, after).status_code) != 202:
                assert status == 503
                assert time.monotonic() < deadline, "the API did not recover"
                time.sleep(1)
            accepted |= keys_of(pond, after)
            deadline = time.monotonic() + 30
            while (kafka := _kafka_check(api)[1])["status"] != "up":
                assert time.monotonic() < deadline, f"/ready still reports kafka: {kafka}"
                time.sleep(0.5)
            assert kafka["overall"] == "ready"
            assert _kafka_up_gauge(api) == 1
        wait_for(
            lambda: accepted <= stored_keys(pipeline.database_url),
            "every accepted reading stored",
            90,
        )
        assert worker.stop() == 0
    finally:
        broker.stop()


def _diurnal(hours_before_issue: float) -> dict[str, float]:
    """Dissolved oxygen swinging 4-10 mg/L with the sun; water at 28 °C."""
    local_hour = (20 - hours_before_issue) % 24
    do = 7.0 + 3.0 * math.sin(2 * math.pi * (local_hour - 10) / 24)
    return {"dissolved_oxygen": round(do, 3), "temperature": 28.0}


def _ml_service(port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service.ml", "serve", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_ml_service_down_forecast_jobs_retry_and_complete_after_it_returns(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    ml_port = free_port()
    worker = pipeline.worker(AQUA_ML_URL=f"http://127.0.0.1:{ml_port}").start()
    issued = issue_time(datetime.now(UTC), "UTC")
    with pipeline.api() as api:
        (pond,) = api.make_ponds(1)
        readings = []
        for half_hours in range(100):  # every 30 min over the 50 h before the issue time
            h = half_hours / 2
            ts = (issued - timedelta(hours=h)).isoformat()
            for sensor, value in _diurnal(h).items():
                readings.append({"sensor": sensor, "ts": ts, "value": value})
        assert api.post(pond, readings).status_code == 202
        wait_for(lambda: count_readings(pipeline.database_url) == 200, "history stored", 60)

        r = api.client.post(f"/api/v1/ponds/{pond}/forecast/async", headers=api.auth)
        assert r.status_code == 202, r.text
        status_url = r.json()["status_url"]

        def task() -> dict[str, Any]:
            got = api.client.get(status_url, headers=api.auth)
            assert got.status_code == 200, got.text
            body: dict[str, Any] = got.json()
            return body

        wait_for(
            lambda: (
                worker.metric('worker_retries_total{reason="dependency",topic="forecast-requests"}')
                >= 2
            ),
            "forecast retries while the ML service is down",
            60,
        )
        assert task()["status"] in ("pending", "running")

        ml = _ml_service(ml_port, tmp_path / "ml.log")
        try:
            wait_for(
                lambda: task()["status"] == "done",
                "the task done after the ML service returns",
                120,
            )
        finally:
            ml.terminate()
            ml.wait(20)
        done = task()
    assert done["trigger"] == "on_demand"
    assert datetime.fromisoformat(done["issued_at"]) == issued
    pond_forecast = done["result"]["pond"]
    assert pond_forecast["pond_id"] == str(pond)
    assert 0.0 <= pond_forecast["forecast"]["prob_below_threshold"] <= 1.0
    assert len(pond_forecast["forecast"]["p50"]) == 10
    assert [s["name"] for s in pond_forecast["what_if"]] == ["aerate"]
    assert done["attempts"] >= 2
    m = worker.metrics()
    assert m['worker_forecast_tasks_total{outcome="done"}'] == 1
    assert m['worker_messages_failed_total{topic="forecast-requests"}'] == 0
    assert httpx.get(f"http://127.0.0.1:{worker.port}/live").status_code == 200
    assert worker.stop() == 0

"""The in-process queue: the same API (202, tasks) with the worker's handlers inside the API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from polling import wait_for
from worker.pipeline_harness import api_settings, batch, running_api


def test_embedded_queue_stores_readings_and_runs_jobs(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.sqlite3'}"
    settings = api_settings(url, queue="embedded", db_migrate_on_start=True)
    with running_api(settings) as api:
        (pond,) = api.make_ponds(1)
        readings = batch(400, datetime(2025, 5, 1, tzinfo=UTC))
        r = api.post(pond, readings)
        assert r.status_code == 202, r.text
        assert r.json() == {"pond_id": pond, "accepted": 400, "durable": False}

        def stored() -> int:
            got = api.client.get(
                f"/api/v1/ponds/{pond}/readings",
                params={
                    "start": "2025-05-01T00:00:00Z",
                    "end": "2025-05-02T00:00:00Z",
                    "limit": 1000,
                },
                headers=api.auth,
            )
            assert got.status_code == 200, got.text
            return len(got.json()["points"])

        wait_for(lambda: stored() == 400, "readings stored by the in-process worker", 20)

        r = api.client.post(f"/api/v1/ponds/{pond}/forecast/async", headers=api.auth)
        assert r.status_code == 202, r.text
        url_ = r.json()["status_url"]

        def status() -> str:
            return str(api.client.get(url_, headers=api.auth).json()["status"])

        wait_for(lambda: status() == "failed", "the job finished", 20)
        task = api.client.get(url_, headers=api.auth).json()
        assert task["error"] == "no ML service configured"
        assert task["result"] is None

        metrics = api.client.get("/metrics").text
        assert 'worker_messages_processed_total{topic="sensor-readings"} 1.0' in metrics
        assert 'worker_forecast_tasks_total{outcome="failed"} 1.0' in metrics

        missing = api.client.get(
            "/api/v1/tasks/00000000-0000-4000-8000-000000000000", headers=api.auth
        )
        assert missing.status_code == 404


def test_without_a_broker_the_default_is_the_in_process_queue(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.sqlite3'}"
    settings = api_settings(url, db_migrate_on_start=True)
    assert (settings.queue, settings.queue_backend) == ("auto", "embedded")
    with running_api(settings) as api:
        (pond,) = api.make_ponds(1)
        r = api.post(pond, batch(4, datetime(2025, 5, 1, tzinfo=UTC)))
        assert r.status_code == 202, r.text
        assert r.json() == {"pond_id": pond, "accepted": 4, "durable": False}
        r = api.client.post(f"/api/v1/ponds/{pond}/forecast/async", headers=api.auth)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending"
        ready = api.client.get("/ready").json()
        assert ready["checks"]["kafka"]["status"] == "disabled"


def test_direct_mode_has_no_async_jobs(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.sqlite3'}"
    with running_api(api_settings(url, queue="direct", db_migrate_on_start=True)) as api:
        (pond,) = api.make_ponds(1)
        r = api.post(pond, batch(4, datetime(2025, 5, 1, tzinfo=UTC)))
        assert r.status_code == 200
        assert r.json()["durable"] is True
        r = api.client.post(f"/api/v1/ponds/{pond}/forecast/async", headers=api.auth)
        assert r.status_code == 501

"""PostgreSQL going away: readiness 503, database routes 503 with Retry-After, no crash, and
recovery without a restart once the database is back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from api.api_harness import harness_fixture, running_api, series, settings_for

pytestmark = pytest.mark.integration


def test_postgres_outage_and_recovery(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    harness_fixture(request, "postgres_server")  # same binaries; this test needs its own server
    from sre_cli.infra.postgres import PostgresServer
    from sre_cli.infra.process import free_port

    pg = PostgresServer(tmp_path / "pg", port=free_port()).start()
    settings = settings_for(pg.async_url, db_retry_after_seconds=7, db_connect_timeout_seconds=2)
    try:
        with running_api(settings) as api:
            c, h = api.client, api.auth("viewer")
            farm = api.farm("kept")
            pond = api.pond(farm)
            api.ingest(pond, series("dissolved_oxygen", [6.0]))
            assert c.get("/ready").status_code == 200

            pg.stop()
            for path in (
                "/api/v1/farms",
                f"/api/v1/ponds/{pond}",
                f"/api/v1/ponds/{pond}/summary",
                f"/api/v1/ponds/{pond}/readings",
            ):
                r = c.get(path, headers=h)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["retry-after"] == "7"
                assert r.json() == {"detail": "database unavailable, retry later"}
            write = api.readings(pond, series("ph", [7.0]))
            assert write.status_code == 503
            login = c.post(
                "/api/v1/auth/token", data={"username": "viewer", "password": "viewer-password-12"}
            )
            assert login.status_code == 503
            ready = c.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"]["status"] == "down"
            assert c.get("/live").status_code == 200
            assert 'dependency_up{dependency="database"} 0.0' in c.get("/metrics").text

            pg.start()
            deadline = time.monotonic() + 30
            while c.get("/ready").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert c.get("/ready").status_code == 200
            farms = c.get("/api/v1/farms", headers=h)
            assert farms.status_code == 200
            assert [f["name"] for f in farms.json()["items"]] == ["kept"]
            assert api.ingest(pond, series("ph", [7.0])).status_code == 202
            assert 'dependency_up{dependency="database"} 1.0' in c.get("/metrics").text
    finally:
        pg.stop()

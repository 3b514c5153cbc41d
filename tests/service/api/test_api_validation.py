"""Strict validation (422 naming the failing fields) and the body size limit (413)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from api.api_harness import Api, running_api, series, settings_for


def _fields(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    return [".".join(str(p) for p in err["loc"]) for err in body["detail"]]


def test_422_names_the_failing_fields(sqlite_api: Api) -> None:
    c = sqlite_api.client
    r = c.post(
        "/api/v1/ponds",
        json={
            "farm_id": 0,
            "name": "",
            "species": "salmon",
            "area_m2": -1,
            "depth_m": "deep",
            "surprise": 1,
        },
        headers=sqlite_api.auth("operator"),
    )
    assert r.status_code == 422
    assert set(_fields(r)) == {
        "body.farm_id",
        "body.name",
        "body.species",
        "body.area_m2",
        "body.depth_m",
        "body.surprise",
    }
    assert all(set(err) == {"loc", "msg", "type"} for err in r.json()["detail"])


def test_422_never_echoes_passwords(sqlite_api: Api) -> None:
    secret = "short\x00secret"
    r = sqlite_api.client.post(
        "/api/v1/users",
        json={"username": "bob", "password": secret},
        headers=sqlite_api.auth(),
    )
    assert r.status_code == 422
    assert "secret" not in r.text


def test_readings_validation(api: Api) -> None:
    pond = api.pond(api.farm())
    bad = [
        ({"sensor": "dissolved_oxygen", "ts": "2025-01-01T00:00:00", "value": 5}, "naive time"),
        ({"sensor": "dissolved_oxygen", "ts": "2025-01-01T00:00:00Z", "value": 55}, "DO range"),
        ({"sensor": "ph", "ts": "2025-01-01T00:00:00Z", "value": 15}, "pH range"),
        ({"sensor": "salinity", "ts": "2025-01-01T00:00:00Z", "value": 1}, "unknown sensor"),
        ({"sensor": "ph", "ts": "1900-01-01T00:00:00Z", "value": 7}, "too old"),
    ]
    for reading, why in bad:
        r = api.readings(pond, [reading])
        assert r.status_code == 422, why
        assert _fields(r)[0].startswith("body.readings.0"), why
    nan = '{"readings": [{"sensor": "ph", "ts": "2025-01-01T00:00:00Z", "value": NaN}]}'
    r = api.client.post(
        f"/api/v1/ponds/{pond}/readings",
        content=nan,
        headers={**api.auth("operator"), "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert api.readings(pond, []).status_code == 422
    too_many = series("temperature", [20.0] * 1001, step_minutes=1)
    r = api.readings(pond, too_many)
    assert r.status_code == 422
    assert _fields(r) == ["body.readings"]
    assert api.readings(pond, too_many[:1000]).json()["accepted"] == 1000


def test_query_validation(api: Api) -> None:
    c, h = api.client, api.auth()
    pond = api.pond(api.farm())
    assert c.get("/api/v1/ponds/0", headers=h).status_code == 422
    assert c.get(f"/api/v1/ponds/{2**40}", headers=h).status_code == 422
    assert c.get("/api/v1/ponds/abc", headers=h).status_code == 422
    r = c.get(
        f"/api/v1/ponds/{pond}/readings",
        params={"start": "2025-01-02T00:00:00Z", "end": "2025-01-01T00:00:00Z"},
        headers=h,
    )
    assert r.status_code == 422
    r = c.get(f"/api/v1/ponds/{pond}/readings", params={"bucket_seconds": 0}, headers=h)
    assert _fields(r) == ["query.bucket_seconds"]


def _limited_api(sqlite_url: str) -> Iterator[Api]:
    with running_api(settings_for(sqlite_url, max_body_bytes=4096)) as api:
        yield api


def test_413_on_declared_and_streamed_bodies(sqlite_url: str) -> None:
    for api in _limited_api(sqlite_url):
        pond = api.pond(api.farm())
        big = json.dumps({"readings": series("ph", [7.0] * 200, step_minutes=1)}).encode()
        assert len(big) > 4096
        h = {**api.auth("operator"), "content-type": "application/json"}
        r = api.client.post(f"/api/v1/ponds/{pond}/readings", content=big, headers=h)
        assert r.status_code == 413
        assert "4096" in r.json()["detail"]

        def chunks(body: bytes) -> Iterator[bytes]:  # no Content-Length: chunked transfer
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        r = api.client.post(f"/api/v1/ponds/{pond}/readings", content=chunks(big), headers=h)
        assert r.status_code == 413
        # Also without a token: the limit applies before anything reads the body.
        r = api.client.post(
            f"/api/v1/ponds/{pond}/readings",
            content=big,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413
        metrics = api.client.get("/metrics").text
        assert 'route="/api/v1/ponds/{pond_id}/readings",status="413"' in metrics

"""Farms, ponds, users and readings through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.api_harness import ADMIN, Api, series


def test_farm_crud(api: Api) -> None:
    c = api.client
    farm_id = api.farm("Delta farm")
    assert (
        c.get(f"/api/v1/farms/{farm_id}", headers=api.auth("viewer")).json()["name"] == "Delta farm"
    )

    r = c.patch(
        f"/api/v1/farms/{farm_id}", json={"location": "Mekong"}, headers=api.auth("operator")
    )
    assert r.status_code == 200
    assert r.json() == {**r.json(), "name": "Delta farm", "location": "Mekong"}

    assert (
        c.post(
            "/api/v1/farms", json={"name": "Delta farm"}, headers=api.auth("operator")
        ).status_code
        == 409
    )

    assert c.delete(f"/api/v1/farms/{farm_id}", headers=api.auth("operator")).status_code == 204
    assert c.get(f"/api/v1/farms/{farm_id}", headers=api.auth("viewer")).status_code == 404


def test_pond_crud_and_cascade(api: Api) -> None:
    c = api.client
    farm_id = api.farm()
    pond_id = api.pond(
        farm_id, "East", species="rainbow_trout", mean_weight_g=None, mean_length_cm=30.0
    )
    pond = c.get(f"/api/v1/ponds/{pond_id}", headers=api.auth("viewer")).json()
    assert pond["species"] == "rainbow_trout"
    assert pond["mean_length_cm"] == 30.0

    r = c.patch(f"/api/v1/ponds/{pond_id}", json={"stock_count": 123}, headers=api.auth("operator"))
    assert r.status_code == 200
    assert r.json()["stock_count"] == 123
    assert (
        c.post(
            "/api/v1/ponds",
            json={"farm_id": 999_999, "name": "x", "species": "other", "area_m2": 1, "depth_m": 1},
            headers=api.auth("operator"),
        ).status_code
        == 404
    )
    # Same name twice on one farm is a conflict, on another farm it is fine.
    assert (
        c.post(
            "/api/v1/ponds",
            json={
                "farm_id": farm_id,
                "name": "East",
                "species": "other",
                "area_m2": 1,
                "depth_m": 1,
            },
            headers=api.auth("operator"),
        ).status_code
        == 409
    )
    api.pond(api.farm("South"), "East")

    assert api.ingest(pond_id, series("temperature", [12.0, 12.5])).status_code == 202
    assert c.delete(f"/api/v1/farms/{farm_id}", headers=api.auth("operator")).status_code == 204
    assert c.get(f"/api/v1/ponds/{pond_id}", headers=api.auth("viewer")).status_code == 404
    assert c.get(f"/api/v1/ponds/{pond_id}/readings", headers=api.auth("viewer")).status_code == 404


def test_pagination(api: Api) -> None:
    for i in range(7):
        api.farm(f"farm-{i:02d}")
    seen: list[str] = []
    offset = 0
    while True:
        r = api.client.get(
            "/api/v1/farms", params={"limit": 3, "offset": offset}, headers=api.auth("viewer")
        )
        body = r.json()
        assert r.status_code == 200
        assert body["total"] == 7
        assert body["limit"] == 3
        if not body["items"]:
            break
        seen += [f["name"] for f in body["items"]]
        offset += 3
    assert seen == [f"farm-{i:02d}" for i in range(7)]
    assert (
        api.client.get("/api/v1/farms", params={"limit": 0}, headers=api.auth()).status_code == 422
    )
    assert (
        api.client.get("/api/v1/farms", params={"limit": 201}, headers=api.auth()).status_code
        == 422
    )


def test_ponds_filtered_by_farm(api: Api) -> None:
    a, b = api.farm("A"), api.farm("B")
    api.pond(a, "a1")
    api.pond(a, "a2")
    api.pond(b, "b1")
    r = api.client.get("/api/v1/ponds", params={"farm_id": a}, headers=api.auth("viewer"))
    assert [p["name"] for p in r.json()["items"]] == ["a1", "a2"]
    assert r.json()["total"] == 2


def test_readings_round_trip(api: Api) -> None:
    pond_id = api.pond(api.farm())
    end = datetime(2025, 7, 1, 6, 0, tzinfo=UTC)
    do = series("dissolved_oxygen", [7.5, 6.0, 4.5, 3.2], end=end, step_minutes=60)
    temp = series("temperature", [29.0, 28.5, 28.1, 27.9], end=end, step_minutes=60)
    # The default queue (in-process) accepts with 202; ingest() waits until it is stored.
    r = api.ingest(pond_id, do + temp)
    assert r.status_code == 202
    assert r.json() == {"pond_id": pond_id, "accepted": 8, "durable": False}

    q = {"start": "2025-07-01T00:00:00Z", "end": "2025-07-01T12:00:00Z"}
    points = api.get_readings(pond_id, "viewer", **q).json()["points"]
    assert len(points) == 8
    got_do = [(p["ts"], p["value"]) for p in points if p["sensor"] == "dissolved_oxygen"]
    assert got_do == [(d["ts"].replace("+00:00", "Z"), d["value"]) for d in do]

    # Same keys again with new values: updated in place, not duplicated.
    fixed = [{**d, "value": d["value"] + 0.5} for d in do]
    assert api.ingest(pond_id, fixed).json()["accepted"] == 4
    again = api.get_readings(pond_id, **q, sensor="dissolved_oxygen").json()
    assert [p["value"] for p in again["points"]] == [8.0, 6.5, 5.0, 3.7]

    # A repeated key inside one batch: the last value wins.
    dup = [{**do[0], "value": 1.0}, {**do[0], "value": 2.0}]
    assert api.ingest(pond_id, dup).json()["accepted"] == 1
    first = api.get_readings(pond_id, **q, sensor="dissolved_oxygen", limit=1).json()
    assert first["points"][0]["value"] == 2.0


def test_readings_cursor_pages_cover_everything_once(api: Api) -> None:
    pond_id = api.pond(api.farm())
    end = datetime(2025, 1, 2, tzinfo=UTC)
    batch = series("ph", [7.0 + i / 100 for i in range(30)], end=end) + series(
        "ammonia", [0.1] * 30, end=end
    )
    api.ingest(pond_id, batch)
    params: dict[str, str | int] = {
        "start": "2025-01-01T00:00:00Z",
        "end": "2025-01-03T00:00:00Z",
        "limit": 7,
    }
    keys = []
    pages = 0
    while True:
        body = api.get_readings(pond_id, "viewer", **params).json()
        keys += [(p["ts"], p["sensor"]) for p in body["points"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert len(keys) == 60
    assert len(set(keys)) == 60
    assert keys == sorted(keys)
    assert pages == 9
    bad = api.get_readings(pond_id, cursor="bm9wZQ")
    assert bad.status_code == 422


def test_readings_downsampled(api: Api) -> None:
    pond_id = api.pond(api.farm())
    end = datetime(2025, 3, 1, 1, 50, tzinfo=UTC)  # 12 readings every 10 min from 00:00
    api.ingest(pond_id, series("dissolved_oxygen", [float(i) for i in range(12)], end=end))
    body = api.get_readings(
        pond_id,
        "viewer",
        start="2025-03-01T00:00:00Z",
        end="2025-03-01T03:00:00Z",
        bucket_seconds=3600,
    ).json()
    assert body["bucket_seconds"] == 3600
    assert [(p["ts"], p["count"], p["value"], p["min"], p["max"]) for p in body["points"]] == [
        ("2025-03-01T00:00:00Z", 6, 2.5, 0.0, 5.0),
        ("2025-03-01T01:00:00Z", 6, 8.5, 6.0, 11.0),
    ]
    too_many = api.get_readings(
        pond_id, start="2020-01-01T00:00:00Z", end="2025-01-01T00:00:00Z", bucket_seconds=60
    )
    assert too_many.status_code == 422


def test_summary_biomass_and_status(api: Api) -> None:
    farm = api.farm()
    now = datetime.now(UTC).replace(microsecond=0)
    by_weight = api.pond(farm, "w", stock_count=10_000, mean_weight_g=250.0)
    by_length = api.pond(
        farm,
        "l",
        species="whiteleg_shrimp",
        mean_weight_g=None,
        mean_length_cm=10.0,
        stock_count=100_000,
    )
    api.ingest(
        by_weight, series("dissolved_oxygen", [6.0, 2.4], end=now) + series("ph", [7.8], end=now)
    )
    api.ingest(by_length, series("dissolved_oxygen", [4.2], end=now))

    s = api.client.get(f"/api/v1/ponds/{by_weight}/summary", headers=api.auth("viewer")).json()
    assert s["biomass"]["kg"] == 2500.0
    assert s["biomass"]["method"] == "mean_weight"
    assert s["biomass"]["density_kg_m2"] == 1.25
    assert s["status"] == "critical"
    assert "2.40" in s["status_reason"]
    assert {r["sensor"]: r["value"] for r in s["latest"]} == {"dissolved_oxygen": 2.4, "ph": 7.8}

    s = api.client.get(f"/api/v1/ponds/{by_length}/summary", headers=api.auth("viewer")).json()
    expected_g = 0.0106 * 10.0**3.066
    assert s["biomass"]["method"] == "length_weight"
    assert abs(s["biomass"]["mean_weight_g"] - expected_g) < 1e-3
    assert s["status"] == "warning"

    empty = api.pond(farm, "e")
    s = api.client.get(f"/api/v1/ponds/{empty}/summary", headers=api.auth("viewer")).json()
    assert s["status"] == "unknown"
    assert s["latest"] == []
    old = api.pond(farm, "o")
    api.ingest(old, series("dissolved_oxygen", [7.0], end=now - timedelta(hours=5)))
    s = api.client.get(f"/api/v1/ponds/{old}/summary", headers=api.auth("viewer")).json()
    assert s["status"] == "unknown"
    assert "old" in s["status_reason"]
    assert api.client.get("/api/v1/ponds/424242/summary", headers=api.auth()).status_code == 404


def test_users_admin(api: Api) -> None:
    c = api.client
    users = c.get("/api/v1/users", headers=api.auth()).json()
    assert [u["username"] for u in users["items"]] == [ADMIN, "operator", "viewer"]
    assert all("password" not in str(u) for u in users["items"])
    me = c.get("/api/v1/users/me", headers=api.auth("viewer")).json()
    assert me["username"] == "viewer"
    assert me["role"] == "viewer"

    viewer_id = me["id"]
    r = c.patch(f"/api/v1/users/{viewer_id}", json={"role": "operator"}, headers=api.auth())
    assert r.json()["role"] == "operator"
    # A role change revokes the tokens issued before it; a new login carries the new role.
    assert (
        c.post("/api/v1/farms", json={"name": "x"}, headers=api.auth("viewer")).status_code == 401
    )
    pair = api.login("viewer", "viewer-password-12")
    refreshed = c.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
    assert (
        c.post(
            "/api/v1/farms",
            json={"name": "x"},
            headers={"Authorization": f"Bearer {refreshed['access_token']}"},
        ).status_code
        == 201
    )

    c.patch(f"/api/v1/users/{viewer_id}", json={"is_active": False}, headers=api.auth())
    r = c.post("/api/v1/auth/token", data={"username": "viewer", "password": "viewer-password-12"})
    assert r.status_code == 401
    assert (
        c.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code
        == 401
    )

    assert (
        c.post(
            "/api/v1/users",
            json={"username": "viewer", "password": "another-password"},
            headers=api.auth(),
        ).status_code
        == 409
    )
    admin_id = c.get("/api/v1/users/me", headers=api.auth()).json()["id"]
    assert c.delete(f"/api/v1/users/{admin_id}", headers=api.auth()).status_code == 409
    assert c.delete(f"/api/v1/users/{viewer_id}", headers=api.auth()).status_code == 204
    assert c.get(f"/api/v1/users/{viewer_id}", headers=api.auth()).status_code == 404


def test_summary_of_a_pond_with_tiny_dimensions(api: Api) -> None:
    pond = api.pond(api.farm(), "tiny", area_m2=1e-200, depth_m=1e-200, mean_weight_g=250.0)
    r = api.client.get(f"/api/v1/ponds/{pond}/summary", headers=api.auth("viewer"))
    assert r.status_code == 200, r.text
    assert r.json()["biomass"]["density_kg_m3"] is None

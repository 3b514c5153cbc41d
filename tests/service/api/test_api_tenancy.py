"""Tenancy: each organisation sees and changes only its own farms, ponds, readings, forecasts,
tasks and users; another tenant's id answers as a missing one; cached summaries and the
worker's writes are keyed by and checked against the organisation. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api.api_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    PASSWORDS,
    REPO_ROOT,
    Api,
    migrated,
    running_api,
    series,
    settings_for,
)
from api.tenant_matrix import other_tenant_failures, own_tenant_failures, seed_tenant_a
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from service.api.cache import LocalTier
from service.data import migrate
from service.data.models import Farm, Organisation, Pond, Reading, Task
from service.data.summary_keys import decode_refs, encode_refs, summary_key
from service.pipeline.handlers import ForecastHandler, ReadingsHandler
from service.pipeline.messages import Envelope, ForecastJob, ReadingsMessage
from service.pipeline.metrics import WorkerMetrics
from service.pipeline.topics import FORECASTS, READINGS

SUMMARY = "/api/v1/ponds/{}/summary"
HOT = "summary_hot_path_answers_total"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_another_tenants_ids_answer_as_missing_ones(api: Api) -> None:
    other = api.add_organisation("tenant-b")
    owned = seed_tenant_a(api)
    assert not other_tenant_failures(api, other[ADMIN], owned)
    assert not own_tenant_failures(api, api.tokens[ADMIN], owned)


def test_each_organisation_sees_and_changes_only_its_own(api: Api) -> None:
    other = api.add_organisation("tenant-b")
    farm = api.farm("North")
    pond = api.pond(farm, "P1", stock_count=500)
    api.ingest(pond, series("temperature", [27.0, 27.5, 28.0]))
    b = _bearer(other["operator"])

    # A farm name is unique within an organisation only: B's "North" neither fails nor tells.
    r = api.client.post("/api/v1/farms", json={"name": "North"}, headers=b)
    assert r.status_code == 201, r.text
    b_farm = r.json()
    me = api.client.get("/api/v1/users/me", headers=b).json()
    assert (
        b_farm["org_id"]
        == me["org_id"]
        != api.client.get(f"/api/v1/farms/{farm}", headers=api.auth()).json()["org_id"]
    )
    assert api.client.post("/api/v1/farms", json={"name": "North"}, headers=b).status_code == 409

    b_pond = api.client.post(
        "/api/v1/ponds",
        json={"farm_id": b_farm["id"], "name": "P1", "species": "nile_tilapia",
              "area_m2": 10.0, "depth_m": 1.0},
        headers=b,
    )  # fmt: skip
    assert b_pond.status_code == 201, b_pond.text

    def ids(path: str, headers: dict[str, str]) -> set[int]:
        r = api.client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    assert ids("/api/v1/farms", b) == {b_farm["id"]}
    assert ids("/api/v1/farms", api.auth()) == {farm}
    assert ids("/api/v1/ponds", b) == {b_pond.json()["id"]}
    assert ids(f"/api/v1/ponds?farm_id={farm}", b) == set()
    assert ids("/api/v1/ponds", api.auth()) == {pond}

    # B's writes to A's objects changed nothing.
    assert (
        api.client.patch(f"/api/v1/ponds/{pond}", json={"stock_count": 1}, headers=b).status_code
        == 404
    )
    assert api.client.delete(f"/api/v1/ponds/{pond}", headers=b).status_code == 404
    assert api.client.delete(f"/api/v1/farms/{farm}", headers=b).status_code == 404
    r = api.client.post(
        f"/api/v1/ponds/{pond}/readings",
        json={"readings": series("temperature", [11.0])},
        headers=b,
    )
    assert r.status_code == 404
    assert api.client.get(f"/api/v1/ponds/{pond}", headers=api.auth()).json()["stock_count"] == 500
    got = api.client.get(f"/api/v1/ponds/{pond}/readings", headers=api.auth()).json()
    assert sorted(p["value"] for p in got["points"]) == [27.0, 27.5, 28.0]


def test_admins_manage_only_their_organisations_users(api: Api) -> None:
    other = api.add_organisation("tenant-b")
    b = _bearer(other[ADMIN])
    listed = api.client.get("/api/v1/users", headers=b).json()
    assert sorted(u["username"] for u in listed["items"]) == [
        "tenant-b-admin",
        "tenant-b-operator",
        "tenant-b-viewer",
    ]
    assert listed["total"] == 3
    a_users = api.client.get("/api/v1/users", headers=api.auth()).json()["items"]
    assert not any(u["username"].startswith("tenant-b") for u in a_users)
    operator = next(u for u in a_users if u["username"] == "operator")

    for method, body in (("GET", None), ("PATCH", {"is_active": False}), ("DELETE", None)):
        theirs = api.client.request(method, f"/api/v1/users/{operator['id']}", json=body, headers=b)
        missing = api.client.request(method, "/api/v1/users/987654", json=body, headers=b)
        assert (theirs.status_code, missing.status_code) == (404, 404), method
        assert theirs.json()["detail"].replace(str(operator["id"]), "N") == missing.json()[
            "detail"
        ].replace("987654", "N")
    # A's operator is untouched and still signs in.
    api.login("operator", PASSWORDS["operator"])
    assert api.client.get("/api/v1/farms", headers=api.auth("operator")).status_code == 200

    created = api.client.post(
        "/api/v1/users",
        json={"username": "tenant-b-new", "password": "tenant-b-password-1", "role": "viewer"},
        headers=b,
    )
    assert created.status_code == 201, created.text
    assert (
        created.json()["org_id"] == api.client.get("/api/v1/users/me", headers=b).json()["org_id"]
    )


def test_bootstrap_admin_is_in_the_default_organisation(api: Api) -> None:
    me = api.client.get("/api/v1/users/me", headers=api.auth()).json()
    rt = api.app.state.runtime

    async def org_name() -> str | None:
        async with rt.db.session() as session:
            name: str | None = await session.scalar(
                select(Organisation.name).where(Organisation.id == me["org_id"])
            )
            return name

    portal = api.client.portal
    assert portal is not None
    assert portal.call(org_name) == "default"


# The summary cache.


def test_local_tier_and_redis_keys_name_the_organisation() -> None:
    tier = LocalTier(ttl_seconds=60, max_entries=10)
    tier.reset(live=True)
    tier.put((1, 7), b"org 1's summary", tier.mark())
    assert tier.get((1, 7)) == b"org 1's summary"
    assert tier.get((2, 7)) is None
    tier.drop([(2, 7)])
    assert tier.get((1, 7)) == b"org 1's summary"
    assert summary_key((1, 7)) != summary_key((2, 7))
    assert decode_refs(encode_refs([(1, 7), (2, 7)]).encode()) == [(1, 7), (2, 7)]
    assert decode_refs(b"7,x:1,3:") == []


def _hot_answers(api: Api) -> float:
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith(HOT + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.integration
def test_no_cross_tenant_cache_hits(sqlite_url: str, redis_url: str) -> None:
    import redis

    settings = settings_for(sqlite_url, redis_url=redis_url, cache_local_ttl_seconds=60)
    with running_api(settings) as api:
        other = api.add_organisation("tenant-b")
        pond = api.pond(api.farm())
        api.wait_local_tier()
        rt = api.app.state.runtime
        url = SUMMARY.format(pond)
        org_a = api.client.get("/api/v1/users/me", headers=api.auth()).json()["org_id"]
        org_b = api.client.get("/api/v1/users/me", headers=_bearer(other[ADMIN])).json()["org_id"]
        assert api.client.get(url, headers=api.auth()).headers["x-cache"] == "miss"
        assert api.client.get(url, headers=api.auth()).headers["x-cache"] == "hit"  # from Redis
        before = _hot_answers(api)
        assert api.client.get(url, headers=api.auth()).status_code == 200  # the local copy
        assert _hot_answers(api) == before + 1

        for role in (ADMIN, "viewer"):
            theirs = api.client.get(url, headers=_bearer(other[role]))
            missing = api.client.get(SUMMARY.format(987654), headers=_bearer(other[role]))
            assert (theirs.status_code, missing.status_code) == (404, 404)
            assert theirs.json()["detail"].replace(str(pond), "N") == missing.json()[
                "detail"
            ].replace("987654", "N")
            assert "x-cache" not in theirs.headers
        assert _hot_answers(api) == before + 1, "the hot path answered another tenant"
        assert rt.cache.local.get((org_b, pond)) is None
        assert rt.cache.local.get((org_a, pond)) is not None

        client = redis.Redis.from_url(redis_url)
        try:
            keys = sorted(k.decode() for k in client.scan_iter("aqua:summary:*"))
        finally:
            client.close()
        assert keys == [summary_key((org_a, pond))]


# The worker: messages name the organisation the API checked; the worker checks it again.


@dataclass(frozen=True)
class Tenants:
    org_a: int
    org_b: int
    pond: int  # of organisation A
    tasks: tuple[str, str]  # pending forecasts of that pond


async def _two_tenants(engine: AsyncEngine) -> Tenants:
    await migrate.upgrade(engine)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        a, b = Organisation(name="a"), Organisation(name="b")
        session.add_all([a, b])
        await session.flush()
        farm = Farm(org_id=a.id, name="F", timezone="UTC")
        session.add(farm)
        await session.flush()
        pond = Pond(farm_id=farm.id, name="P", species="nile_tilapia", area_m2=1.0, depth_m=1.0)
        session.add(pond)
        await session.flush()
        now = datetime.now(UTC)
        tasks = [
            Task(id=str(uuid.uuid4()), pond_id=pond.id, trigger="on_demand", status="pending",
                 issued_at=now, attempts=0)
            for _ in range(2)
        ]  # fmt: skip
        session.add_all(tasks)
        await session.commit()
        return Tenants(a.id, b.id, pond.id, (tasks[0].id, tasks[1].id))


def _envelope(topic: str, value: bytes, offset: int) -> Envelope:
    return Envelope(topic=topic, value=value, timestamp_ms=int(time.time() * 1000), offset=offset)


def test_worker_writes_only_within_the_named_organisation(database_url: str) -> None:
    reading = series("temperature", [28.0])

    async def run() -> None:
        engine = create_async_engine(database_url)
        try:
            t = await _two_tenants(engine)
            stored: list[list[tuple[int, int]]] = []

            async def on_stored(refs: Any) -> None:
                stored.append(sorted(refs))

            readings = ReadingsHandler(engine, WorkerMetrics(), on_stored=on_stored)
            wrong = ReadingsMessage.model_validate(
                {"org_id": t.org_b, "pond_id": t.pond, "readings": reading}
            )
            failures = await readings.handle([_envelope(READINGS, wrong.encode(), 1)])
            assert list(failures) == [0]
            assert not failures[0].retriable, "another organisation's pond is never retried"
            assert "not in organisation" in failures[0].error
            assert stored == []
            async with engine.connect() as conn:
                assert await conn.scalar(select(func.count()).select_from(Reading)) == 0

            for org_id in (t.org_a, None):  # None: a message from before organisations
                right = ReadingsMessage.model_validate(
                    {"org_id": org_id, "pond_id": t.pond, "readings": reading}
                )
                assert await readings.handle([_envelope(READINGS, right.encode(), 2)]) == {}
            assert stored == [[(t.org_a, t.pond)], [(t.org_a, t.pond)]]

            forecasts = ForecastHandler(engine, None, WorkerMetrics())
            now = datetime.now(UTC)
            jobs = [
                ForecastJob(task_id=uuid.UUID(t.tasks[0]), org_id=t.org_b, pond_id=t.pond,
                            issued_at=now),
                ForecastJob(task_id=uuid.UUID(t.tasks[1]), org_id=t.org_a, pond_id=t.pond + 1,
                            issued_at=now),
            ]  # fmt: skip
            envelopes = [_envelope(FORECASTS, j.encode(), i) for i, j in enumerate(jobs)]
            assert await forecasts.handle(envelopes) == {}
            async with engine.connect() as conn:
                rows = (await conn.execute(select(Task.status, Task.error, Task.attempts))).all()
            assert [(status, attempts) for status, _, attempts in rows] == [("failed", 0)] * 2
            assert all("does not match its task" in str(error) for _, error, _ in rows)
        finally:
            await engine.dispose()

    asyncio.run(run())


# The operator's command.


def test_add_organisation_command(sqlite_url: str, tmp_path: Path) -> None:
    migrated(sqlite_url)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AQUA_DATABASE_URL": sqlite_url,
        "AQUA_ENVIRONMENT": "test",
        "AQUA_ARGON2_TIME_COST": "1",
        "AQUA_ARGON2_MEMORY_KIB": "64",
        "AQUA_ARGON2_PARALLELISM": "1",
    }
    password = tmp_path / "pw"
    password.write_text("acme-admin-password-1\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.api", "add-organisation", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = run("acme", "--admin", "ana", "--admin-password-file", str(password))
    assert ok.returncode == 0, ok.stderr
    assert "organisation acme created" in ok.stdout
    again = run("acme", "--admin", "bea", "--admin-password-file", str(password))
    assert (again.returncode, again.stderr.strip()) == (1, "organisation acme exists")
    taken = run("other", "--admin", "ana", "--admin-password-file", str(password))
    assert (taken.returncode, taken.stderr.strip()) == (1, "user ana exists")
    assert run("x", "--admin", "a b", "--admin-password-file", str(password)).returncode == 2
    assert run("x", "--admin", "bea").returncode == 2
    missing = run("x", "--admin", "bea", "--admin-password-file", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr

    with running_api(settings_for(sqlite_url), users=False) as api:
        token = api.login("ana", "acme-admin-password-1")["access_token"]
        me = api.client.get("/api/v1/users/me", headers=_bearer(token)).json()
        assert me["role"] == "admin"
        admin_org = api.client.get(
            "/api/v1/users/me", headers=_bearer(api.login(ADMIN, ADMIN_PASSWORD)["access_token"])
        ).json()["org_id"]
        assert me["org_id"] != admin_org


def test_load_test_accounts_join_the_admins_organisation(sqlite_api: Api, tmp_path: Path) -> None:
    """``aqua loadtest --logins N`` creates its users through the bootstrap admin: they are in
    the admin's organisation and see the farms seeded there."""
    from sre_cli.loadtest.accounts import ensure_load_users

    api = sqlite_api
    farm = api.farm("Seeded")
    accounts = ensure_load_users(api.client, "", api.tokens[ADMIN], 2, tmp_path)
    admin_org = api.client.get("/api/v1/users/me", headers=api.auth()).json()["org_id"]
    for account in accounts:
        token = api.login(account.username, account.password)["access_token"]
        assert api.client.get("/api/v1/users/me", headers=_bearer(token)).json()["org_id"] == (
            admin_org
        )
        assert api.client.get(f"/api/v1/farms/{farm}", headers=_bearer(token)).status_code == 200

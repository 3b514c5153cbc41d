"""The readiness check's database probe through a real toxiproxy in front of real PostgreSQL.

On a warm pool the probe costs one round trip, so a slow link slows ``/ready`` by about the
link's latency and does not fail it; a stalled link makes ``/ready`` 503. The added latency
is measured in the same test through the same proxy, with a generous tolerance (the machine
is shared): no wall-time bound.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from api.api_harness import Api, create_pg_database, harness_fixture, running_api, settings_for
from infra_harness import ToxiproxyFactory

from sre_cli.infra.toxiproxy import Toxic, Toxiproxy

pytestmark = pytest.mark.integration

LATENCY_MS = 200
ROUNDS = 5


@dataclass
class ProxiedDatabase:
    proxy: Toxiproxy
    url: str  # the API's URL: through the proxy

    def round_trip_ms(self) -> float:
        """Median of a few ``SELECT 1`` round trips of a plain client through the proxy."""
        import asyncpg

        async def measure() -> float:
            conn = await asyncpg.connect(self.url.replace("+asyncpg", ""), timeout=30)
            try:
                samples = []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    assert await conn.fetchval("SELECT 1") == 1
                    samples.append(time.perf_counter() - started)
                return statistics.median(samples) * 1000
            finally:
                await conn.close()

        return asyncio.run(measure())


@pytest.fixture
def proxied_db(request: pytest.FixtureRequest) -> Iterator[ProxiedDatabase]:
    pg = harness_fixture(request, "postgres_server")
    factory: ToxiproxyFactory = harness_fixture(request, "toxiproxy_factory")
    server = factory({"postgres": pg.port})
    url = create_pg_database(pg.url).replace(f":{pg.port}/", f":{server.proxies[0].listen}/")
    yield ProxiedDatabase(server.client(), url)
    server.client().reset()


def _database_check(api: Api) -> tuple[int, dict[str, object]]:
    r = api.client.get("/ready")
    return r.status_code, r.json()["checks"]["database"]


@pytest.mark.parametrize("pre_ping", [True, False], ids=["pre-ping", "no-pre-ping"])
def test_ready_costs_one_round_trip_on_a_slow_link(
    proxied_db: ProxiedDatabase, pre_ping: bool
) -> None:
    settings = settings_for(proxied_db.url, db_pool_pre_ping=pre_ping)
    with running_api(settings, users=False) as api:
        assert _database_check(api)[0] == 200
        baseline_ms = proxied_db.round_trip_ms()
        proxied_db.proxy.add_toxic(
            "postgres", Toxic("latency", {"latency": LATENCY_MS, "jitter": 0})
        )
        added_ms = proxied_db.round_trip_ms() - baseline_ms
        assert added_ms >= LATENCY_MS * 0.8, f"the proxy added only {added_ms:.0f} ms"

        reported = []
        for _ in range(ROUNDS):
            code, check = _database_check(api)
            assert code == 200, check
            assert check["status"] == "up", check
            assert isinstance(check["latency_ms"], float)
            reported.append(check["latency_ms"])
        probe_ms = statistics.median(reported)
        # One round trip: at least the added latency, well short of two.
        assert added_ms * 0.8 <= probe_ms <= added_ms * 1.6, (added_ms, reported)


def test_ready_is_503_while_the_link_stalls_and_200_after(proxied_db: ProxiedDatabase) -> None:
    with running_api(settings_for(proxied_db.url), users=False) as api:
        assert _database_check(api)[0] == 200
        proxied_db.proxy.add_toxic("postgres", Toxic("timeout", {"timeout": 0}))
        for _ in range(2):  # the pooled connection, then a new one: both stall
            code, check = _database_check(api)
            assert code == 503, check
            assert check["status"] == "down", check
            assert "Timeout" in str(check["error"]), check

        proxied_db.proxy.remove_toxics("postgres")
        deadline = time.monotonic() + 30
        code, check = _database_check(api)
        while code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            code, check = _database_check(api)
        assert code == 200, check
        assert check["status"] == "up"

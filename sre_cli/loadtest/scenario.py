"""The locust users of a run: the built-in ``reference`` scenario, or a user's locustfile.

The reference scenario logs in once per simulated user (``POST /api/v1/auth/token``), then
waits 0.2-1 s between requests, picking a pond at random from those that existed before the
run:

====================================  ======  ==========================================
request                               share   what
====================================  ======  ==========================================
GET  /api/v1/ponds/{id}/summary         50 %  newest readings, biomass, status (cached)
GET  /api/v1/ponds?limit=50             30 %  the pond list
GET  /api/v1/ponds/{id}/readings        15 %  the last 24 h, hourly buckets
POST /api/v1/ponds/{id}/readings         5 %  500 readings: 250 seconds × (DO, temperature)
====================================  ======  ==========================================

Logins are setup, not the mix: they are reported apart and stay out of the verdict (a
deliberately slow password hash would otherwise dominate the p95 of a short run).

The readings it writes are healthy values (DO 6-8 mg/L, 27-29 °C) at the current time, so
they never raise an oxygen alert. Redirects are not followed and proxy settings from the
environment are ignored: every request goes to the loopback target and nowhere else.

Locust is imported inside the functions: importing it monkey-patches the standard library.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sre_cli.errors import UsageError
from sre_cli.loadtest.plan import Credentials

if TYPE_CHECKING:
    from locust import User

__all__ = ["INGEST_READINGS", "load_locustfile", "readings_body", "reference_user"]

INGEST_READINGS = 500
SUMMARY = "/api/v1/ponds/{id}/summary"
READINGS = "/api/v1/ponds/{id}/readings"


def readings_body(rng: random.Random, now: datetime | None = None) -> dict[str, Any]:
    """500 readings: the last 250 seconds of dissolved oxygen and temperature."""
    end = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(seconds=1)
    readings: list[dict[str, Any]] = []
    for k in range(INGEST_READINGS // 2):
        ts = (end - timedelta(seconds=k)).isoformat()
        readings.append(
            {"sensor": "dissolved_oxygen", "ts": ts, "value": round(rng.uniform(6.0, 8.0), 3)}
        )
        readings.append(
            {"sensor": "temperature", "ts": ts, "value": round(rng.uniform(27.0, 29.0), 3)}
        )
    return {"readings": readings}


def reference_user(pond_ids: list[int], accounts: tuple[Credentials, ...]) -> type[User]:
    """The reference scenario's user class for these ponds; the n-th simulated user logs in
    as ``accounts[n % len(accounts)]``."""
    from itertools import count

    from locust import HttpUser, between, task
    from locust.exception import StopUser

    ponds = list(pond_ids)
    forms = [{"username": c.username, "password": c.password} for c in accounts]
    started = count()

    class ReferenceUser(HttpUser):
        wait_time = between(0.2, 1.0)

        def on_start(self) -> None:
            self.client.trust_env = False  # no proxy from the environment: loopback only
            self.rng = random.Random()  # noqa: S311 - load mix, not a secret
            form = forms[next(started) % len(forms)]
            r = self.client.post(
                "/api/v1/auth/token", data=form, allow_redirects=False, context={"setup": True}
            )
            if r.status_code != 200:
                raise StopUser
            self.client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

        def pond(self) -> int:
            return self.rng.choice(ponds)

        @task(10)
        def summary(self) -> None:
            self.client.get(
                f"/api/v1/ponds/{self.pond()}/summary", name=SUMMARY, allow_redirects=False
            )

        @task(6)
        def pond_list(self) -> None:
            self.client.get("/api/v1/ponds?limit=50", name="/api/v1/ponds", allow_redirects=False)

        @task(3)
        def reading_query(self) -> None:
            self.client.get(
                f"/api/v1/ponds/{self.pond()}/readings?bucket_seconds=3600",
                name=READINGS,
                allow_redirects=False,
            )

        @task(1)
        def ingest(self) -> None:
            self.client.post(
                f"/api/v1/ponds/{self.pond()}/readings",
                json=readings_body(self.rng),
                name=READINGS,
                allow_redirects=False,
            )

    return ReferenceUser


def load_locustfile(path: Path) -> list[type[User]]:
    """The user classes of a locustfile (its shape class, if any, is not used)."""
    from locust.util.load_locustfile import load_locustfile as load

    try:
        users, _shapes = load(str(path.resolve()))
    except (OSError, SyntaxError, ImportError) as exc:
        raise UsageError(f"cannot load the locustfile {path}: {exc}") from exc
    if not users:
        raise UsageError(f"{path} defines no locust User class")
    return list(users.values())

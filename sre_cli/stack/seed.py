"""``aqua stack seed``: demo farms, ponds and sensor readings, and light traffic, through the API.

Everything goes through the stack's front door (nginx, or api-1 without it) with the stack's
own bootstrap admin, whose password was generated into ``ROOT/secrets.json``; nothing uses a
default secret. Seeding twice is harmless: farms and ponds are found by name, readings are
keyed by (pond, sensor, time) and overwrite themselves.

The first demo farm is placed in a time zone where it is 21:00 now (``Etc/GMT±N``), so the
workers' nightly forecast, which runs between 20:00 and midnight farm-local, runs during the
demo and the crash-risk gauge (``aqua_pond_crash_risk``) has values; the others are in UTC.

Readings come from the pond oxygen-budget simulator (:mod:`service.ml.simulator`): hourly
dissolved oxygen and water temperature for the last ``hours`` hours, ending at the current
hour. Without it (a CLI-only install, no numpy), a documented fallback draws a daily sine:
DO 6.5 ± 2.5 mg/L peaking at 15:00 and temperature 28 ± 1.5 °C peaking at 16:00, plus noise.
With the ML service up, the seed also asks it for tonight's forecast of every pond.

``--traffic S`` then drives ``rate`` requests per second for ``S`` seconds (bounded, at most an
hour): pond summaries, pond lists, reading queries, new readings and forecasts, so dashboards
and SLOs have real traffic. Any 5xx or connection failure is counted and reported.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sre_cli.errors import Unavailable, UsageError
from sre_cli.stack.state import load_or_create_secrets

if TYPE_CHECKING:
    import httpx

    from sre_cli.stack.control import StackControl

__all__ = ["PondSeries", "SeedOptions", "SeedReport", "fallback_series", "run_seed"]

MAX_TRAFFIC_S = 3600.0
SPECIES = ("nile_tilapia", "channel_catfish", "whiteleg_shrimp")
ML_SPECIES = {"nile_tilapia": "tilapia", "channel_catfish": "channel_catfish",
              "whiteleg_shrimp": "whiteleg_shrimp"}  # fmt: skip

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SeedOptions:
    farms: int = 2
    ponds_per_farm: int = 3
    hours: int = 72
    traffic_s: float = 0.0
    rate: float = 5.0
    seed: int = 42


@dataclass(frozen=True)
class PondSeries:
    """Hourly series of one pond, oldest first; the last value is the current hour."""

    depth_m: float
    do_mg_l: list[float]
    temperature_c: list[float]
    light: list[float]
    wind_m_s: list[float]
    feed_kg_ha: list[float]
    aeration_kw_ha: list[float]
    source: str


@dataclass
class SeedReport:
    farms: int = 0
    ponds: int = 0
    readings: int = 0
    forecasts: int = 0
    #: reading batches answered 202 (queued for a worker) rather than stored in the request
    queued: int = 0
    #: asynchronous forecast jobs queued through the API (a worker or the embedded queue runs them)
    jobs: int = 0
    source: str = ""
    traffic: Counter[str] = field(default_factory=Counter)
    failures: int = 0

    def __rich__(self) -> str:
        lines = [
            f"seeded {self.farms} farms, {self.ponds} ponds, {self.readings} readings "
            f"({self.source}), {self.forecasts} forecasts, {self.jobs} forecast jobs queued",
        ]
        if self.queued:
            lines.append(f"{self.queued} reading batches were queued, stored asynchronously")
        if self.traffic:
            total = sum(self.traffic.values())
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.traffic.items()))
            lines.append(f"traffic: {total} requests ({detail}); failures: {self.failures}")
        return "\n".join(lines)


def evening_zone(now: datetime, hour: int = 21) -> str:
    """An IANA ``Etc/GMT±N`` zone whose local time is ``hour``:xx at ``now`` (UTC)."""
    offset = (hour - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    # POSIX-style names: Etc/GMT-5 is UTC+5.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def fallback_series(n_ponds: int, hours: int, seed: int, end: datetime) -> list[PondSeries]:
    """The documented fallback generator: daily sines plus noise (see the module docstring)."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    out = []
    for _ in range(n_ponds):
        depth = rng.uniform(0.8, 2.0)
        do, temp, light, wind = [], [], [], []
        for k in range(hours):
            hour = (end - timedelta(hours=hours - 1 - k)).hour
            do.append(
                max(0.5, 6.5 + 2.5 * math.sin(2 * math.pi * (hour - 9) / 24) + rng.gauss(0, 0.15))
            )
            temp.append(28 + 1.5 * math.sin(2 * math.pi * (hour - 10) / 24) + rng.gauss(0, 0.1))
            light.append(
                max(0.0, 1500 * math.sin(math.pi * (hour - 6) / 12)) if 6 <= hour <= 18 else 0.0
            )
            wind.append(abs(rng.gauss(3.0, 1.0)))
        out.append(
            PondSeries(depth, do, temp, light, wind, [0.0] * hours, [0.0] * hours, "fallback")
        )
    return out


def simulated_series(n_ponds: int, hours: int, seed: int, end: datetime) -> list[PondSeries]:
    """Hourly series from the pond simulator, aligned so the last value is ``end``'s hour."""
    try:
        from service.ml.simulator import simulate
    except ImportError:
        return fallback_series(n_ponds, hours, seed, end)
    days = hours // 24 + 3
    run = simulate(n_ponds, days, seed)
    # Hour 0 of the run is midnight: end on the same hour of day on the last full day.
    last = (days - 1) * 24 + end.hour
    first = last - hours + 1
    out = []
    for j in range(n_ponds):

        def take(arr: Any, j: int = j) -> list[float]:
            return [round(float(v), 3) for v in arr[j, first : last + 1]]

        out.append(PondSeries(
            depth_m=round(float(run.params.depth_m[j]), 2),
            do_mg_l=take(run.do), temperature_c=take(run.temp_c), light=take(run.light),
            wind_m_s=take(run.wind), feed_kg_ha=take(run.feed_kg_ha),
            aeration_kw_ha=take(run.aeration_kw_ha), source="service.ml.simulator",
        ))  # fmt: skip
    return out


class _Api:
    """The stack's API as the bootstrap admin; logs in again when the token expires."""

    def __init__(self, client: httpx.Client, base: str, username: str, password: str) -> None:
        self.client, self.base = client, base.rstrip("/")
        self.username, self.password = username, password
        self.token = ""
        self.lock = threading.Lock()

    def login(self) -> None:
        r = self.client.post(
            f"{self.base}/api/v1/auth/token",
            data={"username": self.username, "password": self.password},
        )
        if r.status_code != 200:
            raise Unavailable(
                f"login as {self.username} failed: HTTP {r.status_code} {r.text[:200]}"
            )
        self.token = r.json()["access_token"]

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.token}"}
            r = self.client.request(method, f"{self.base}{path}", headers=headers, **kw)
            if r.status_code == 401 and attempt == 0:
                with self.lock:
                    self.login()
                continue
            return r
        return r

    def find_or_create(self, path: str, body: dict[str, Any], key: dict[str, Any]) -> Any:
        """POST ``body``; on a 409 find the existing item whose fields equal ``key``."""
        r = self.call("POST", path, json=body)
        if r.status_code == 201:
            return r.json()
        if r.status_code == 409:
            offset = 0
            while True:
                page = self.call("GET", path, params={"limit": 200, "offset": offset}).json()
                items = page.get("items", [])
                for item in items:
                    if all(item.get(k) == v for k, v in key.items()):
                        return item
                offset += len(items)
                if not items or offset >= int(page.get("total", 0)):
                    break
        raise Unavailable(f"POST {path} answered HTTP {r.status_code}: {r.text[:200]}")


def _forecast_body(series: PondSeries, pond_id: int, species: str) -> dict[str, Any]:
    h = 48
    night = 10
    return {
        "pond_id": str(pond_id),
        "depth_m": min(max(series.depth_m, 0.3), 5.0),
        "species": ML_SPECIES.get(species, "tilapia"),
        "history": {
            "do_mg_l": series.do_mg_l[-h:],
            "temperature_c": series.temperature_c[-h:],
            "light_umol_m2_s": series.light[-h:],
            "wind_m_s": series.wind_m_s[-h:],
            "feed_kg_ha": series.feed_kg_ha[-h:],
            "aeration_kw_ha": series.aeration_kw_ha[-h:],
        },
        "tonight": {
            "aeration_kw_ha": [0.0] * night,
            "temperature_c": [series.temperature_c[-1]] * night,
            "wind_m_s": [series.wind_m_s[-1]] * night,
        },
        "what_if": [{"name": "aerate", "aeration_kw_ha": [2.0] * night}],
    }


def run_seed(
    ctl: StackControl, options: SeedOptions, progress: Progress | None = None
) -> SeedReport:
    """Seed the stack run by ``ctl``; see the module docstring."""
    import httpx

    say = progress or (lambda _msg: None)
    if options.traffic_s > MAX_TRAFFIC_S or options.traffic_s < 0:
        raise UsageError(f"--traffic must be between 0 and {MAX_TRAFFIC_S:.0f} seconds")
    if options.hours < 48:
        raise UsageError("--hours must be at least 48 (the forecaster needs 48 hours of history)")
    plan = ctl.plan()
    if not plan.entry_url or ctl.supervisor_pid() is None:
        raise Unavailable("the stack's API is not running", hint="start it with `aqua stack up`")
    secrets = load_or_create_secrets(ctl.layout.secrets_file)
    ml = plan.of_kind("ml")
    report = SeedReport()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    n_ponds = options.farms * options.ponds_per_farm
    # The ML service answers only holders of the stack's service token (the API, the worker
    # and this seed).
    ml_headers = {"Authorization": f"Bearer {secrets.ml_service_token}"}
    with httpx.Client(timeout=30.0) as client:
        api = _Api(client, plan.entry_url, secrets.admin_username, secrets.admin_password)
        api.login()
        series = simulated_series(n_ponds, options.hours, options.seed, end)
        report.source = series[0].source if series else ""
        ponds: list[tuple[int, str, PondSeries]] = []
        for f in range(1, options.farms + 1):
            name = f"Demo farm {f}"
            tz = evening_zone(datetime.now(UTC)) if f == 1 else "UTC"
            farm_body = {"name": name, "location": "aqua demo", "timezone": tz}
            farm = api.find_or_create("/api/v1/farms", farm_body, {"name": name})
            if farm.get("timezone", tz) != tz:
                api.call("PATCH", f"/api/v1/farms/{farm['id']}", json={"timezone": tz})
            report.farms += 1
            for p in range(1, options.ponds_per_farm + 1):
                s = series[len(ponds)]
                species = SPECIES[(len(ponds)) % len(SPECIES)]
                pname = f"Pond {f}-{p}"
                body = {"farm_id": farm["id"], "name": pname, "species": species,
                        "area_m2": 5000.0, "depth_m": s.depth_m, "stock_count": 20000,
                        "mean_weight_g": 250.0}  # fmt: skip
                key = {"name": pname, "farm_id": farm["id"]}
                pond = api.find_or_create("/api/v1/ponds", body, key)
                ponds.append((pond["id"], species, s))
                report.ponds += 1
        say(f"{report.farms} farms, {report.ponds} ponds")
        for pond_id, _species, s in ponds:
            readings = []
            for k in range(options.hours):
                ts = (end - timedelta(hours=options.hours - 1 - k)).isoformat()
                readings.append({"sensor": "dissolved_oxygen", "ts": ts, "value": s.do_mg_l[k]})
                readings.append({"sensor": "temperature", "ts": ts, "value": s.temperature_c[k]})
            for i in range(0, len(readings), 1000):
                r = api.call("POST", f"/api/v1/ponds/{pond_id}/readings",
                             json={"readings": readings[i : i + 1000]})  # fmt: skip
                if r.status_code not in (200, 202):  # 202: queued for a worker to store
                    raise Unavailable(
                        f"storing readings answered HTTP {r.status_code}: {r.text[:200]}"
                    )
                report.readings += int(r.json().get("accepted", 0))
                report.queued += 0 if r.json().get("durable", True) else 1
        say(f"{report.readings} readings from {report.source}")
        for pond_id, _species, _s in ponds if plan.queue != "direct" else []:
            r = api.call("POST", f"/api/v1/ponds/{pond_id}/forecast/async")
            if r.status_code == 202:
                report.jobs += 1
            elif r.status_code in (404, 405, 501, 503):
                say(f"forecast jobs not queued: HTTP {r.status_code} {r.text[:120]}")
                break
            else:
                raise Unavailable(
                    f"queueing a forecast answered HTTP {r.status_code}: {r.text[:200]}"
                )
        if ml:
            body = {"ponds": [_forecast_body(s, pid, sp) for pid, sp, s in ponds]}
            r = client.post(f"{ml[0].url}/v1/forecast", json=body, headers=ml_headers)
            if r.status_code == 200:
                report.forecasts += len(ponds)
            else:
                say(f"forecast answered HTTP {r.status_code}: {r.text[:200]}")
        if options.traffic_s > 0:
            say(f"traffic: {options.rate:g} req/s for {options.traffic_s:g}s via {plan.entry_url}")
            _traffic(api, ml[0].url if ml else None, ponds, options, report, ml_headers)
    return report


def _traffic(
    api: _Api,
    ml_url: str | None,
    ponds: list[tuple[int, str, PondSeries]],
    options: SeedOptions,
    report: SeedReport,
    ml_headers: dict[str, str],
) -> None:
    rng = random.Random(options.seed)  # noqa: S311 - demo traffic, not a secret
    lock = threading.Lock()

    def one(i: int, roll: float, noise: float) -> None:
        pond_id, species, s = ponds[i % len(ponds)]
        try:
            if roll < 0.45:
                kind, r = "summary", api.call("GET", f"/api/v1/ponds/{pond_id}/summary")
            elif roll < 0.65:
                kind, r = "list", api.call("GET", "/api/v1/ponds", params={"limit": 50})
            elif roll < 0.80:
                kind, r = "readings", api.call("GET", f"/api/v1/ponds/{pond_id}/readings")
            elif roll < 0.95 or ml_url is None:
                now = datetime.now(UTC).isoformat()
                value = min(max(s.do_mg_l[-1] + noise, 0.0), 30.0)
                body = {"readings": [{"sensor": "dissolved_oxygen", "ts": now, "value": value}]}
                kind, r = "ingest", api.call("POST", f"/api/v1/ponds/{pond_id}/readings", json=body)
            else:
                body = {"ponds": [_forecast_body(s, pond_id, species)]}
                kind, r = (
                    "forecast",
                    api.client.post(f"{ml_url}/v1/forecast", json=body, headers=ml_headers),
                )
            failed = r.status_code >= 500
        except Exception:  # a refused connection is a failed request, counted, not fatal
            kind, failed = "error", True
        with lock:
            report.traffic[kind] += 1
            report.failures += int(failed)

    interval = 1.0 / max(options.rate, 0.1)
    deadline = time.monotonic() + options.traffic_s
    with ThreadPoolExecutor(max_workers=8) as pool:
        i = 0
        next_at = time.monotonic()
        while next_at < deadline:
            pool.submit(one, i, rng.random(), rng.gauss(0, 0.2))
            i += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

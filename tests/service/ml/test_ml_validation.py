"""Every kind of bad input gets a 422 that names the field and the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from service.ml.app import create_app
from service.ml.dataset import EVAL_STREAM, generate
from service.ml.payloads import forecast_request

Body = dict[str, Any]


class AppClient:
    """The real app in-process (lifespan included) on a private event loop."""

    def __init__(self) -> None:
        self.app = create_app()
        self.loop = asyncio.new_event_loop()
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.loop.run_until_complete(self.lifespan.__aenter__())
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://ml"
        )

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.post(path, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.run_until_complete(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def client() -> Iterator[AppClient]:
    c = AppClient()
    yield c
    c.close()


@pytest.fixture(scope="module")
def good() -> Body:
    nights = generate(2, 31, EVAL_STREAM)
    body: Body = json.loads(forecast_request(nights, 0, 1).model_dump_json())
    body["ponds"][0]["history"]["do_mg_l"] = [
        7.0 if v is None else v for v in body["ponds"][0]["history"]["do_mg_l"]
    ]
    return body


def _set(path: str, value: Any) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        keys = path.split(".")
        node = body["ponds"][0]
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _truncate(path: str, n: int) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        section, name = path.split(".")
        values = body["ponds"][0][section][name]
        body["ponds"][0][section][name] = (values * 2)[:n]

    return edit


def _gap(hours: int) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        for i in range(10, 10 + hours):
            body["ponds"][0]["history"]["do_mg_l"][i] = None

    return edit


def _drop(name: str) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        del body["ponds"][0]["history"][name]

    return edit


def _extra(body: Body) -> None:
    body["ponds"][0]["surprise"] = 1


def _no_ponds(body: Body) -> None:
    body["ponds"] = []


def _bad_plan(body: Body) -> None:
    body["ponds"][0]["what_if"] = [{"name": "off", "aeration_kw_ha": [0.0] * 9}]


BAD: dict[str, tuple[Callable[[Body], None], str]] = {
    "short DO history": (_truncate("history.do_mg_l", 47), "expected 48 hourly values, got 47"),
    "long temperature history": (
        _truncate("history.temperature_c", 49),
        "expected 48 hourly values, got 49",
    ),
    "short night plan": (_truncate("tonight.aeration_kw_ha", 9), "expected 10 hourly values"),
    "long night forecast": (_truncate("tonight.temperature_c", 11), "expected 10 hourly values"),
    "what-if plan of the wrong length": (_bad_plan, "expected 10 hourly values, got 9"),
    "NaN DO": (_set("history.do_mg_l.5", float("nan")), "not a number"),
    "infinite temperature": (_set("history.temperature_c.5", float("inf")), "not a number"),
    "NaN forecast wind": (_set("tonight.wind_m_s.2", float("nan")), "not a number"),
    "DO above 30": (_set("history.do_mg_l.40", 30.5), "outside the range 0..30"),
    "negative DO": (_set("history.do_mg_l.40", -0.1), "outside the range 0..30"),
    "temperature above 40": (_set("history.temperature_c.3", 41.0), "outside the range -2..40"),
    "temperature below -2": (_set("history.temperature_c.3", -3.0), "outside the range -2..40"),
    "forecast temperature above 40": (
        _set("tonight.temperature_c.0", 45.0),
        "outside the range -2..40",
    ),
    "negative light": (_set("history.light_umol_m2_s.12", -5.0), "outside the range"),
    "hurricane wind": (_set("history.wind_m_s.12", 55.0), "outside the range"),
    "negative aeration plan": (_set("tonight.aeration_kw_ha.1", -1.0), "outside the range"),
    "3 h gap": (_gap(3), "gap longer than 2 h"),
    "missing feed record": (_set("history.feed_kg_ha.7", None), "valid number"),
    "missing series": (_drop("wind_m_s"), "Field required"),
    "unknown field": (_extra, "Extra inputs are not permitted"),
    "no ponds": (_no_ponds, "at least 1"),
    "zero depth": (_set("depth_m", 0.0), "greater than or equal to 0.3"),
    "unknown species": (_set("species", "goldfish"), "Input should be"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_rejected_with_the_reason(client: AppClient, good: Body, case: str) -> None:
    edit, reason = BAD[case]
    body = json.loads(json.dumps(good))
    edit(body)
    r = client.post("/v1/forecast", content=json.dumps(body))  # allows NaN/Infinity literals
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(reason in d["msg"] for d in detail), detail
    assert all(d["loc"][0] == "body" for d in detail)


def test_body_that_is_not_json_is_rejected(client: AppClient) -> None:
    r = client.post("/v1/forecast", content=b"{not json")
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("hours", [1, 2])
def test_gaps_up_to_2_h_are_filled(client: AppClient, good: Body, hours: int) -> None:
    body = json.loads(json.dumps(good))
    _gap(hours)(body)
    body["ponds"][0]["history"]["do_mg_l"][47] = None
    r = client.post("/v1/forecast", json=body)
    assert r.status_code == 200, r.text
    assert len(r.json()["ponds"][0]["forecast"]["p50"]) == 10


def test_threshold_follows_species_unless_given(client: AppClient, good: Body) -> None:
    body = json.loads(json.dumps(good))
    body["ponds"][0]["species"] = "whiteleg_shrimp"
    assert client.post("/v1/forecast", json=body).json()["ponds"][0]["threshold_mg_l"] == 4.0
    body["ponds"][0]["threshold_mg_l"] = 2.5
    assert client.post("/v1/forecast", json=body).json()["ponds"][0]["threshold_mg_l"] == 2.5


@pytest.mark.parametrize("case", sorted(BAD))
def test_fast_intake_rejects_every_bad_case(good: Body, case: str) -> None:
    from service.ml.intake import _fast

    edit, _ = BAD[case]
    body = json.loads(json.dumps(good))
    edit(body)
    assert _fast(json.dumps(body).encode()) is None


def test_fast_intake_agrees_with_the_contract_on_mutated_requests(good: Body) -> None:
    """Seeded single- and multi-value edits: the fast models accept exactly what the contract
    accepts, and read the same numbers."""
    import random

    from pydantic import ValidationError

    from service.ml.intake import _fast
    from service.ml.schemas import ForecastRequest

    rng = random.Random(5)
    series = [
        ("history", n, 48)
        for n in (
            "do_mg_l",
            "temperature_c",
            "light_umol_m2_s",
            "wind_m_s",
            "feed_kg_ha",
            "aeration_kw_ha",
        )
    ] + [("tonight", n, 10) for n in ("aeration_kw_ha", "temperature_c", "wind_m_s")]
    edges: list[Any] = [
        None,
        float("nan"),
        float("inf"),
        -float("inf"),
        -2.0,
        -2.0001,
        0.0,
        -0.0001,
        30.0,
        30.0001,
        40.0,
        40.0001,
        1000.0,
        1000.5,
        2500.0,
        2500.1,
        "7.5",
        True,
        7,
        1e308,
    ]
    accepted = rejected = 0
    for _ in range(400):
        body = json.loads(json.dumps(good))
        pond = body["ponds"][0]
        for _ in range(rng.choice([1, 1, 2, 3])):
            section, name, hours = rng.choice(series)
            start = rng.randrange(hours)
            value = rng.choice(edges)
            for i in range(start, min(hours, start + rng.choice([1, 1, 2, 3]))):
                pond[section][name][i] = value
        if rng.random() < 0.2:
            pond["depth_m"] = rng.choice([0.3, 0.29, 5.0, 5.01, float("nan")])
        if rng.random() < 0.2:
            pond["threshold_mg_l"] = rng.choice([None, 0.5, 0.49, 10.0, 10.01])
        raw = json.dumps(body).encode()
        fast = _fast(raw)
        try:
            full = ForecastRequest.model_validate_json(raw)
        except ValidationError:
            assert fast is None, body
            rejected += 1
            continue
        assert fast is not None, body
        accepted += 1
        assert fast.model_dump() == full.model_dump()
    # Both sides of the boundary were exercised.
    assert accepted > 50
    assert rejected > 50


def test_mounted_path_gets_the_same_answer_as_the_direct_one(client: AppClient, good: Body) -> None:
    """Under a root path the request misses the bare hot path and goes through FastAPI."""
    direct = client.post("/v1/forecast", json=good)
    mounted = client.loop.run_until_complete(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=client.app, root_path="/ml"), base_url="http://ml"
        ).post("/ml/v1/forecast", json=good)
    )
    assert direct.status_code == mounted.status_code == 200
    assert direct.json() == mounted.json()
    bad = json.loads(json.dumps(good))
    bad["ponds"][0]["depth_m"] = 0.0
    assert (
        client.post("/v1/forecast", json=bad).json()
        == client.loop.run_until_complete(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=client.app, root_path="/ml"), base_url="http://ml"
            ).post("/ml/v1/forecast", json=bad)
        ).json()
    )


def test_body_over_16_mib_is_refused(client: AppClient) -> None:
    r = client.post("/v1/forecast", content=b" " * (16 * 1024 * 1024 + 1))
    assert r.status_code == 413
    assert "16 MiB" in r.json()["detail"]


def test_other_methods_on_the_forecast_path_are_not_allowed(client: AppClient) -> None:
    r = client.loop.run_until_complete(client.http.get("/v1/forecast"))
    assert r.status_code == 405

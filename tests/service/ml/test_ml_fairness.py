"""One large request does not hold the service: small requests go between its parts.

A 1,024-pond × 9-scenario request (about 2.7 MB) is parsed in a helper process and forecast
in parts of at most ``AQUA_ML_MAX_REQUEST_PASS`` windows (64), each behind the small requests
waiting. Single-pond requests sent while it runs are all answered before it; with one pass
per request they waited behind it (1.7 s instead of 13 ms on a quiet machine), and with the
body parsed on a thread of the server they waited 0.5-0.8 s while it was parsed. Latencies are
printed, not asserted (bench/ml/headofline.py measures them against another tree).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from service.ml.dataset import EVAL_STREAM, generate
from service.ml.devserver import MLServer
from service.ml.payloads import forecast_request
from service.ml.schemas import AerationPlan

pytestmark = pytest.mark.integration

PONDS = 1024
SMALL = 20
PASSES = re.compile(r"^aqua_ml_batch_size_count (\S+)$", re.M)


@pytest.fixture(scope="module")
def server() -> Iterator[MLServer]:
    with MLServer() as srv:
        yield srv


def _passes(c: httpx.Client) -> float:
    match = PASSES.search(c.get("/metrics").text)
    return float(match.group(1)) if match else 0.0


def test_single_pond_requests_are_answered_while_a_large_one_runs(server: MLServer) -> None:
    nights = generate(PONDS, 11, EVAL_STREAM)
    big = forecast_request(nights, 0, PONDS)
    for pond in big.ponds:
        pond.what_if = [AerationPlan(name=f"p{k}", aeration_kw_ha=[k * 0.5] * 10) for k in range(8)]
    big_body = big.model_dump_json(exclude_none=True)
    assert len(big_body) > 2_000_000
    small_body = forecast_request(nights, 0, 1).model_dump_json(exclude_none=True)
    json = {"content-type": "application/json"}

    with httpx.Client(base_url=server.url, timeout=120) as probe:
        before = _passes(probe)

        async def run() -> tuple[bool, list[float], httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as c:
                large = asyncio.create_task(c.post("/v1/forecast", content=big_body, headers=json))
                # Single-pond requests while the body is parsed, then while its parts pass.
                latencies = []
                while await asyncio.to_thread(_passes, probe) == before:
                    assert not large.done(), (await large).text
                    t0 = time.perf_counter()
                    r = await c.post("/v1/forecast", content=small_body, headers=json)
                    latencies.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                for _ in range(SMALL):
                    t0 = time.perf_counter()
                    r = await c.post("/v1/forecast", content=small_body, headers=json)
                    latencies.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                overtaken = not large.done()
                return overtaken, latencies, await large

        overtaken, latencies, large = asyncio.run(run())
    assert large.status_code == 200, large.text
    body = large.json()
    assert len(body["ponds"]) == PONDS
    assert all(len(p["what_if"]) == 8 for p in body["ponds"])
    assert overtaken, "the large request finished before the single-pond requests"
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"single-pond latency during a {PONDS}x9 request: p95 {p95 * 1000:.1f} ms")


def test_an_invalid_large_body_is_rejected_with_its_reasons(server: MLServer) -> None:
    nights = generate(300, 11, EVAL_STREAM)
    request = forecast_request(nights, 0, 300)
    request.ponds[123].depth_m = 99.0
    body = request.model_dump_json(exclude_none=True)
    assert len(body) > 256 * 1024  # the helper process's path
    r = httpx.post(
        f"{server.url}/v1/forecast", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert any(e["loc"][:4] == ["body", "ponds", 123, "depth_m"] for e in r.json()["detail"]), (
        r.text
    )

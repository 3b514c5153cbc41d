"""Against a real ML service process on loopback: round trip, batching, health, breaker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from service.ml.client import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    MLClient,
    MLRequestRejected,
    MLUnavailable,
)
from service.ml.dataset import EVAL_STREAM, LabelledNights, generate
from service.ml.devserver import MLServer, free_port
from service.ml.payloads import forecast_request
from service.ml.schemas import AerationPlan

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[MLServer]:
    # A long batching window makes concurrent requests reliably share forward passes.
    with MLServer(env={"AQUA_ML_MAX_WAIT_MS": "30", "AQUA_ML_MAX_BATCH": "512"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def nights() -> LabelledNights:
    return generate(4, 123, EVAL_STREAM)


def test_round_trip_with_what_if(server: MLServer, nights: LabelledNights) -> None:
    from service.ml.codec import to_job
    from service.ml.inference import Forecaster

    low = int(np.argmin(nights.target.min(axis=1)))  # a night where aeration matters
    request = forecast_request(nights, low, 1)
    request.ponds[0].what_if = [
        AerationPlan(name="off", aeration_kw_ha=[0.0] * 10),
        AerationPlan(name="all night", aeration_kw_ha=[4.0] * 10),
    ]

    async def call() -> tuple[object, object]:
        async with MLClient(server.url) as ml:
            return await ml.forecast(request), await ml.model()

    response, model = asyncio.run(call())
    pond = response.ponds[0]  # type: ignore[attr-defined]
    assert response.model_version == model.version  # type: ignore[attr-defined]
    assert [s.name for s in pond.what_if] == ["off", "all night"]
    assert pond.what_if[1].p50[-1] > pond.what_if[0].p50[-1] + 0.3
    assert pond.what_if[1].prob_below_threshold <= pond.what_if[0].prob_below_threshold
    assert 0.0 <= pond.forecast.prob_below_threshold <= 1.0

    job, _ = to_job(request.ponds)  # the same (rounded) numbers the service saw
    local = Forecaster.load().predict(job.batch)
    np.testing.assert_allclose(pond.forecast.p50, local.p50[0], atol=1e-5)
    np.testing.assert_allclose(pond.what_if[0].p50, local.p50[1], atol=1e-5)


def test_concurrent_requests_are_batched_and_equal_one_batch(
    server: MLServer, nights: LabelledNights
) -> None:
    n = 12
    singles = [forecast_request(nights, i, 1) for i in range(n)]
    together = forecast_request(nights, 0, n)

    async def call() -> tuple[list[object], object]:
        async with MLClient(server.url) as ml:
            one_by_one = await asyncio.gather(*(ml.forecast(r) for r in singles))
            return list(one_by_one), await ml.forecast(together)

    one_by_one, batch = asyncio.run(call())
    for i, single in enumerate(one_by_one):
        a = single.ponds[0].forecast  # type: ignore[attr-defined]
        b = batch.ponds[i].forecast  # type: ignore[attr-defined]
        np.testing.assert_allclose(a.p10, b.p10, atol=1e-5)
        np.testing.assert_allclose(a.p50, b.p50, atol=1e-5)
        np.testing.assert_allclose(a.p90, b.p90, atol=1e-5)
        assert abs(a.prob_below_threshold - b.prob_below_threshold) < 1e-5
    metrics = httpx.get(server.url + "/metrics").text
    count = _sample(metrics, "aqua_ml_batch_size_count")
    total = _sample(metrics, "aqua_ml_batch_size_sum")
    assert total / count > 1.5, "concurrent requests were not merged into shared passes"


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in metrics")


def test_health_metrics_and_model(server: MLServer) -> None:
    assert httpx.get(server.url + "/live").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/ready")
    assert ready.status_code == 200
    model = httpx.get(server.url + "/v1/model").json()
    assert model["version"] == ready.json()["model_version"]
    assert model["batching"]["max_wait_ms"] == 30
    metrics = httpx.get(server.url + "/metrics").text
    for name in (
        "aqua_ml_inference_seconds_bucket",
        "aqua_ml_batch_size_bucket",
        "aqua_ml_queue_depth",
        "aqua_ml_request_seconds_bucket",
    ):
        assert name in metrics
    assert (
        f'aqua_ml_model_info{{parameters="{model["parameters"]}",version="{model["version"]}"}}'
        in metrics
    )


def test_client_raises_typed_rejection_without_retrying(
    server: MLServer, nights: LabelledNights
) -> None:
    request = forecast_request(nights, 0, 1)
    # Bypass local validation to send what a buggy caller might send.
    request.ponds[0].history.do_mg_l[0] = 31.0
    breaker = CircuitBreaker(failure_threshold=1)

    async def call() -> None:
        async with MLClient(server.url, breaker=breaker) as ml:
            await ml.forecast(request)

    with pytest.raises(MLRequestRejected) as err:
        asyncio.run(call())
    assert "outside the range 0..30" in str(err.value)
    assert breaker.state is BreakerState.closed  # bad input says nothing about the service


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state now. Read through a call, so that mypy does not carry an earlier
    assert's narrowing of ``breaker.state`` past the calls that change it."""
    return breaker.state


def test_circuit_breaker_opens_when_the_service_stops_and_closes_when_it_returns(
    nights: LabelledNights,
) -> None:
    port = free_port()
    request = forecast_request(nights, 0, 1)
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=1.0)
    srv = MLServer(port=port).start()
    try:

        async def forecast() -> None:
            async with MLClient(srv.url, retries=0, timeout=1.0, breaker=breaker) as ml:
                await ml.forecast(request)

        asyncio.run(forecast())
        assert state_of(breaker) is BreakerState.closed

        srv.stop()
        for _ in range(2):
            with pytest.raises(MLUnavailable) as err:
                asyncio.run(forecast())
            assert not isinstance(err.value, CircuitOpenError)
        assert state_of(breaker) is BreakerState.open

        with pytest.raises(CircuitOpenError):  # refused before any network call
            asyncio.run(forecast())

        srv.start()
        deadline = time.monotonic() + breaker.reset_timeout + 30
        while state_of(breaker) is not BreakerState.half_open:
            assert time.monotonic() < deadline, state_of(breaker)
            time.sleep(0.02)
        asyncio.run(forecast())
        assert state_of(breaker) is BreakerState.closed
    finally:
        srv.stop()


def test_retries_back_off_with_jitter_then_give_up_within_the_deadline() -> None:
    port = free_port()  # nothing listens here

    async def call() -> None:
        async with MLClient(
            f"http://127.0.0.1:{port}",
            retries=3,
            backoff=0.05,
            deadline=2.0,
            breaker=CircuitBreaker(failure_threshold=100),
        ) as ml:
            await ml.model()

    # Four attempts, then a clear error: neither the deadline nor a hang ended it.
    with pytest.raises(MLUnavailable, match="after 4 attempt"):
        asyncio.run(call())


def test_half_open_lets_exactly_one_trial_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10.0, clock=lambda: now[0])
    assert breaker.seconds_until_trial() == 0.0
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.open
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    now[0] = 7.5
    assert breaker.seconds_until_trial() == 2.5
    now[0] = 10.0
    assert breaker.seconds_until_trial() == 0.0
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # a second caller while the trial runs
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.open
    now[0] = 20.0
    breaker.before_call()
    breaker.record_success()
    assert state_of(breaker) is BreakerState.closed

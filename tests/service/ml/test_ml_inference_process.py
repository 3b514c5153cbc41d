"""The network in a child process: the same answers as in-process, and a death that heals."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import numpy as np
import pytest

from service.ml.app import MLSettings, create_app
from service.ml.dataset import EVAL_STREAM, generate
from service.ml.inference import Forecaster
from service.ml.inference_process import InferenceProcess, InferenceProcessDied
from service.ml.payloads import forecast_request
from service.ml.serving import DEFAULT_WEIGHTS, Job, ServedForecast


def _same(a: ServedForecast, b: ServedForecast) -> None:
    """Equal to 1e-5 (torch's thread count may differ between the processes), alarms exactly."""
    assert a.alarm == b.alarm
    for name in ("p10", "p50", "p90", "night_min", "prob_below"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-5, err_msg=name)
    for name in ("hours_until", "hours_until_p10"):
        x = np.array(getattr(a, name), dtype=float)
        y = np.array(getattr(b, name), dtype=float)
        np.testing.assert_allclose(x, y, atol=1e-5, err_msg=name)  # None (never) is NaN in both


def _jobs() -> list[Job]:
    from service.ml.codec import to_job
    from service.ml.intake import parse

    nights = generate(3, 41, EVAL_STREAM)
    return [
        to_job(parse(forecast_request(nights, i, n).model_dump_json().encode()))[0]
        for i, n in ((0, 1), (1, 7), (3, 20))
    ]


def test_the_child_answers_exactly_what_the_model_answers_in_process() -> None:
    model = Forecaster.load(DEFAULT_WEIGHTS)
    proc = InferenceProcess(DEFAULT_WEIGHTS)
    info = proc.start()
    try:
        assert info == model.info
        for job in _jobs():
            _same(proc.serve(job), model.serve(job))
    finally:
        proc.stop()
    assert not proc.alive


def test_a_dead_child_is_replaced_and_the_service_answers_503_meanwhile() -> None:
    app = create_app(MLSettings(ml_inference_process=True))
    body = forecast_request(generate(1, 43, EVAL_STREAM), 0, 1).model_dump_json()

    async def scenario() -> dict[str, object]:
        before = set(_children())
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ml")
            async with client:

                async def forecast() -> httpx.Response:
                    return await client.post(
                        "/v1/forecast", content=body, headers={"content-type": "application/json"}
                    )

                first = (await forecast()).json()
                # The app's own inference process: the one child spawned since.
                (child,) = set(_children()) - before
                os.kill(child, signal.SIGKILL)
                seen: list[int] = []
                deadline = time.monotonic() + 60
                while True:  # 503 (with Retry-After) until a new child is up, then 200
                    r = await forecast()
                    seen.append(r.status_code)
                    if r.status_code == 503:
                        assert r.headers["retry-after"] == "1"
                    if r.status_code == 200 and 503 in seen:
                        break
                    assert time.monotonic() < deadline, seen[-5:]
                    await asyncio.sleep(0.02)
                metrics = (await client.get("/metrics")).text
                return {
                    "statuses": set(seen),
                    "same": r.json()["ponds"] == first["ponds"],
                    "live": (await client.get("/live")).status_code,
                    "ready": (await client.get("/ready")).status_code,
                    "restarts": "aqua_ml_inference_restarts_total 1.0" in metrics,
                    "new child": set(_children()) - before - {child} != set(),
                }

    assert asyncio.run(scenario()) == {
        "statuses": {200, 503},
        "same": True,
        "live": 200,
        "ready": 200,
        "restarts": True,
        "new child": True,
    }


def test_serve_after_the_child_died_raises() -> None:
    proc = InferenceProcess(DEFAULT_WEIGHTS)
    proc.start()
    try:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        with pytest.raises(InferenceProcessDied):
            proc.serve(_jobs()[0])
    finally:
        proc.stop()


def _children() -> list[int]:
    import psutil  # type: ignore[import-untyped]

    spawned = []
    for c in psutil.Process().children():
        cmdline = " ".join(c.cmdline())
        if "service.ml.inference_process" in cmdline:
            spawned.append(c.pid)
    return spawned


def test_threshold_rows_come_back_in_order() -> None:
    """Rows of a merged pass map back to their windows (thresholds tagged per window)."""
    proc = InferenceProcess(DEFAULT_WEIGHTS)
    proc.start()
    try:
        job = _jobs()[2]
        tagged = Job(job.batch, np.linspace(1.0, 6.0, len(job)))
        served = proc.serve(tagged)
        model = Forecaster.load(DEFAULT_WEIGHTS)
        _same(served, model.serve(tagged))
    finally:
        proc.stop()


def test_a_signal_to_the_process_group_leaves_the_child_to_the_server() -> None:
    """SIGTERM or Ctrl-C sent to the whole group reaches the child too: it keeps answering
    until the server stops it, so a shutting-down server never restarts it."""
    proc = InferenceProcess(DEFAULT_WEIGHTS)
    proc.start()
    try:
        assert proc.pid is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            os.kill(proc.pid, sig)
        job = _jobs()[0]
        proc.serve(job)  # a round trip after both signals were delivered
        assert proc.alive
    finally:
        proc.stop()
    assert not proc.alive

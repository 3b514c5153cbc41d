"""Large requests: the answer encoded in slices is byte for byte the answer encoded at once;
the helper process that prepares them answers 422 bodies and is replaced when it dies."""

from __future__ import annotations

import numpy as np
import pytest

from service.ml.bulk import Prepared, prepare
from service.ml.codec import labels_of, response_json, response_json_sliced, to_job
from service.ml.dataset import EVAL_STREAM, generate
from service.ml.intake import parse
from service.ml.payloads import forecast_request
from service.ml.schemas import AerationPlan
from service.ml.serving import ServedForecast


def _forecast(rows: int) -> ServedForecast:
    values = np.linspace(1.0, 9.0, rows).round(3).tolist()
    return ServedForecast(
        p10=[[v] * 10 for v in values],
        p50=[[v + 1] * 10 for v in values],
        p90=[[v + 2] * 10 for v in values],
        night_min=values,
        prob_below=[v / 10 for v in values],
        hours_until=[None if v > 5 else v for v in values],
        hours_until_p10=[None] * rows,
        alarm=[v < 3 for v in values],
    )


@pytest.mark.parametrize("ponds_per_slice", [1, 7, 32, 1000])
def test_sliced_answer_equals_the_whole(ponds_per_slice: int) -> None:
    request = forecast_request(generate(45, 3, EVAL_STREAM), 0, 45)
    for i, pond in enumerate(request.ponds):
        pond.what_if = [
            AerationPlan(name=f"p{k}", aeration_kw_ha=[k * 0.5] * 10) for k in range(i % 4)
        ]
    body = request.model_dump_json(exclude_none=True).encode()
    ponds = parse(body)
    job, counts = to_job(ponds)
    fc = _forecast(len(job))
    whole = response_json(ponds, job, counts, fc, "v9")
    sliced = response_json_sliced(
        labels_of(ponds), job, counts, fc, "v9", ponds_per_slice=ponds_per_slice
    )
    assert sliced == whole

    prepared = prepare(body)  # what the helper process sends back
    assert isinstance(prepared, Prepared)
    assert prepared.counts == counts
    assert response_json_sliced(prepared.labels, prepared.job, counts, fc, "v9") == whole


def test_prepare_answers_an_invalid_body_with_the_422_body() -> None:
    answer = prepare(b'{"ponds": []}')
    assert isinstance(answer, bytes)
    assert b'"loc":["body","ponds"]' in answer


def test_a_dead_helper_is_replaced_and_the_request_still_answered() -> None:
    import asyncio
    import os
    import signal

    from service.ml.bulk import BulkIntake

    body = forecast_request(generate(3, 3, EVAL_STREAM), 0, 3).model_dump_json().encode()

    async def go() -> tuple[Prepared | bytes, list[int], list[int]]:
        intake = BulkIntake()
        await intake.start()
        try:
            before = intake.pids
            for pid in before:
                os.kill(pid, signal.SIGKILL)
            answer = await intake.prepare(body)
            return answer, before, intake.pids
        finally:
            await intake.stop()

    answer, before, after = asyncio.run(go())
    assert isinstance(answer, Prepared)
    assert answer.counts == [1, 1, 1]
    assert before
    assert after
    assert not set(before) & set(after)

"""Forecast requests to batcher jobs, and forecasts back to response JSON.

Both run once per request on the hot path, so they work on plain lists and three numpy
conversions per request rather than on validated objects::

    job, counts = to_job(ponds)                 # one window per scenario
    body = response_json(ponds, job, counts, forecast, "v3")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from service.ml.dataset import NightBatch
from service.ml.intake import Pond
from service.ml.schemas import NIGHT_CLOCK
from service.ml.serving import Job, ServedForecast

JSON = TypeAdapter(Any)
_HOURS = list(NIGHT_CLOCK)


def to_job(ponds: Sequence[Pond]) -> tuple[Job, list[int]]:
    """One window per scenario: the submitted plan first, then each what-if plan."""
    hist: list[list[list[float | None]]] = []
    night: list[list[list[float]]] = []
    static: list[tuple[float, float, float]] = []
    counts: list[int] = []
    for p in ponds:
        h = p.history
        series = [
            h.do_mg_l,
            h.temperature_c,
            h.light_umol_m2_s,
            h.wind_m_s,
            h.feed_kg_ha,
            h.aeration_kw_ha,
        ]
        t = p.tonight
        facts = (p.depth_m, p.salinity_psu, p.threshold)
        for plan in [t.aeration_kw_ha, *(w.aeration_kw_ha for w in p.what_if)]:
            hist.append(series)  # type: ignore[arg-type]
            night.append([plan, t.temperature_c, t.wind_m_s])
            static.append(facts)
        counts.append(1 + len(p.what_if))
    # Three conversions for the whole request; null readings become NaN.
    h_arr = np.array(hist, dtype=np.float64)
    n_arr = np.array(night, dtype=np.float64)
    s_arr = np.array(static, dtype=np.float64)
    batch = NightBatch(
        do=h_arr[:, 0],
        temp_c=h_arr[:, 1],
        light=h_arr[:, 2],
        wind=h_arr[:, 3],
        feed_kg_ha=h_arr[:, 4],
        aeration_kw_ha=h_arr[:, 5],
        plan_kw_ha=n_arr[:, 0],
        temp_fc=n_arr[:, 1],
        wind_fc=n_arr[:, 2],
        depth_m=s_arr[:, 0],
        salinity_psu=s_arr[:, 1],
    )
    return Job(batch, s_arr[:, 2]), counts


#: what a response needs of each pond besides its forecast: its id and its what-if plans' names
Labels = tuple[str | None, list[str]]


def labels_of(ponds: Sequence[Pond]) -> list[Labels]:
    return [(p.pond_id, [w.name for w in p.what_if]) for p in ponds]


def response_json(
    ponds: Sequence[Pond], job: Job, counts: list[int], fc: ServedForecast, version: str
) -> bytes:
    """The :class:`ForecastResponse` JSON, built from plain dicts (no per-object validation)."""
    entries = _entries(labels_of(ponds), job, counts, fc, 0)
    return JSON.dump_json({"model_version": version, "hours": _HOURS, "ponds": entries})


def response_json_sliced(
    labels: Sequence[Labels],
    job: Job,
    counts: list[int],
    fc: ServedForecast,
    version: str,
    *,
    ponds_per_slice: int = 32,
) -> bytes:
    """The same JSON as :func:`response_json`, encoded ``ponds_per_slice`` ponds at a time.

    Each slice is one short call into the encoder, so a thread building a 1,024-pond answer
    lets go of the GIL between slices instead of holding it for the whole encoding.
    """
    head = JSON.dump_json({"model_version": version, "hours": _HOURS, "ponds": []})
    chunks: list[bytes] = []
    row = 0
    for first in range(0, len(labels), ponds_per_slice):
        stop = min(first + ponds_per_slice, len(labels))
        entries = _entries(labels[first:stop], job, counts[first:stop], fc, row)
        chunks.append(JSON.dump_json(entries)[1:-1])
        row += sum(counts[first:stop])
    return head[:-2] + b",".join(chunks) + b"]}"


def _entries(
    labels: Sequence[Labels],
    job: Job,
    counts: Sequence[int],
    fc: ServedForecast,
    row: int,
) -> list[dict[str, Any]]:
    """The ``ponds`` entries of ``labels``, whose windows start at ``row``."""
    n_rows = sum(counts)
    plans = job.batch.plan_kw_ha[row : row + n_rows].tolist()
    thresholds = job.threshold[row : row + n_rows].tolist()
    out: list[dict[str, Any]] = []
    local = 0
    for (pond_id, plan_names), n in zip(labels, counts, strict=True):
        names = ["plan", *plan_names]
        scenarios = [
            {
                "name": names[k],
                "aeration_kw_ha": plans[local + k],
                "p10": fc.p10[r],
                "p50": fc.p50[r],
                "p90": fc.p90[r],
                "night_min_mg_l": fc.night_min[r],
                "prob_below_threshold": fc.prob_below[r],
                "hours_until_threshold": fc.hours_until[r],
                "hours_until_threshold_p10": fc.hours_until_p10[r],
                "alarm": fc.alarm[r],
            }
            for k, r in enumerate(range(row + local, row + local + n))
        ]
        out.append(
            {
                "pond_id": pond_id,
                "threshold_mg_l": thresholds[local],
                "forecast": scenarios[0],
                "what_if": scenarios[1:],
            }
        )
        local += n
    return out


def validation_errors_json(exc: ValidationError) -> bytes:
    """A 422 body in FastAPI's shape: ``{"detail": [{"loc", "msg", "type"}, ...]}``."""
    out = []
    for e in exc.errors(include_url=False, include_input=False):
        msg = str(e["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        out.append({"loc": ["body", *e["loc"]], "msg": msg, "type": e["type"]})
    return JSON.dump_json({"detail": out})

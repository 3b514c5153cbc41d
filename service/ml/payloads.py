"""Request payloads built from simulated nights, for tests, benchmarks and examples."""

from __future__ import annotations

import numpy as np

from service.ml.dataset import LabelledNights, NightBatch
from service.ml.schemas import ForecastRequest, PondHistory, PondInput, Tonight


def _series(values: np.ndarray, decimals: int = 3) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), decimals) for v in values]


def pond_input(batch: NightBatch, i: int, pond_id: str | None = None) -> PondInput:
    """Window ``i`` of ``batch`` as an API pond (values rounded to 3 decimals)."""

    def full(values: np.ndarray) -> list[float]:
        return [round(float(v), 3) for v in values]

    return PondInput(
        pond_id=pond_id,
        depth_m=round(float(batch.depth_m[i]), 3),
        salinity_psu=round(float(batch.salinity_psu[i]), 3),
        history=PondHistory(
            do_mg_l=_series(batch.do[i]),
            temperature_c=_series(batch.temp_c[i]),
            light_umol_m2_s=_series(batch.light[i]),
            wind_m_s=_series(batch.wind[i]),
            feed_kg_ha=full(batch.feed_kg_ha[i]),
            aeration_kw_ha=full(batch.aeration_kw_ha[i]),
        ),
        tonight=Tonight(
            aeration_kw_ha=full(batch.plan_kw_ha[i]),
            temperature_c=full(batch.temp_fc[i]),
            wind_m_s=full(batch.wind_fc[i]),
        ),
    )


def forecast_request(nights: LabelledNights, start: int = 0, count: int = 1) -> ForecastRequest:
    return ForecastRequest(
        ponds=[
            pond_input(nights.batch, i, f"pond-{int(nights.pond[i])}")
            for i in range(start, start + count)
        ]
    )

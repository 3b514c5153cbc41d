"""The warm-up pass: one plausible evening, so the first real request meets a warm model."""

from __future__ import annotations

import numpy as np

from service.ml.dataset import NightBatch
from service.ml.schemas import HISTORY_HOURS, NIGHT_HOURS


def warmup_batch(n: int = 4) -> NightBatch:
    """A plausible evening (DO falling from an afternoon peak) used for the warm-up pass."""
    hours = (np.arange(HISTORY_HOURS) - 27) % 24
    day = np.clip(np.sin(np.pi * (hours - 6) / 12.0), 0.0, None)
    do = 6.0 + 3.0 * np.sin(np.pi * (hours - 9) / 12.0)
    ones_h = np.ones((n, HISTORY_HOURS))
    ones_f = np.ones((n, NIGHT_HOURS))
    return NightBatch(
        do=ones_h * do,
        temp_c=ones_h * 28.0,
        light=ones_h * 1500.0 * day,
        wind=ones_h * 2.5,
        feed_kg_ha=np.zeros((n, HISTORY_HOURS)),
        aeration_kw_ha=np.zeros((n, HISTORY_HOURS)),
        plan_kw_ha=np.zeros((n, NIGHT_HOURS)),
        temp_fc=ones_f * 27.5,
        wind_fc=ones_f * 2.0,
        depth_m=np.full(n, 1.3),
        salinity_psu=np.zeros(n),
    )

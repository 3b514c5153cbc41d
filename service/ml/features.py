"""Shared preprocessing of forecast windows: gap filling and network inputs.

The same functions serve training, evaluation and the HTTP service, so a served request is
encoded exactly like the training data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.ml import physics
from service.ml.dataset import HISTORY, NightBatch
from service.ml.saturation import FloatArray, do_saturation, k_o2_m_h
from service.ml.simulator import HORIZON, ISSUE_HOUR

HIST_FEATURES = 12
FUT_FEATURES = 9
_HIST_HOURS = (ISSUE_HOUR - HISTORY + 1 + np.arange(HISTORY)) % 24
_FUT_HOURS = (ISSUE_HOUR + 1 + np.arange(HORIZON)) % 24


def fill_gaps(x: FloatArray) -> FloatArray:
    """Linear interpolation of NaNs along the last axis; edges take the nearest reading."""
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    if valid.all():
        return x
    n = x.shape[-1]
    pos = np.arange(n)
    prev = np.maximum.accumulate(np.where(valid, pos, -1), axis=-1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(valid, pos, n), -1), axis=-1), -1)
    has_prev = prev >= 0
    has_next = nxt < n
    p = np.where(has_prev, prev, nxt)
    q = np.where(has_next, nxt, prev)
    p = np.clip(p, 0, n - 1)
    q = np.clip(q, 0, n - 1)
    xp = np.take_along_axis(x, p, -1)
    xq = np.take_along_axis(x, q, -1)
    span = np.where(q > p, q - p, 1)
    w = np.where(q > p, (pos - p) / span, 0.0)
    filled = xp + w * (xq - xp)
    return np.where(valid, x, filled)


@dataclass(frozen=True)
class Filled:
    """History with gaps filled, plus what the encoders and baselines derive from it."""

    do: FloatArray
    gap: FloatArray
    temp_c: FloatArray
    light: FloatArray
    wind: FloatArray
    cs: FloatArray
    cs_fc: FloatArray


def fill(batch: NightBatch) -> Filled:
    temp = fill_gaps(batch.temp_c)
    sal = batch.salinity_psu[:, None]
    return Filled(
        do=fill_gaps(batch.do),
        gap=(~np.isfinite(batch.do)).astype(np.float64),
        temp_c=temp,
        light=fill_gaps(batch.light),
        wind=fill_gaps(batch.wind),
        cs=do_saturation(temp, sal),
        cs_fc=do_saturation(batch.temp_fc, sal),
    )


def encode(batch: NightBatch, filled: Filled | None = None) -> tuple[FloatArray, FloatArray]:
    """Network inputs: history (n, 48, 12) and known future (n, 10, 9), roughly unit scale."""
    f = filled or fill(batch)
    n = len(batch)
    z = batch.depth_m[:, None]
    ang_h = 2.0 * np.pi * _HIST_HOURS / 24.0
    ang_f = 2.0 * np.pi * _FUT_HOURS / 24.0
    hist = np.stack(
        [
            f.do / 10.0,
            f.gap,
            (f.temp_c - 27.0) / 4.0,
            f.cs / 10.0,
            f.light / 1000.0,
            f.wind / 5.0,
            batch.feed_kg_ha / 50.0,
            batch.aeration_kw_ha / 5.0,
            np.broadcast_to(np.sin(ang_h), (n, HISTORY)),
            np.broadcast_to(np.cos(ang_h), (n, HISTORY)),
            np.broadcast_to(z - 1.4, (n, HISTORY)),
            np.broadcast_to(batch.salinity_psu[:, None] / 20.0, (n, HISTORY)),
        ],
        axis=-1,
    )
    # Physical potentials the network would otherwise have to learn: mg/L/h per mg/L deficit.
    k_reaer = k_o2_m_h(batch.wind_fc, batch.temp_fc) / z
    aer_potential = (
        batch.plan_kw_ha
        * physics.PADDLEWHEEL_SAE
        * physics.THETA_AERATOR ** (batch.temp_fc - 20.0)
        * physics.KG_HA_TO_MG_L
        / z
        / f.cs_fc
    )
    fut = np.stack(
        [
            batch.plan_kw_ha / 5.0,
            (batch.temp_fc - 27.0) / 4.0,
            f.cs_fc / 10.0,
            batch.wind_fc / 5.0,
            np.broadcast_to(np.sin(ang_f), (n, HORIZON)),
            np.broadcast_to(np.cos(ang_f), (n, HORIZON)),
            np.broadcast_to(z - 1.4, (n, HORIZON)),
            k_reaer * 20.0,
            aer_potential * 10.0,
        ],
        axis=-1,
    )
    return hist.astype(np.float32), fut.astype(np.float32)

"""Forecast windows cut from simulated ponds, with the imperfections of real farm data.

A window is one night issued at 20:00: 48 hourly history steps (the last one at 20:00), the
known next 10 hours 21:00-06:00 and, for training and evaluation, the true DO at those hours.
History DO gets Gaussian sensor noise (σ = 0.15 mg/L) and gaps of 1-2 h (never longer: the
service's contract; left as NaN, the feature code fills them); temperature, light and wind
get small sensor errors. The known future gets forecast error: a per-night temperature bias
(σ 0.3 °C) plus hourly noise (σ 0.1 °C), and a multiplicative log-normal wind error (σ 0.25
per night, 0.1 per hour). The aeration plan is exact: the simulator applied it as announced.

Ponds are never split across sets: training, validation and evaluation ponds come from
different simulations (``SeedSequence([seed, stream])``, stream 0 for training and validation,
1 for evaluation), and training/validation split whole ponds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import numpy as np

from service.ml.saturation import FloatArray
from service.ml.simulator import HORIZON, HourlyChannels, PondRun, simulate

HISTORY = 48
MAX_GAP_HOURS = 2
DO_NOISE_SD = 0.15
TRAIN_STREAM = 0
EVAL_STREAM = 1
EPISODE_DAYS = 16


@dataclass(frozen=True)
class NightBatch(HourlyChannels):
    """``n`` forecast windows. History arrays (the channels) are (n, 48), future arrays
    (n, 10)."""

    plan_kw_ha: FloatArray
    temp_fc: FloatArray
    wind_fc: FloatArray
    depth_m: FloatArray
    salinity_psu: FloatArray

    def __len__(self) -> int:
        return int(self.do.shape[0])

    def take(self, index: np.ndarray) -> NightBatch:
        return NightBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def with_plan(self, plan_kw_ha: FloatArray) -> NightBatch:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["plan_kw_ha"] = plan_kw_ha
        return NightBatch(**values)

    @staticmethod
    def concat(parts: list[NightBatch]) -> NightBatch:
        return NightBatch(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts], axis=0)
                for f in fields(NightBatch)
            }
        )


@dataclass(frozen=True)
class LabelledNights:
    """Windows with their truth and the pond facts used to report per regime."""

    batch: NightBatch
    target: FloatArray  # (n, 10) true DO at 21:00 .. 06:00
    pond: np.ndarray  # (n,) pond index within its simulation
    biomass_kg_ha: FloatArray
    dieoff_today: np.ndarray

    def __len__(self) -> int:
        return len(self.batch)

    def take(self, index: np.ndarray) -> LabelledNights:
        return LabelledNights(
            self.batch.take(index),
            self.target[index],
            self.pond[index],
            self.biomass_kg_ha[index],
            self.dieoff_today[index],
        )

    def digest(self) -> str:
        h = hashlib.sha256()
        for f in fields(NightBatch):
            h.update(np.ascontiguousarray(getattr(self.batch, f.name)).tobytes())
        h.update(np.ascontiguousarray(self.target).tobytes())
        return h.hexdigest()


def _gaps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Boolean (n, 48) mask of missing DO readings: 0-3 runs of 1-2 hours per window."""
    mask = np.zeros((n, HISTORY), dtype=bool)
    runs = rng.choice(4, size=n, p=[0.6, 0.2, 0.12, 0.08])
    for r in range(1, 4):
        rows = np.nonzero(runs >= r)[0]
        start = rng.integers(0, HISTORY - 1, rows.size)
        length = rng.integers(1, 3, rows.size)
        mask[rows, start] = True
        mask[rows, np.minimum(start + length - 1, HISTORY - 1)] = True
    # Runs that touched may have merged: keep every gap within what the service accepts.
    run = np.zeros(n, dtype=np.int64)
    for j in range(HISTORY):
        run = np.where(mask[:, j], run + 1, 0)
        too_long = run > MAX_GAP_HOURS
        mask[too_long, j] = False
        run[too_long] = 0
    return mask


def windows(run: PondRun, rng: np.random.Generator) -> LabelledNights:
    """Every 20:00 window of every pond of ``run`` with noise, gaps and forecast error."""
    issue = run.issue_indices(HISTORY)
    ponds = np.arange(run.do.shape[0])
    pond_idx = np.repeat(ponds, issue.size)
    t_idx = np.tile(issue, ponds.size)
    n = pond_idx.size
    hist = t_idx[:, None] + np.arange(-HISTORY + 1, 1)[None, :]
    fut = t_idx[:, None] + np.arange(1, HORIZON + 1)[None, :]

    def h(a: FloatArray) -> FloatArray:
        return np.asarray(a[pond_idx[:, None], hist])

    def f(a: FloatArray) -> FloatArray:
        return np.asarray(a[pond_idx[:, None], fut])

    do = h(run.do) + rng.normal(0.0, DO_NOISE_SD, (n, HISTORY))
    do = np.clip(do, 0.0, None)
    do[_gaps(rng, n)] = np.nan
    temp_fc = f(run.temp_c) + rng.normal(0.0, 0.3, (n, 1)) + rng.normal(0.0, 0.1, (n, HORIZON))
    wind_fc = f(run.wind) * np.exp(
        rng.normal(0.0, 0.25, (n, 1)) + rng.normal(0.0, 0.1, (n, HORIZON))
    )
    batch = NightBatch(
        do=do,
        temp_c=h(run.temp_c) + rng.normal(0.0, 0.05, (n, HISTORY)),
        light=h(run.light) * np.exp(rng.normal(0.0, 0.05, (n, HISTORY))),
        wind=np.clip(h(run.wind) + rng.normal(0.0, 0.2, (n, HISTORY)), 0.0, None),
        feed_kg_ha=h(run.feed_kg_ha),
        aeration_kw_ha=h(run.aeration_kw_ha),
        plan_kw_ha=f(run.aeration_kw_ha),
        temp_fc=temp_fc,
        wind_fc=wind_fc,
        depth_m=run.params.depth_m[pond_idx],
        salinity_psu=run.params.salinity_psu[pond_idx],
    )
    day = t_idx // 24
    return LabelledNights(
        batch=batch,
        target=f(run.do),
        pond=pond_idx,
        biomass_kg_ha=run.biomass_kg_ha[pond_idx, t_idx],
        dieoff_today=run.dieoff[pond_idx, day],
    )


def generate(n_ponds: int, seed: int, stream: int, days: int = EPISODE_DAYS) -> LabelledNights:
    """Simulate ``n_ponds`` ponds from ``SeedSequence([seed, stream])`` and cut their nights."""
    sim_seed, noise_seed = np.random.SeedSequence([seed, stream]).spawn(2)
    run = simulate(n_ponds, days, sim_seed)
    return windows(run, np.random.default_rng(noise_seed))

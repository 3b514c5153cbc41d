"""Classical overnight DO forecasters that the network must beat.

All take a :class:`~service.ml.dataset.NightBatch` and return (n, 10) DO forecasts for
21:00-06:00, using only what a farm has at 20:00: the same inputs the network sees.

- ``persistence``: the 20:00 reading all night.
- ``same_hour_yesterday``: last night's readings at the same hours.
- ``linear_projection``: Boyd & Romaire's two-point dusk projection, a straight line through
  the 18:00 and 20:00 readings.
- ``madenjian``: Madenjian's log-linear extrapolation, ln DO regressed on time over the
  18:00, 19:00 and 20:00 readings.
- ``physics``: hourly changes of the last 24 h are regressed on production
  ``tanh(I/200)·1.066^(T-20)``, respiration ``1.07^(T-20)`` and Cole-Caraco reaeration
  ``kO2/z·(Cs-DO)`` (with a weak ridge pulling the reaeration multiplier towards 1), after
  removing the known paddlewheel input; the fitted budget is then integrated from the 20:00
  reading with the forecast temperature and wind and the planned aeration.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from service.ml import physics
from service.ml.dataset import HISTORY, NightBatch
from service.ml.features import Filled, fill
from service.ml.saturation import FloatArray, do_saturation, k_o2_m_h
from service.ml.simulator import HORIZON

BaselineFn = Callable[[NightBatch, Filled], FloatArray]
_STEPS = np.arange(1, HORIZON + 1, dtype=np.float64)
THETA_COMMUNITY = 1.07
IK_NOMINAL = 200.0
FIT_HOURS = 24
SUBSTEPS = 4


def persistence(batch: NightBatch, f: Filled) -> FloatArray:
    return np.repeat(f.do[:, -1:], HORIZON, axis=1)


def same_hour_yesterday(batch: NightBatch, f: Filled) -> FloatArray:
    start = HISTORY - 24
    return np.asarray(f.do[:, start : start + HORIZON])


def linear_projection(batch: NightBatch, f: Filled) -> FloatArray:
    slope = (f.do[:, -1] - f.do[:, -3]) / 2.0
    return np.clip(f.do[:, -1:] + slope[:, None] * _STEPS[None, :], 0.0, None)


def madenjian(batch: NightBatch, f: Filled) -> FloatArray:
    t = np.array([-2.0, -1.0, 0.0])
    y = np.log(np.clip(f.do[:, -3:], 0.1, None))
    tc = t - t.mean()
    slope = (y * tc).sum(axis=1) / (tc**2).sum()
    at_issue = y.mean(axis=1) + slope * (0.0 - t.mean())
    return np.asarray(np.exp(at_issue[:, None] + slope[:, None] * _STEPS[None, :]))


def _fit_budget(batch: NightBatch, f: Filled) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-window production, respiration and reaeration coefficients from the last 24 h."""
    z = batch.depth_m[:, None]
    sl = slice(HISTORY - FIT_HOURS, HISTORY)
    prev = slice(HISTORY - FIT_HOURS - 1, HISTORY - 1)
    do0, do1 = f.do[:, prev], f.do[:, sl]
    t_mid = (f.temp_c[:, prev] + f.temp_c[:, sl]) / 2.0
    cs_mid = (f.cs[:, prev] + f.cs[:, sl]) / 2.0
    do_mid = (do0 + do1) / 2.0
    known = physics.aeration(batch.aeration_kw_ha[:, sl], z, t_mid, cs_mid, do_mid)
    y = do1 - do0 - known
    x = np.stack(
        [
            np.tanh(f.light[:, sl] / IK_NOMINAL) * physics.THETA_GPP ** (t_mid - 20.0),
            -(THETA_COMMUNITY ** (t_mid - 20.0)),
            k_o2_m_h(f.wind[:, sl], t_mid) / z * (cs_mid - do_mid),
        ],
        axis=-1,
    )
    prior = np.array([0.0, 0.0, 1.0])
    ridge = np.diag([1e-3, 1e-3, 2.0])
    xtx = np.einsum("nti,ntj->nij", x, x) + ridge
    xty = np.einsum("nti,nt->ni", x, y) + ridge @ prior
    beta = np.linalg.solve(xtx, xty[..., None])[..., 0]
    return (
        np.clip(beta[:, 0], 0.0, None),
        np.clip(beta[:, 1], 0.0, None),
        np.clip(beta[:, 2], 0.0, 4.0),
    )


def physics_fit(batch: NightBatch, f: Filled) -> FloatArray:
    _, resp, reaer = _fit_budget(batch, f)
    z = batch.depth_m
    temps = np.concatenate([f.temp_c[:, -1:], batch.temp_fc], axis=1)
    do = f.do[:, -1].copy()
    out = np.empty((len(batch), HORIZON))
    dt = 1.0 / SUBSTEPS
    for h in range(HORIZON):
        for k in range(SUBSTEPS):
            w = (k + 0.5) / SUBSTEPS
            t = temps[:, h] * (1.0 - w) + temps[:, h + 1] * w
            cs = do_saturation(t, batch.salinity_psu)
            rate = (
                -resp * THETA_COMMUNITY ** (t - 20.0)
                + reaer * k_o2_m_h(batch.wind_fc[:, h], t) / z * (cs - do)
                + physics.aeration(batch.plan_kw_ha[:, h], z, t, cs, do)
            )
            do = np.maximum(do + rate * dt, 0.0)
        out[:, h] = do
    return out


BASELINES: dict[str, BaselineFn] = {
    "persistence": persistence,
    "same_hour_yesterday": same_hour_yesterday,
    "linear_projection": linear_projection,
    "madenjian": madenjian,
    "physics": physics_fit,
}
FARM_BASELINES = ("persistence", "same_hour_yesterday", "linear_projection", "madenjian")


def forecast_all(batch: NightBatch) -> dict[str, FloatArray]:
    f = fill(batch)
    return {name: fn(batch, f) for name, fn in BASELINES.items()}

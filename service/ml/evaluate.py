"""Scoring the served model and every baseline on unseen simulated ponds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from service.ml.baselines import FARM_BASELINES, forecast_all
from service.ml.dataset import EVAL_STREAM, LabelledNights, generate
from service.ml.inference import Forecaster
from service.ml.metrics import Score, score
from service.ml.saturation import FloatArray

DEFAULT_THRESHOLD = 3.0
DEEP_M = 1.4
HIGH_BIOMASS_KG_HA = 8000.0


class Evaluation(BaseModel):
    """The JSON printed by ``python -m service.ml evaluate --json``."""

    models: dict[str, Score]
    ponds: int
    seed: int


@dataclass(frozen=True)
class Predictions:
    nights: LabelledNights
    paths: dict[str, FloatArray]
    mins: dict[str, FloatArray]
    alarms: dict[str, np.ndarray]

    def scores(self, mask: np.ndarray, threshold: float) -> dict[str, Score]:
        target = self.nights.target[mask]
        return {
            k: score(
                self.paths[k][mask], self.mins[k][mask], self.alarms[k][mask], target, threshold
            )
            for k in self.paths
        }


def predict_all(
    forecaster: Forecaster, nights: LabelledNights, threshold: float = DEFAULT_THRESHOLD
) -> Predictions:
    base = forecast_all(nights.batch)
    fc = forecaster.predict(nights.batch)
    paths = {"model": fc.p50, **base}
    mins = {"model": fc.night_min, **{k: v.min(axis=1) for k, v in base.items()}}
    alarms = {
        "model": forecaster.alarms(fc, np.full(len(nights), threshold)),
        **{k: v.min(axis=1) < threshold for k, v in base.items()},
    }
    return Predictions(nights, paths, mins, alarms)


def evaluate(
    forecaster: Forecaster, ponds: int, seed: int, threshold: float = DEFAULT_THRESHOLD
) -> tuple[Evaluation, Predictions]:
    nights = generate(ponds, seed, EVAL_STREAM)
    pred = predict_all(forecaster, nights, threshold)
    everything = np.ones(len(nights), dtype=bool)
    return Evaluation(models=pred.scores(everything, threshold), ponds=ponds, seed=seed), pred


def regimes(pred: Predictions) -> dict[str, np.ndarray]:
    depth = pred.nights.batch.depth_m
    biomass = pred.nights.biomass_kg_ha
    return {
        f"shallow (< {DEEP_M} m)": depth < DEEP_M,
        f"deep (>= {DEEP_M} m)": depth >= DEEP_M,
        f"low biomass (< {HIGH_BIOMASS_KG_HA / 1000:.0f} t/ha)": biomass < HIGH_BIOMASS_KG_HA,
        f"high biomass (>= {HIGH_BIOMASS_KG_HA / 1000:.0f} t/ha)": biomass >= HIGH_BIOMASS_KG_HA,
        "plankton die-off that day": pred.nights.dieoff_today,
    }


def markdown(evaluation: Evaluation, pred: Predictions, threshold: float) -> str:
    """The full table plus one table per regime, as Markdown."""

    def table(scores: dict[str, Score]) -> list[str]:
        rows = [
            "| forecaster | MAE | MAE +1 h | MAE +5 h | MAE +10 h | night-min MAE "
            "| alarm P | alarm R | alarm F1 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for k, s in scores.items():
            h = s.mae_by_horizon
            rows.append(
                f"| {k} | {s.mae:.3f} | {h[0]:.3f} | {h[4]:.3f} | {h[9]:.3f} "
                f"| {s.night_min_mae:.3f} | {s.alarm.precision:.2f} | {s.alarm.recall:.2f} "
                f"| {s.alarm.f1:.2f} |"
            )
        return rows

    n = len(pred.nights)
    crash = float((pred.nights.target.min(axis=1) < threshold).mean())
    out = [
        f"All {evaluation.ponds} ponds, {n} nights ({crash:.0%} with a minimum below "
        f"{threshold:g} mg/L), seed {evaluation.seed}:",
        "",
        *table(evaluation.models),
    ]
    for name, mask in regimes(pred).items():
        if mask.sum() == 0:
            continue
        out += ["", f"{name}: {int(mask.sum())} nights", "", *table(pred.scores(mask, threshold))]
    return "\n".join(out)


def verdict(evaluation: Evaluation) -> list[str]:
    """Which of the targets hold: 40 % below the best farm baseline, <= physics, recall."""
    m = evaluation.models["model"]
    best_farm = min(evaluation.models[k].mae for k in FARM_BASELINES)
    phys = evaluation.models["physics"].mae
    return [
        f"model MAE {m.mae:.3f} vs best farm baseline {best_farm:.3f} "
        f"({1 - m.mae / best_farm:.0%} lower; target >= 40 %)",
        f"model MAE {m.mae:.3f} vs fitted physics {phys:.3f} "
        f"({'not worse' if m.mae <= phys else 'WORSE'})",
        f"alarm recall {m.alarm.recall:.2f} (target >= 0.9)",
    ]

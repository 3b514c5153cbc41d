"""Forecast scores: MAE per horizon, night-minimum MAE and crash-alarm precision/recall/F1."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from service.ml.saturation import FloatArray


class AlarmScore(BaseModel):
    precision: float
    recall: float
    f1: float


class Score(BaseModel):
    mae: float
    mae_by_horizon: list[float]
    night_min_mae: float
    alarm: AlarmScore


def alarm_score(predicted: np.ndarray, actual: np.ndarray) -> AlarmScore:
    tp = float(np.sum(predicted & actual))
    precision = tp / max(float(predicted.sum()), 1.0)
    recall = tp / max(float(actual.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return AlarmScore(precision=round(precision, 4), recall=round(recall, 4), f1=round(f1, 4))


def score(
    path: FloatArray,
    night_min: FloatArray,
    alarm: np.ndarray,
    target: FloatArray,
    threshold: float,
) -> Score:
    err = np.abs(path - target)
    return Score(
        mae=round(float(err.mean()), 4),
        mae_by_horizon=[round(float(v), 4) for v in err.mean(axis=0)],
        night_min_mae=round(float(np.abs(night_min - target.min(axis=1)).mean()), 4),
        alarm=alarm_score(np.asarray(alarm, dtype=bool), target.min(axis=1) < threshold),
    )


def choose_alarm_probability(
    prob: FloatArray, actual: np.ndarray, min_recall: float = 0.93
) -> float:
    """Probability cut with the best F1 among those keeping recall at ``min_recall``."""
    best, best_f1 = 0.5, -1.0
    for cut in np.linspace(0.02, 0.9, 89):
        s = alarm_score(prob >= cut, actual)
        if s.recall >= min_recall and s.f1 > best_f1:
            best, best_f1 = float(cut), s.f1
    return round(best, 2)

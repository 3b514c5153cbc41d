"""Loading the trained network and turning forecast windows into forecasts.

(:class:`Job`, :class:`ServedForecast`, :class:`ModelInfo` and ``DEFAULT_WEIGHTS`` live in the
torch-free :mod:`service.ml.serving` and are re-exported here.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from service.ml.dataset import NightBatch
from service.ml.features import encode, fill
from service.ml.model import MIN_LEVELS, ModelConfig, NightForecaster, parameter_count
from service.ml.saturation import FloatArray
from service.ml.serving import DEFAULT_WEIGHTS, Job, ModelInfo, ServedForecast
from service.ml.simulator import HORIZON

WEIGHTS_FILE = "model.pt"
MANIFEST_FILE = "manifest.json"
_LEVELS = np.asarray(MIN_LEVELS)


@dataclass(frozen=True)
class ForecastArrays:
    """Forecasts for ``n`` windows: DO quantile paths (n, 10) and night-minimum quantiles."""

    level: FloatArray  # DO at 20:00 after gap filling, the start of every path
    p10: FloatArray
    p50: FloatArray
    p90: FloatArray
    min_quantiles: FloatArray  # (n, len(MIN_LEVELS))

    def rows(self, index: slice) -> ForecastArrays:
        return ForecastArrays(
            level=self.level[index],
            p10=self.p10[index],
            p50=self.p50[index],
            p90=self.p90[index],
            min_quantiles=self.min_quantiles[index],
        )

    @property
    def night_min(self) -> FloatArray:
        return np.asarray(self.min_quantiles[:, MIN_LEVELS.index(0.5)])

    def prob_below(self, threshold: FloatArray) -> FloatArray:
        """P(night minimum < threshold) from the piecewise-linear minimum distribution."""
        thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), self.level.shape)
        q = self.min_quantiles
        below = (q < thr[:, None]).sum(axis=1)
        k = np.clip(below, 1, q.shape[1] - 1)
        lo = np.take_along_axis(q, (k - 1)[:, None], 1)[:, 0]
        hi = np.take_along_axis(q, k[:, None], 1)[:, 0]
        w = np.clip((thr - lo) / np.maximum(hi - lo, 1e-9), 0.0, 1.0)
        p = _LEVELS[k - 1] + w * (_LEVELS[k] - _LEVELS[k - 1])
        return np.where(below == 0, 0.0, np.where(below == q.shape[1], 1.0, p))

    def hours_until(self, threshold: FloatArray, path: str = "p50") -> FloatArray:
        """Hours after 20:00 until ``path`` first crosses below ``threshold`` (NaN: never)."""
        thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), self.level.shape)
        values = np.concatenate([self.level[:, None], getattr(self, path)], axis=1)
        below = values < thr[:, None]
        first = np.argmax(below, axis=1)
        never = ~below.any(axis=1)
        at_start = first == 0
        k = np.clip(first, 1, HORIZON)
        a = np.take_along_axis(values, (k - 1)[:, None], 1)[:, 0]
        b = np.take_along_axis(values, k[:, None], 1)[:, 0]
        frac = np.clip((a - thr) / np.maximum(a - b, 1e-9), 0.0, 1.0)
        hours = (k - 1) + frac
        return np.where(never, np.nan, np.where(at_start, 0.0, hours))


def _optional(values: FloatArray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]


class Forecaster:
    """The served model. ``predict`` is thread-compatible but not re-entrant per instance."""

    def __init__(self, network: NightForecaster, info: ModelInfo) -> None:
        self.network = network.eval()
        self.info = info

    @classmethod
    def load(cls, directory: Path = DEFAULT_WEIGHTS) -> Forecaster:
        blob = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        network = NightForecaster(ModelConfig(**blob["config"]))
        network.load_state_dict(blob["state_dict"])
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        info = ModelInfo(
            version=str(manifest["version"]),
            parameters=parameter_count(network),
            alarm_probability=float(blob["alarm_probability"]),
            manifest=manifest,
        )
        return cls(network, info)

    def predict(self, batch: NightBatch) -> ForecastArrays:
        filled = fill(batch)
        hist, fut = encode(batch, filled)
        level = filled.do[:, -1]
        with torch.inference_mode():
            path, mins = self.network(
                torch.from_numpy(hist),
                torch.from_numpy(fut),
                torch.from_numpy(level.astype(np.float32)),
            )
        p = np.clip(path.numpy().astype(np.float64), 0.0, None)
        return ForecastArrays(
            level=level,
            p10=p[..., 0],
            p50=p[..., 1],
            p90=p[..., 2],
            min_quantiles=np.clip(mins.numpy().astype(np.float64), 0.0, None),
        )

    def serve(self, job: Job) -> ServedForecast:
        """Forecast and derive the per-threshold answers, all vectorised over the batch."""
        fc = self.predict(job.batch)
        prob = fc.prob_below(job.threshold)
        return ServedForecast(
            p10=fc.p10.tolist(),
            p50=fc.p50.tolist(),
            p90=fc.p90.tolist(),
            night_min=fc.night_min.tolist(),
            prob_below=prob.tolist(),
            hours_until=_optional(fc.hours_until(job.threshold, "p50")),
            hours_until_p10=_optional(fc.hours_until(job.threshold, "p10")),
            alarm=(prob >= self.info.alarm_probability).tolist(),
        )

    def alarms(self, forecast: ForecastArrays, threshold: FloatArray) -> np.ndarray:
        return np.asarray(forecast.prob_below(threshold) >= self.info.alarm_probability)

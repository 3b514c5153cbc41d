"""What the HTTP side and the model exchange: jobs, served forecasts, the model's identity.

Free of torch, so the serving process can hold requests and answers while the network itself
runs elsewhere (:mod:`service.ml.inference_process`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.ml.dataset import NightBatch
from service.ml.saturation import FloatArray

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Job:
    """Windows to forecast and each window's alarm threshold: the unit the batcher merges."""

    batch: NightBatch
    threshold: FloatArray

    def __len__(self) -> int:
        return len(self.batch)

    def part(self, start: int, stop: int) -> Job:
        """Windows ``start:stop`` of this job."""
        return Job(self.batch.take(np.arange(start, stop)), self.threshold[start:stop])

    @staticmethod
    def concat(jobs: list[Job]) -> Job:
        if len(jobs) == 1:
            return jobs[0]
        return Job(
            NightBatch.concat([j.batch for j in jobs]),
            np.concatenate([j.threshold for j in jobs]),
        )


@dataclass(frozen=True)
class ServedForecast:
    """Everything a response needs, as plain lists (converted once per forward pass)."""

    p10: list[list[float]]
    p50: list[list[float]]
    p90: list[list[float]]
    night_min: list[float]
    prob_below: list[float]
    hours_until: list[float | None]
    hours_until_p10: list[float | None]
    alarm: list[bool]

    @staticmethod
    def concat(parts: list[ServedForecast]) -> ServedForecast:
        if len(parts) == 1:
            return parts[0]
        return ServedForecast(
            p10=[row for p in parts for row in p.p10],
            p50=[row for p in parts for row in p.p50],
            p90=[row for p in parts for row in p.p90],
            night_min=[v for p in parts for v in p.night_min],
            prob_below=[v for p in parts for v in p.prob_below],
            hours_until=[v for p in parts for v in p.hours_until],
            hours_until_p10=[v for p in parts for v in p.hours_until_p10],
            alarm=[v for p in parts for v in p.alarm],
        )

    def rows(self, index: slice) -> ServedForecast:
        return ServedForecast(
            p10=self.p10[index],
            p50=self.p50[index],
            p90=self.p90[index],
            night_min=self.night_min[index],
            prob_below=self.prob_below[index],
            hours_until=self.hours_until[index],
            hours_until_p10=self.hours_until_p10[index],
            alarm=self.alarm[index],
        )


@dataclass(frozen=True)
class ModelInfo:
    version: str
    parameters: int
    alarm_probability: float
    manifest: dict[str, Any]

"""Request and response models of the ML service, shared with the API that calls it.

A request carries one pond or many. Each pond sends its last 48 hourly readings (oldest first,
the last one taken at 20:00), tonight's known hours 21:00-06:00 (the planned aeration and the
temperature and wind forecasts) and, optionally, alternative aeration plans to compare
("what if I don't aerate tonight?"). Aeration is in kW per hectare of pond.

Missing sensor readings are ``null``; up to 2 consecutive missing hours are filled by
interpolation, longer gaps are rejected. NaN, infinities, values outside the physical ranges
below and series of the wrong length are rejected with a 422 that names the field and reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Self, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

HISTORY_HOURS = 48
NIGHT_HOURS = 10
MAX_GAP_HOURS = 2
MAX_PONDS_PER_REQUEST = 1024
NIGHT_CLOCK = (
    "21:00",
    "22:00",
    "23:00",
    "00:00",
    "01:00",
    "02:00",
    "03:00",
    "04:00",
    "05:00",
    "06:00",
)

# Physical ranges accepted per series: (low, high, unit).
RANGES: dict[str, tuple[float, float]] = {
    "do_mg_l": (0.0, 30.0),
    "temperature_c": (-2.0, 40.0),
    "light_umol_m2_s": (0.0, 2500.0),
    "wind_m_s": (0.0, 40.0),
    "feed_kg_ha": (0.0, 1000.0),
    "aeration_kw_ha": (0.0, 40.0),
}


class Species(StrEnum):
    tilapia = "tilapia"
    channel_catfish = "channel_catfish"
    common_carp = "common_carp"
    whiteleg_shrimp = "whiteleg_shrimp"
    rainbow_trout = "rainbow_trout"


# Night-minimum DO below which stock is stressed (mg/L). Warm-water fish tolerate 3 mg/L;
# shrimp farms alarm at 4 and salmonids at 5.
SPECIES_THRESHOLD: dict[Species, float] = {
    Species.tilapia: 3.0,
    Species.channel_catfish: 3.0,
    Species.common_carp: 3.0,
    Species.whiteleg_shrimp: 4.0,
    Species.rainbow_trout: 5.0,
}
DEFAULT_THRESHOLD = 3.0


def _check_series(
    where: str, name: str, values: Sequence[float | None], length: int, *, gaps: bool
) -> None:
    if len(values) != length:
        raise ValueError(f"{where}.{name}: expected {length} hourly values, got {len(values)}")
    # Fast path in C-level builtins; the loop below only runs to name the offending value.
    has_gap = None in values
    present = cast(Sequence[float], [v for v in values if v is not None] if has_gap else values)
    if present:
        lo, hi = RANGES[name]
        clean = math.isfinite(sum(present)) and lo <= min(present) and max(present) <= hi
        if clean and not has_gap:
            return
    _explain(where, name, values, gaps=gaps)


def _explain(where: str, name: str, values: Sequence[float | None], *, gaps: bool) -> None:
    lo, hi = RANGES[name]
    run = 0
    for i, v in enumerate(values):
        if v is None:
            if not gaps:
                raise ValueError(f"{where}.{name}[{i}]: missing value (null) is not allowed here")
            run += 1
            if run > MAX_GAP_HOURS:
                raise ValueError(
                    f"{where}.{name}: gap longer than {MAX_GAP_HOURS} h ending at index {i}"
                )
            continue
        run = 0
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"{where}.{name}[{i}]: {v} is not a number; send null for a gap")
        if not lo <= v <= hi:
            raise ValueError(f"{where}.{name}[{i}]: {v} is outside the range {lo:g}..{hi:g}")
    if gaps and all(v is None for v in values):
        raise ValueError(f"{where}.{name}: no readings")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PondHistory(_Strict):
    """The last 48 hours, oldest first; index 47 is 20:00 today."""

    do_mg_l: list[float | None]
    temperature_c: list[float | None]
    light_umol_m2_s: list[float | None]
    wind_m_s: list[float | None]
    feed_kg_ha: list[float]
    aeration_kw_ha: list[float]

    @model_validator(mode="after")
    def _valid(self) -> Self:
        for name in ("do_mg_l", "temperature_c", "light_umol_m2_s", "wind_m_s"):
            _check_series("history", name, getattr(self, name), HISTORY_HOURS, gaps=True)
        for name in ("feed_kg_ha", "aeration_kw_ha"):
            _check_series("history", name, getattr(self, name), HISTORY_HOURS, gaps=False)
        return self


class Tonight(_Strict):
    """Known hours 21:00-06:00: the aeration plan and the weather forecast."""

    aeration_kw_ha: list[float]
    temperature_c: list[float]
    wind_m_s: list[float]

    @model_validator(mode="after")
    def _valid(self) -> Self:
        for name in ("aeration_kw_ha", "temperature_c", "wind_m_s"):
            _check_series("tonight", name, getattr(self, name), NIGHT_HOURS, gaps=False)
        return self


class AerationPlan(_Strict):
    """An alternative plan for 21:00-06:00 (kW/ha during the hour ending at each time)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    aeration_kw_ha: list[float]

    @model_validator(mode="after")
    def _valid(self) -> Self:
        _check_series(
            f"what_if[{self.name}]", "aeration_kw_ha", self.aeration_kw_ha, NIGHT_HOURS, gaps=False
        )
        return self


class PondFields(_Strict):
    """A request's pond apart from its series: :class:`PondInput` adds the series with their
    validators, the fast intake model (:mod:`service.ml.intake`) with pydantic-core constraints."""

    pond_id: Annotated[str | None, Field(max_length=128)] = None
    depth_m: Annotated[float, Field(ge=0.3, le=5.0, allow_inf_nan=False)]
    salinity_psu: Annotated[float, Field(ge=0.0, le=45.0, allow_inf_nan=False)] = 0.0
    species: Species = Species.tilapia
    threshold_mg_l: Annotated[float | None, Field(ge=0.5, le=10.0, allow_inf_nan=False)] = None

    @property
    def threshold(self) -> float:
        if self.threshold_mg_l is not None:
            return self.threshold_mg_l
        return SPECIES_THRESHOLD.get(self.species, DEFAULT_THRESHOLD)


class PondInput(PondFields):
    history: PondHistory
    tonight: Tonight
    what_if: Annotated[list[AerationPlan], Field(max_length=8)] = []


class ForecastRequest(_Strict):
    """One pond or a batch, each with optional what-if plans."""

    ponds: Annotated[list[PondInput], Field(min_length=1, max_length=MAX_PONDS_PER_REQUEST)]


class Scenario(BaseModel):
    """Tonight under one aeration plan. Hours are counted from 20:00."""

    name: str
    aeration_kw_ha: list[float]
    p10: list[float]
    p50: list[float]
    p90: list[float]
    night_min_mg_l: float
    prob_below_threshold: float
    hours_until_threshold: float | None
    hours_until_threshold_p10: float | None
    alarm: bool


class PondForecast(BaseModel):
    pond_id: str | None
    threshold_mg_l: float
    forecast: Scenario
    what_if: list[Scenario] = []


class ForecastResponse(BaseModel):
    model_version: str
    hours: list[str] = list(NIGHT_CLOCK)
    ponds: list[PondForecast]


class BatchingInfo(BaseModel):
    enabled: bool
    max_batch: int
    max_wait_ms: float


class ModelDescription(BaseModel):
    version: str
    parameters: int
    seed: int
    data_sha256: str
    alarm_probability: float
    default_threshold_mg_l: float
    species_thresholds: dict[str, float]
    history_hours: int
    night_hours: list[str]
    batching: BatchingInfo
    metrics: dict[str, object]

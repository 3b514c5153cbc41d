"""Stock biomass and oxygen status of a pond.

Biomass is stock count × mean weight. When only a mean length is known, the weight comes from
the species' length–weight relation ``W = a·L^b`` (W in g, L in cm)::

    weight_from_length(Species.rainbow_trout, 30.0)   # 0.01236 · 30^2.990 ≈ 324 g

Constants (a, b) are the published values the platform's domain notes carry; species without
a relation (``other``) need a measured mean weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from service.data.schemas import Biomass, LatestReading, PondStatus, Sensor, Species


@dataclass(frozen=True, slots=True)
class LengthWeight:
    a: float
    b: float
    note: str

    def weight_g(self, length_cm: float) -> float:
        return float(self.a * length_cm**self.b)


LENGTH_WEIGHT: dict[Species, LengthWeight] = {
    Species.channel_catfish: LengthWeight(0.00312, 3.294, "channel catfish"),
    Species.rainbow_trout: LengthWeight(0.01236, 2.990, "rainbow trout, lentic"),
    Species.whiteleg_shrimp: LengthWeight(0.0106, 3.066, "whiteleg shrimp"),
    Species.nile_tilapia: LengthWeight(0.034, 2.7, "Nile tilapia, wild"),
}


def weight_from_length(species: Species, length_cm: float) -> float | None:
    relation = LENGTH_WEIGHT.get(species)
    return None if relation is None else relation.weight_g(length_cm)


def estimate_biomass(
    *,
    species: Species,
    stock_count: int,
    mean_weight_g: float | None,
    mean_length_cm: float | None,
    area_m2: float,
    depth_m: float,
) -> Biomass:
    """Biomass from a measured mean weight, else from mean length, else unknown."""
    method = "unknown"
    weight = mean_weight_g
    if weight is not None:
        method = "mean_weight"
    elif mean_length_cm is not None:
        weight = weight_from_length(species, mean_length_cm)
        if weight is not None:
            method = "length_weight"
    if weight is None:
        return Biomass(
            kg=None, method="unknown", mean_weight_g=None, density_kg_m2=None, density_kg_m3=None
        )
    kg = stock_count * weight / 1000.0
    return Biomass(
        kg=_finite(kg, 3),
        method=method,
        mean_weight_g=_finite(weight, 3),
        density_kg_m2=_density(kg, area_m2, 4),
        density_kg_m3=_density(kg, area_m2 * depth_m, 4),
    )


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def _density(kg: float, per: float, digits: int) -> float | None:
    """kg / per, or None when it has no finite value: tiny positive dimensions multiply to
    0.0 (1e-200 m² × 1e-200 m underflows) or divide into infinity."""
    if not per > 0.0 or not math.isfinite(per):
        return None
    return _finite(kg / per, digits)


@dataclass(frozen=True, slots=True)
class OxygenPolicy:
    """DO thresholds (mg/L) and how old the newest DO reading may be."""

    critical_mg_l: float
    warning_mg_l: float
    stale_seconds: int


def oxygen_status(
    latest: list[LatestReading], policy: OxygenPolicy, now: datetime
) -> tuple[PondStatus, str]:
    """Status from the newest dissolved-oxygen reading."""
    do = next((r for r in latest if r.sensor is Sensor.dissolved_oxygen), None)
    if do is None:
        return PondStatus.unknown, "no dissolved oxygen reading"
    age = (now - do.ts).total_seconds()
    if age > policy.stale_seconds:
        return PondStatus.unknown, f"newest dissolved oxygen reading is {int(age)} s old"
    if do.value < policy.critical_mg_l:
        return PondStatus.critical, (
            f"dissolved oxygen {do.value:.2f} mg/L below {policy.critical_mg_l:g} mg/L"
        )
    if do.value < policy.warning_mg_l:
        return PondStatus.warning, (
            f"dissolved oxygen {do.value:.2f} mg/L below {policy.warning_mg_l:g} mg/L"
        )
    return PondStatus.ok, f"dissolved oxygen {do.value:.2f} mg/L"

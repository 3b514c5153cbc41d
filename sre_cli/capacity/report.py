"""A capacity run's result and its JSON form (the documented contract, README "Capacity
forecasts")::

    {"at": "2024-03-15T00:00:00Z", "band_coverage": 0.9, "what_if": 1,
     "forecasts": [{"name": "api-rps", "labels": {"instance": "a"}, "current": 170.2,
       "trend_per_day": 5.0, "peak": 239.9, "limit": 230, "headroom": 59.8,
       "headroom_pct": 26.0, "exhausted_at": "2024-03-24T17:02:11Z", "status": "critical",
       "r2": 0.998, "samples": 337, "band": {"lower": 238.9, "upper": 240.8},
       "exhausted": {"earliest": "2024-03-24T16:30:02Z", "likely": "2024-03-24T17:02:11Z",
                     "latest": "2024-03-24T17:30:40Z"},
       "model": "seasonal", "backtest_error": 0.27, "backtest": {"linear": 3.96, ...},
       "band_scale": 1, "direction": "ceiling", "unit": "", "act": null, "act_at": null}],
     "replicas": []}

Times are RFC 3339 in UTC; ``exhausted_at`` (= ``exhausted.likely``) is null when the forecast
stays under the limit within the horizon; every number is null for ``no_data``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sre_cli.timespec import rfc3339

if TYPE_CHECKING:
    from sre_cli.capacity.forecast import Forecast
    from sre_cli.capacity.replicas import ReplicaPlan

__all__ = ["CapacityReport", "forecast_dict", "replicas_dict"]


def _num(value: float | None) -> float | int | None:
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def forecast_dict(f: Forecast) -> dict[str, Any]:
    """One forecast in the JSON contract."""
    return {
        "name": f.target.name,
        "labels": dict(sorted(f.labels.items())),
        "current": _num(f.current),
        "trend_per_day": _num(f.trend_per_day),
        "peak": _num(f.peak),
        "limit": _num(f.limit),
        "headroom": _num(f.headroom),
        "headroom_pct": _num(f.headroom_pct),
        "exhausted_at": rfc3339(f.exhausted_at),
        "status": f.status,
        "r2": _num(f.r2),
        "samples": f.samples,
        "band": None
        if f.band is None
        else {"lower": _num(f.band.lower), "upper": _num(f.band.upper)},
        "exhausted": {
            "earliest": rfc3339(f.exhausted.earliest),
            "likely": rfc3339(f.exhausted.likely),
            "latest": rfc3339(f.exhausted.latest),
        },
        "model": f.model,
        "backtest_error": _num(f.backtest_error),
        "backtest": {name: _num(error) for name, error in f.backtest.items()},
        "band_scale": _num(f.band_scale) if f.status != "no_data" else None,
        "direction": f.direction,
        "unit": f.target.unit,
        "act": _num(f.target.act),
        "act_at": rfc3339(f.act_at),
    }


def replicas_dict(r: ReplicaPlan) -> dict[str, Any]:
    return {
        "deployment": r.deployment,
        "forecast": r.forecast,
        "labels": dict(sorted(r.labels.items())),
        "per_replica_rps": _num(r.per_replica),
        "peak": _num(r.peak),
        "peak_upper": _num(r.peak_upper),
        "needed": r.needed,
        "needed_likely": r.needed_likely,
        "max_replicas": r.max_replicas,
        "hpa": r.source,
        "enough": r.enough,
    }


@dataclass(frozen=True)
class CapacityReport:
    """Every forecast of one run at ``at``, the replica plans drawn from them, and the traffic
    factor of ``--what-if``."""

    at: float
    forecasts: Sequence[Forecast]
    replicas: Sequence[ReplicaPlan] = ()
    what_if: float = 1.0

    def to_json(self) -> dict[str, Any]:
        from sre_cli.capacity.forecast import BAND

        return {
            "at": rfc3339(self.at),
            "band_coverage": BAND,
            "what_if": _num(self.what_if),
            "forecasts": [forecast_dict(f) for f in self.forecasts],
            "replicas": [replicas_dict(r) for r in self.replicas],
        }

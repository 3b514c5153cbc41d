"""The regression gate: this run against an earlier one (its ``--format json`` output).

A run regresses when its p95 latency grew, or its achieved rate fell, by more than
``--max-regression`` (a fraction, 0.10 by default) of the baseline's::

    >>> base = Baseline(p95_ms=20.0, achieved_rps=500.0, source="b.json")
    >>> [c.name for c in base.checks(p95_ms=23.0, achieved_rps=480.0, max_regression=0.1)
    ...  if not c.passed]
    ['baseline p95_ms']

In the open model the p95 is the corrected one, so compare runs of the same model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sre_cli.errors import UsageError
from sre_cli.loadtest.results import ThresholdResult

__all__ = ["Baseline", "read_baseline"]


@dataclass(frozen=True)
class Baseline:
    p95_ms: float
    achieved_rps: float
    source: str
    model: str = "closed"

    def checks(
        self, *, p95_ms: float, achieved_rps: float, max_regression: float
    ) -> list[ThresholdResult]:
        p95_limit = self.p95_ms * (1 + max_regression)
        rps_limit = self.achieved_rps * (1 - max_regression)
        return [
            ThresholdResult(
                "baseline p95_ms", round(p95_limit, 3), round(p95_ms, 3), p95_ms <= p95_limit
            ),
            ThresholdResult(
                "baseline achieved_rps",
                round(rps_limit, 3),
                round(achieved_rps, 3),
                achieved_rps >= rps_limit,
                ">=",
            ),
        ]


def read_baseline(path: Path) -> Baseline:
    """A Baseline from an earlier ``aqua loadtest run --format json``; UsageError if not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --baseline {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"--baseline {path} is not JSON: {exc}") from exc
    try:
        p95 = float(data["latency_ms"]["p95"])
        rps = float(data.get("achieved_rps", data["rps"]))
    except (KeyError, TypeError, ValueError):
        raise UsageError(
            f"--baseline {path} is not a load test result",
            hint="save one with `aqua loadtest run --format json > FILE`",
        ) from None
    if p95 < 0 or rps <= 0:
        raise UsageError(f"--baseline {path} has no usable p95 or rate (rate {rps:g})")
    return Baseline(p95, rps, str(path), str(data.get("model", "closed")))

"""Synthetic gauge history with known answers for the capacity forecasts, backfilled by promtool.

Fourteen days of samples every five minutes from :data:`T0`:

* ``capacity_test_load{instance="a"}``: ``100 + 5/day + 10·sin`` peaking at 12:00 UTC, plus
  seeded noise (σ 0.5): :func:`truth` is the noise-free curve the forecast must follow;
* ``capacity_test_load{instance="b"}``: a flat 50;
* ``capacity_test_sparse{instance="c"}``: only the last 20 minutes (too few samples);
* ``capacity_test_free{volume="data"}``: free space falling, ``95 - 2.5/day + 3·sin`` with
  seeded noise (σ 0.3): :func:`free_truth`, a floor.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import promtool_backfill

VERSION = "2"
STEP = 300
DAY = 86400
T0 = int(datetime(2024, 4, 1, tzinfo=UTC).timestamp())
AT = T0 + 14 * DAY  # the end of the history: forecasts start here
LEVEL, SLOPE, AMPLITUDE, NOISE = 100.0, 5.0, 10.0, 0.5


def truth(t: float) -> float:
    """The noise-free value of instance "a" at unix time ``t`` (also after the history)."""
    return LEVEL + SLOPE * (t - T0) / DAY + AMPLITUDE * math.sin(2 * math.pi * (t - 6 * 3600) / DAY)


FREE_LEVEL, FREE_SLOPE, FREE_AMPLITUDE, FREE_NOISE = 95.0, -2.5, 3.0, 0.3


def free_truth(t: float) -> float:
    """The noise-free free space (%) of ``capacity_test_free`` at unix time ``t``."""
    return (
        FREE_LEVEL
        + FREE_SLOPE * (t - T0) / DAY
        + FREE_AMPLITUDE * math.sin(2 * math.pi * (t - 6 * 3600) / DAY)
    )


def first_reaching(
    limit: float, start: float, end: float, curve: Callable[[float], float] = truth
) -> float | None:
    """The first second in ``[start, end]`` where ``curve`` reaches ``limit`` from below."""
    t = start
    while t <= end:  # coarse scan, then to the second
        if curve(t) >= limit:
            low = t - 60
            while curve(low + 1) < limit:
                low += 1
            return low + 1
        t += 60
    return None


def openmetrics() -> str:
    rng = random.Random(20240401)
    times = range(T0, AT + 1, STEP)
    lines = ["# TYPE capacity_test_load gauge"]
    lines += [
        f'capacity_test_load{{instance="a"}} {truth(t) + rng.gauss(0, NOISE):.6f} {t}'
        for t in times
    ]
    lines += [f'capacity_test_load{{instance="b"}} 50 {t}' for t in times]
    lines += ["# TYPE capacity_test_sparse gauge"]
    lines += [f'capacity_test_sparse{{instance="c"}} 7 {t}' for t in times if t > AT - 1200]
    lines += ["# TYPE capacity_test_free gauge"]
    lines += [
        f'capacity_test_free{{volume="data"}} {free_truth(t) + rng.gauss(0, FREE_NOISE):.6f} {t}'
        for t in times
    ]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def blocks(promtool: Path) -> Path:
    key = hashlib.sha256(Path(__file__).read_bytes() + VERSION.encode()).hexdigest()[:16]
    return promtool_backfill.blocks(promtool, "capacity-fixtures", key, openmetrics)

"""A day of per-minute traffic with a known number of good minutes, for time-slice budgets.

Each minute ``[s, s + 60)`` serves 100, 200 or 400 requests (or none, 5 % of minutes), of which
none or 0.5 % fail (a good minute) or 5 % fail (a bad one), never near the 99 % slice target.
Its events land between the samples at ``s + 15`` and ``s + 30`` (samples every 15 s), so the
one-minute slice ending at ``s + 60`` holds exactly that minute's events whether the range is
open or closed at its start.
Counters start high so ``increase()`` extrapolates both series alike and the ratio is exact.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import promtool_backfill

VERSION = "1"
T0 = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp())
MINUTES = 26 * 60
SAMPLE = 15
OK = 'slice_requests_total{code="200"}'
ERR = 'slice_requests_total{code="500"}'
START = {OK: 1_000_000, ERR: 50_000}


@dataclass(frozen=True)
class Minute:
    start: int
    total: int
    bad: int

    @property
    def good_ratio(self) -> float:
        return 1 - self.bad / self.total


def generate() -> list[Minute]:
    rng = random.Random(20240501)
    minutes = []
    for m in range(MINUTES):
        roll, total = rng.random(), rng.choice((100, 200, 400))
        if roll < 0.05:
            total, bad = 0, 0
        elif roll < 0.17:
            bad = total // 20
        else:
            bad = rng.choice((0, total // 200))
        minutes.append(Minute(T0 + 60 * m, total, bad))
    return minutes


def expected(minutes: list[Minute], start: float, end: float) -> list[Minute]:
    """The minutes with traffic whose one-minute slice ends in ``(start, end]``."""
    return [m for m in minutes if m.total and start < m.start + 60 <= end]


def openmetrics(minutes: list[Minute]) -> str:
    lines = []
    for series in (OK, ERR):
        value = START[series]
        for minute in minutes:
            for offset in range(0, 60, SAMPLE):
                if offset == 30:  # the minute's events arrive between s+15 and s+30
                    value += minute.bad if series == ERR else minute.total - minute.bad
                lines.append(f"{series} {value} {minute.start + offset}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def blocks(promtool: Path) -> Path:
    key = hashlib.sha256(Path(__file__).read_bytes() + VERSION.encode()).hexdigest()[:16]
    return promtool_backfill.blocks(
        promtool, "slo-timeslices", key, lambda: openmetrics(generate())
    )

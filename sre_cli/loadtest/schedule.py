"""The arrival-rate schedule of an open-model run: when each request is meant to be sent.

An open model fixes the rate at which requests arrive, whatever the latency of those before
them; a closed model (locust's users) fixes how many are in flight, so a slow server slows
the load down with it and hides its own stall. ``--arrival-rate 200 --duration 30s`` is one
constant stage; ``--stages 30s:100,1m:500,30s:0`` ramps linearly from the previous rate
(the first stage from 0) to each stage's rate over its duration, as k6's
``ramping-arrival-rate`` does::

    >>> s = parse_stages("10s:100,10s:100")
    >>> s.intended_requests, s.duration_s, s.peak_rps
    (1500, 20.0, 100.0)

Request ``n`` (from 0) is intended at the first time the cumulative rate reaches ``n``; the
native engine (``native/main.go``) computes the same times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sre_cli import timespec
from sre_cli.errors import UsageError

__all__ = ["MAX_DURATION_S", "MAX_RATE", "Schedule", "Stage", "constant", "parse_stages"]

MAX_DURATION_S = 600.0  # every load test stops by itself within 10 minutes
MAX_RATE = 100_000.0


@dataclass(frozen=True)
class Stage:
    seconds: float
    rps: float


@dataclass(frozen=True)
class Schedule:
    start_rps: float
    stages: tuple[Stage, ...]

    @property
    def duration_s(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def intended_requests(self) -> int:
        rate, total = self.start_rps, 0.0
        for s in self.stages:
            total += (rate + s.rps) / 2 * s.seconds
            rate = s.rps
        return math.ceil(total - 1e-9)

    @property
    def intended_rps(self) -> float:
        return self.intended_requests / self.duration_s

    @property
    def peak_rps(self) -> float:
        return max([self.start_rps, *(s.rps for s in self.stages)])

    @property
    def is_constant(self) -> bool:
        return all(s.rps == self.start_rps for s in self.stages)

    def describe(self) -> str:
        if self.is_constant:
            return f"{self.start_rps:g} requests/s for {self.duration_s:g} s"
        steps = ", ".join(f"{s.rps:g}/s over {s.seconds:g} s" for s in self.stages)
        return f"from {self.start_rps:g}/s: {steps}"

    def to_json(self) -> dict[str, object]:
        return {
            "start_rps": self.start_rps,
            "stages": [{"seconds": s.seconds, "rps": s.rps} for s in self.stages],
        }


def _check(schedule: Schedule, flag: str) -> Schedule:
    if schedule.duration_s > MAX_DURATION_S:
        raise UsageError(
            f"{flag} lasts {schedule.duration_s:g} s, "
            f"longer than {MAX_DURATION_S / 60:.0f} minutes",
            hint="a load test always stops by itself; run several shorter ones",
        )
    if schedule.peak_rps > MAX_RATE:
        raise UsageError(f"{flag}: {schedule.peak_rps:g}/s is above {MAX_RATE:g} requests/s")
    if schedule.intended_requests == 0:
        raise UsageError(f"{flag} sends no request at all")
    return schedule


def constant(rate: float, seconds: float) -> Schedule:
    """``rate`` requests/s for ``seconds``."""
    if not rate > 0:
        raise UsageError(f"--arrival-rate must be above 0, got {rate:g}")
    return _check(Schedule(rate, (Stage(seconds, rate),)), "--arrival-rate")


def parse_stages(text: str) -> Schedule:
    """``30s:100,1m:500,30s:0``: each ``DURATION:RATE`` ramps to RATE over DURATION."""
    stages = []
    for item in text.split(","):
        duration, sep, rate = item.strip().partition(":")
        if not sep:
            raise UsageError(
                f"--stages item {item.strip()!r} is not DURATION:RATE",
                hint="e.g. --stages 30s:100,1m:500,30s:0",
            )
        try:
            rps = float(rate)
        except ValueError:
            raise UsageError(f"--stages rate {rate!r} is not a number") from None
        if not (rps >= 0 and math.isfinite(rps)):
            raise UsageError(f"--stages rate {rate!r} must be 0 or more")
        try:
            seconds = timespec.parse_duration(duration).total_seconds()
        except ValueError as exc:
            raise UsageError(f"--stages duration {duration!r}: {exc}") from None
        if seconds <= 0:
            raise UsageError(f"--stages duration {duration!r} must be longer than 0 s")
        stages.append(Stage(seconds, rps))
    return _check(Schedule(0.0, tuple(stages)), "--stages")

"""The service level indicator a game day watches, sampled every second in a thread.

The SLI is one number: the share of the load's requests that failed over its last seconds
(what users see, even when the API itself is down and records nothing), or a Prometheus
instant query. Each sample is judged against the scenario's ``recovered`` comparison::

    with SliWatch(read, "< 0.01") as watch:
        ...
    watch.went_bad_after(t0)       # the first sample out of its objective after t0
    watch.good_since()             # the start of the current run of good samples
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sre_cli.errors import AquaError
from sre_cli.ops.operations import compare

if TYPE_CHECKING:
    from sre_cli.gameday.load import GamedayLoad
    from sre_cli.gameday.scenario import SliSpec
    from sre_cli.ops.context import RunContext

__all__ = ["Sample", "SliWatch", "reader"]

Reader = Callable[[], float | None]


@dataclass(frozen=True)
class Sample:
    at: float  # wall clock, seconds since the epoch
    value: float | None
    ok: bool | None  # None: no data


def reader(spec: SliSpec, load: GamedayLoad, ctx: RunContext) -> Reader:
    """A function that reads the SLI now (None: no data yet)."""
    if spec.load is not None:
        window = spec.load.window
        return lambda: load.failed_share(window)
    assert spec.prometheus is not None
    query = spec.prometheus

    def from_prometheus() -> float | None:
        from sre_cli.prometheus import connect

        if ctx.prometheus_url is None:
            return None
        with connect(ctx.prometheus_url, config=ctx.prometheus_config, timeout=5.0) as prom:
            values = [s.value for s in prom.query(query, at=time.time())]
        values = [v for v in values if not math.isnan(v)]
        return max(values) if values else None

    return from_prometheus


@dataclass
class SliWatch:
    """Samples the SLI every ``every`` seconds until stopped."""

    read: Reader
    recovered: str
    every: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def sample(self) -> Sample:
        try:
            value = self.read()
        except AquaError:
            value = None
        ok = None if value is None else compare(value, self.recovered)
        found = Sample(time.time(), value, ok)
        with self._lock:
            self.samples.append(found)
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> SliWatch:
        self._thread = threading.Thread(target=self._run, daemon=True, name="gameday-sli")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _seen(self) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.ok is not None]

    def went_bad_after(self, t0: float) -> Sample | None:
        return next((s for s in self._seen() if s.at >= t0 and not s.ok), None)

    def good_since(self) -> Sample | None:
        """The first sample of the current run of good ones (None: the last one is bad)."""
        seen = self._seen()
        first = None
        for s in reversed(seen):
            if not s.ok:
                break
            first = s
        return first

    def last(self) -> Sample | None:
        seen = self._seen()
        return seen[-1] if seen else None

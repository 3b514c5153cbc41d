"""The load of a game day: the project's open-model engine, sending the reference mix at a
fixed arrival rate from before the fault until the run ends, watched while it goes.

The engine reports its counts every second (requests sent, requests answered below 400), so
the share of failed requests over the last few seconds is known live: what users see, even
when the API itself is down and records nothing.

The engine's requests are fixed when it starts, the reference mix's POST of readings too: its
readings carry the time the schedule started. A schedule therefore lasts at most
:data:`SCHEDULE_S` (30 s), and a game day chains schedules, each counted into the same totals:
the readings it posts are never more than 30 s old, so the pipeline's freshness SLO (readings
stored within 60 s of being measured) sees the pipeline, not the load replaying old readings.
The logins and the ponds are the first schedule's (logged in again every :data:`RELOGIN_S`
when the API answers): a schedule starting while the fault keeps the API down still sends its
requests, and counts them failed::

    with GamedayLoad(plan) as load:
        load.wait_started(30)
        load.failed_share(5.0)      # over the last 5 s, None before there is data
    load.total, load.failed, load.slower_than(0.1)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sre_cli.errors import AquaError, Unavailable
from sre_cli.loadtest.plan import LoadPlan
from sre_cli.loadtest.results import LoadReport

__all__ = ["RELOGIN_S", "SCHEDULE_S", "GamedayLoad"]

#: the longest schedule of the engine before the next one starts with fresh readings
SCHEDULE_S = 30.0
#: how often the load logs in again (the API's access tokens last 15 minutes)
RELOGIN_S = 300.0


@dataclass
class _Counts:
    sent: int = 0
    ok: int = 0
    #: (monotonic time, cumulative sent, cumulative answered below 400)
    ticks: list[tuple[float, int, int]] = field(default_factory=list)


class GamedayLoad:
    """The open-model load in a thread of its own, until :meth:`stop`."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.reports: list[LoadReport] = []
        self.error: AquaError | None = None
        self.started_at = 0.0
        self.seconds = 0.0
        self._counts = _Counts()
        self._base = (0, 0)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="gameday-load")

    def _tick(self, _elapsed: float, sent: int, ok: int) -> None:
        with self._lock:
            c = self._counts
            c.sent, c.ok = self._base[0] + sent, self._base[1] + ok
            c.ticks.append((time.monotonic(), c.sent, c.ok))

    def _run(self) -> None:
        import contextlib
        import dataclasses
        import random

        from sre_cli.loadtest.native import Live
        from sre_cli.loadtest.openmodel import reference_logins, reference_targets, run_open_load
        from sre_cli.loadtest.schedule import constant

        began = time.monotonic()
        rng = random.Random()  # noqa: S311 - which pond a request asks for
        try:
            tokens, ponds = reference_logins(self.plan)
            logged_in = time.monotonic()
            while not self._stop.is_set():
                if time.monotonic() - logged_in > RELOGIN_S:
                    # fresh tokens; with the API down (the fault), the ones held still work
                    with contextlib.suppress(AquaError):
                        tokens, ponds = reference_logins(self.plan)
                        logged_in = time.monotonic()
                plan = dataclasses.replace(self.plan, schedule=constant(self.plan_rate, SCHEDULE_S))
                # the requests again, the readings they post timestamped now
                targets = reference_targets(self.plan.target, tokens, ponds, rng)
                live = Live(self._tick, self._stop, 1.0)
                try:
                    report = run_open_load(plan, None, live, targets)
                except AquaError:
                    if self._stop.is_set():
                        break  # stopped as the engine started (killed before it could report)
                    raise
                self.reports.append(report)
                with self._lock:
                    self._base = (self.total, self.total - self.failed)
        except AquaError as exc:
            self.error = exc
        finally:
            self.seconds = time.monotonic() - began

    @property
    def plan_rate(self) -> float:
        assert self.plan.schedule is not None
        return self.plan.schedule.start_rps

    def __enter__(self) -> GamedayLoad:
        self.started_at = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def wait_started(self, timeout: float) -> None:
        """Until the engine answered its first requests; :class:`Unavailable` if it did not
        (or the error that stopped it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise self.error
            with self._lock:
                if self._counts.sent > 0:
                    return
            time.sleep(0.2)
        raise Unavailable(f"the load sent nothing within {timeout:g}s")

    def failed_share(self, window_s: float) -> float | None:
        """The share of requests that failed over the last ``window_s`` seconds (None before
        a request was sent in that time, or when the load stopped)."""
        with self._lock:
            ticks = list(self._counts.ticks)
        if not ticks or time.monotonic() - ticks[-1][0] > 3.0:
            return None
        now, sent, ok = ticks[-1]
        start = next((t for t in reversed(ticks) if now - t[0] >= window_s), ticks[0])
        sent_in, ok_in = sent - start[1], ok - start[2]
        if sent_in <= 0:
            return None
        return (sent_in - ok_in) / sent_in

    @property
    def total(self) -> int:
        return sum(r.recorder.requests for r in self.reports)

    @property
    def failed(self) -> int:
        return sum(r.recorder.failures for r in self.reports)

    def slower_than(self, seconds: float) -> int:
        """Requests that took longer than ``seconds`` (from their intended send time)."""
        limit = seconds * 1000.0
        return sum(
            sum(1 for ms in ep.times_ms if ms > limit)
            for r in self.reports
            for ep in r.recorder.endpoints.values()
        )

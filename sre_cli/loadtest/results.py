"""Requests recorded during a run, the report they make, and its verdict.

Latencies are kept exactly (every request's time in ms, as the engine measured it) rather
than taken from a rounded histogram, so a sub-millisecond p95 is still compared honestly.
Percentiles use the nearest-rank method.

In the closed model (locust's users) a request's latency is its service time: from when it
was sent to its response. In the open model (a fixed arrival rate) the latency is measured
from the request's *intended* send time, so time spent waiting to be sent while the server
stalled counts (the coordinated-omission correction); the service time is kept beside it.
"""

from __future__ import annotations

import bisect
import math
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sre_cli.loadtest.plan import LoadPlan

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["EndpointStats", "LoadReport", "Recorder", "percentile"]


def percentile(sorted_ms: array[float] | list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..100) of sorted values; 0 when there are none."""
    if not sorted_ms:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_ms)))
    return float(sorted_ms[min(rank, len(sorted_ms)) - 1])


@dataclass
class EndpointStats:
    method: str
    name: str
    failures: int = 0
    times_ms: array[float] = field(default_factory=lambda: array("d"))
    service_ms: array[float] = field(default_factory=lambda: array("d"))
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.times_ms)


class Recorder:
    """Listens to locust's ``request`` event; one entry per (method, name). Requests a user
    marks as setup (``context={"setup": True}``, e.g. its login) are kept apart."""

    def __init__(self) -> None:
        self.endpoints: dict[tuple[str, str], EndpointStats] = {}
        self.setup: dict[tuple[str, str], EndpointStats] = {}

    def record(
        self,
        method: str,
        name: str,
        ms: float,
        status: int | None,
        failed: bool,
        setup: bool = False,
        service_ms: float | None = None,
    ) -> None:
        key = (method, name)
        table = self.setup if setup else self.endpoints
        ep = table.get(key)
        if ep is None:
            ep = table[key] = EndpointStats(method, name)
        ep.times_ms.append(ms)
        if service_ms is not None:
            ep.service_ms.append(service_ms)
        ep.failures += int(failed)
        if failed:
            label = str(status) if status else "no response"
            ep.statuses[label] = ep.statuses.get(label, 0) + 1

    @property
    def requests(self) -> int:
        return sum(ep.requests for ep in self.endpoints.values())

    @property
    def failures(self) -> int:
        return sum(ep.failures for ep in self.endpoints.values())


@dataclass(frozen=True)
class ThresholdResult:
    name: str
    limit: float
    value: float
    passed: bool
    op: str = "<="

    def describe(self) -> str:
        return f"{self.name} {self.value:.4g} (limit {self.op} {self.limit:g})"


def summary_ms(sorted_ms: array[float] | list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of sorted values, rounded to the microsecond."""
    return {
        "p50": round(percentile(sorted_ms, 50), 3),
        "p95": round(percentile(sorted_ms, 95), 3),
        "p99": round(percentile(sorted_ms, 99), 3),
        "max": round(float(sorted_ms[-1]) if sorted_ms else 0.0, 3),
    }


@dataclass
class LoadReport:
    plan: LoadPlan
    elapsed_s: float
    recorder: Recorder
    notes: list[str] = field(default_factory=list)
    model: str = "closed"
    intended_requests: int | None = None
    server: dict[str, Any] | None = None
    checks: list[ThresholdResult] = field(default_factory=list)
    started_at: float = 0.0  # unix time the load began
    #: requests per worker process (``--workers``), busiest first; None in one process
    workers: list[int] | None = None

    def __post_init__(self) -> None:
        every, service = array("d"), array("d")
        for ep in self.recorder.endpoints.values():
            every.extend(ep.times_ms)
            service.extend(ep.service_ms if self.model == "open" else ep.times_ms)
        self._sorted = array("d", sorted(every))
        self._service = array("d", sorted(service))

    def note_failures(self) -> None:
        """The notes every run ends with: users that never logged in, failures by status."""
        failed_setup = sum(ep.failures for ep in self.recorder.setup.values())
        if failed_setup:
            self.notes.append(f"{failed_setup} users could not log in and sent nothing")
        if self.failures:
            self.notes.append(f"failed requests by status: {self.failure_breakdown()}")

    @property
    def requests(self) -> int:
        return self.recorder.requests

    @property
    def failures(self) -> int:
        return self.recorder.failures

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def intended_rps(self) -> float | None:
        if self.intended_requests is None or self.elapsed_s <= 0:
            return None
        return self.intended_requests / self.elapsed_s

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def latency(self) -> dict[str, float]:
        """Corrected latency in the open model; the service time in the closed one."""
        return summary_ms(self._sorted)

    def service_time(self) -> dict[str, float]:
        return summary_ms(self._service)

    def share_within(self, ms: float) -> float:
        """The fraction of requests whose service time was at most ``ms``."""
        if not self._service:
            return 0.0
        return bisect.bisect_right(self._service, ms) / len(self._service)

    @property
    def server_errors(self) -> int:
        """Failed requests a server would count as its own errors: 5xx and no answer."""
        return sum(
            n
            for ep in self.recorder.endpoints.values()
            for label, n in ep.statuses.items()
            if label.startswith("5") or label == "no response"
        )

    def thresholds(self) -> list[ThresholdResult]:
        p95 = percentile(self._sorted, 95)
        out = []
        for name, limit in self.plan.limits.rows():
            if name == "p95_ms":
                out.append(ThresholdResult(name, limit, round(p95, 3), p95 <= limit))
            elif name == "error_rate":
                rate = self.error_rate
                out.append(ThresholdResult(name, limit, round(rate, 6), rate <= limit))
            else:
                rps = self.rps
                out.append(ThresholdResult(name, limit, round(rps, 3), rps >= limit, ">="))
        return [*out, *self.checks]

    @property
    def failed(self) -> list[ThresholdResult]:
        return [t for t in self.thresholds() if not t.passed]

    @property
    def verdict(self) -> str:
        return "fail" if self.failed else "pass"

    def endpoints(self) -> list[EndpointStats]:
        return sorted(self.recorder.endpoints.values(), key=lambda e: (-e.requests, e.name))

    def setup_notes(self) -> list[str]:
        out = []
        for ep in self.recorder.setup.values():
            p95 = percentile(sorted(ep.times_ms), 95)
            out.append(
                f"setup {ep.method} {ep.name}: {ep.requests} requests, {ep.failures} failed, "
                f"p95 {p95:.1f} ms (not in the verdict)"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.plan.target,
            # the closed model's simulated users; the open model's logins
            "users": self.plan.users if self.model == "closed" else len(self.plan.accounts),
            "duration_s": round(self.elapsed_s, 3),
            "requests": self.requests,
            "failures": self.failures,
            "rps": round(self.rps, 3),
            "error_rate": round(self.error_rate, 6),
            "latency_ms": self.latency(),
            "model": self.model,
            "intended_rps": None if self.intended_rps is None else round(self.intended_rps, 3),
            "achieved_rps": round(self.rps, 3),
            "service_time_ms": self.service_time(),
            "server": self.server,
            "workers": self.workers,
            "by_endpoint": [
                {
                    "name": ep.name,
                    "method": ep.method,
                    "requests": ep.requests,
                    "failures": ep.failures,
                    "p95_ms": round(percentile(sorted(ep.times_ms), 95), 3),
                }
                for ep in self.endpoints()
            ],
            "setup": [
                {
                    "name": ep.name,
                    "method": ep.method,
                    "requests": ep.requests,
                    "failures": ep.failures,
                    "p95_ms": round(percentile(sorted(ep.times_ms), 95), 3),
                }
                for ep in self.recorder.setup.values()
            ],
            "thresholds": [
                {"name": t.name, "limit": t.limit, "value": t.value, "passed": t.passed}
                for t in self.thresholds()
            ],
            "verdict": self.verdict,
            "notes": [*self.setup_notes(), *self.notes],
        }

    def renderable(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        from sre_cli.table import FitTable

        lat = self.latency()

        def line(d: dict[str, float]) -> str:
            return (
                f"p50 {d['p50']:.1f} ms, p95 {d['p95']:.1f} ms, p99 {d['p99']:.1f} ms, "
                f"max {d['max']:.1f} ms"
            )

        if self.model == "open":
            svc = self.service_time()
            head = Text.assemble(
                (f"{self.plan.target}", "bold"),
                f"  open model for {self.elapsed_s:.1f} s\n",
                f"intended {self.intended_rps or 0:.1f} req/s, achieved {self.rps:.1f} req/s; ",
                f"{self.requests} requests, {self.failures} failed ({self.error_rate:.2%})\n",
                f"latency from intended send time: {line(lat)}\n",
                f"service time:                    {line(svc)}",
            )
        else:
            head = Text.assemble(
                (f"{self.plan.target}", "bold"),
                f"  {self.plan.users} users for {self.elapsed_s:.1f} s",
                f" on {len(self.workers)} workers\n" if self.workers else "\n",
                f"{self.requests} requests, {self.failures} failed ({self.error_rate:.2%}), ",
                f"{self.rps:.1f} req/s; {line(lat)}",
            )
        endpoints = FitTable(title="by endpoint", title_justify="left")
        for col in ("method", "name"):
            endpoints.add_column(col)
        for col in ("requests", "failures", "p95 ms"):
            endpoints.add_column(col, justify="right")
        for ep in self.endpoints():
            endpoints.add_row(
                ep.method,
                ep.name,
                str(ep.requests),
                str(ep.failures),
                f"{percentile(sorted(ep.times_ms), 95):.1f}",
            )
        checks = FitTable(title="thresholds", title_justify="left")
        for col in ("threshold", "limit", "value", "result"):
            checks.add_column(col, justify="left" if col == "threshold" else "right")
        for t in self.thresholds():
            op = {"<=": "≤", ">=": "≥"}.get(t.op, t.op)
            result = Text("pass", "green") if t.passed else Text("FAIL", "bold red")
            checks.add_row(t.name, f"{op} {t.limit:g}", f"{t.value:.4g}", result)
        colour = "green" if self.verdict == "pass" else "bold red"
        parts: list[RenderableType] = [head, endpoints, checks]
        notes = [*self.setup_notes(), *self.notes]
        parts.extend(Text(f"note: {n}", style="dim") for n in notes)
        parts.append(Text.assemble("verdict: ", (self.verdict, colour)))
        return Group(*parts)

    def failure_breakdown(self) -> str:
        """``"503: 4, no response: 2"`` over every endpoint, for the error message."""
        counts: dict[str, int] = {}
        for ep in self.recorder.endpoints.values():
            for label, n in ep.statuses.items():
                counts[label] = counts.get(label, 0) + n
        return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))

"""Requests recorded during a run, the report they make, and its verdict.

Latencies are kept exactly (every request's time in ms, as locust measured it) rather than
taken from locust's rounded histogram, so a sub-millisecond p95 is still compared honestly.
Percentiles use the nearest-rank method.
"""

from __future__ import annotations

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
    ) -> None:
        key = (method, name)
        table = self.setup if setup else self.endpoints
        ep = table.get(key)
        if ep is None:
            ep = table[key] = EndpointStats(method, name)
        ep.times_ms.append(ms)
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

    def describe(self) -> str:
        op = ">=" if self.name == "min_rps" else "<="
        return f"{self.name} {self.value:.4g} (limit {op} {self.limit:g})"


@dataclass
class LoadReport:
    plan: LoadPlan
    elapsed_s: float
    recorder: Recorder
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        every = array("d")
        for ep in self.recorder.endpoints.values():
            every.extend(ep.times_ms)
        self._sorted = array("d", sorted(every))

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
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def latency(self) -> dict[str, float]:
        s = self._sorted
        return {
            "p50": round(percentile(s, 50), 3),
            "p95": round(percentile(s, 95), 3),
            "p99": round(percentile(s, 99), 3),
            "max": round(float(s[-1]) if s else 0.0, 3),
        }

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
                out.append(ThresholdResult(name, limit, round(rps, 3), rps >= limit))
        return out

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
            "users": self.plan.users,
            "duration_s": round(self.elapsed_s, 3),
            "requests": self.requests,
            "failures": self.failures,
            "rps": round(self.rps, 3),
            "error_rate": round(self.error_rate, 6),
            "latency_ms": self.latency(),
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
        }

    def renderable(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        lat = self.latency()
        head = Text.assemble(
            (f"{self.plan.target}", "bold"),
            f"  {self.plan.users} users for {self.elapsed_s:.1f} s\n",
            f"{self.requests} requests, {self.failures} failed ({self.error_rate:.2%}), ",
            f"{self.rps:.1f} req/s; p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, ",
            f"p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms",
        )
        endpoints = Table(title="by endpoint", title_justify="left")
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
        checks = Table(title="thresholds", title_justify="left")
        for col in ("threshold", "limit", "value", "result"):
            checks.add_column(col, justify="left" if col == "threshold" else "right")
        for t in self.thresholds():
            op = "≥" if t.name == "min_rps" else "≤"
            result = "[green]pass[/]" if t.passed else "[bold red]FAIL[/]"
            checks.add_row(t.name, f"{op} {t.limit:g}", f"{t.value:.4g}", result)
        colour = "green" if self.verdict == "pass" else "bold red"
        parts: list[RenderableType] = [head, endpoints, checks]
        notes = [*self.setup_notes(), *self.notes]
        parts.extend(Text(f"note: {n}", style="dim") for n in notes)
        parts.append(Text.from_markup(f"verdict: [{colour}]{self.verdict}[/]"))
        return Group(*parts)

    def failure_breakdown(self) -> str:
        """``"503: 4, no response: 2"`` over every endpoint, for the error message."""
        counts: dict[str, int] = {}
        for ep in self.recorder.endpoints.values():
            for label, n in ep.statuses.items():
                counts[label] = counts.get(label, 0) + n
        return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))

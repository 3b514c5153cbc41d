"""The knee: the highest arrival rate the service sustains within its SLO.

``aqua loadtest knee`` warms the target up at the first rate (not judged), then runs
open-model steps of a fixed length at rising rates. A step is *good* when its corrected p95
and its error rate are within the limits and the generator sent at least 95 % of the
intended requests; a step that breaks runs once more, and only breaking twice in a row
counts (a single noisy step on a shared machine is not a knee). The rate grows by
``factor`` until a step breaks; then ``refine`` bisections between the last good and the
first bad rate; then the highest good rate runs once more to confirm it (a step that fails
its confirmation is treated as bad, and the next lower good rate is confirmed instead). The
answer: that rate in total and per API replica, and the resource closest to its limit
during the first breaking step (see :mod:`~sre_cli.loadtest.saturation`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sre_cli.loadtest.plan import LoadPlan
from sre_cli.loadtest.saturation import ProcSampler, Resource, prometheus_resources

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["KneePlan", "KneeResult", "Step", "find_knee", "write_knee"]

Progress = Callable[[str], None]
KEEP_UP = 0.95


@dataclass(frozen=True)
class KneePlan:
    load: LoadPlan  # target, logins, endpoint, limits; its schedule is set per step
    start_rps: float
    factor: float
    max_rps: float
    step_s: float
    refine: int
    replicas: int
    prometheus: str | None
    prometheus_config: Path | None = None
    pids: dict[str, int] = field(default_factory=dict)
    warmup_s: float = 0.0


@dataclass(frozen=True)
class Step:
    rate: float
    achieved_rps: float
    p95_ms: float
    error_rate: float
    sent_share: float
    good: bool
    why: str
    confirm: bool = False
    resources: tuple[Resource, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "achieved_rps": round(self.achieved_rps, 3),
            "p95_ms": round(self.p95_ms, 3),
            "error_rate": round(self.error_rate, 6),
            "good": self.good,
            "why": self.why,
            "confirm": self.confirm,
        }


@dataclass
class KneeResult:
    plan: KneePlan
    steps: list[Step]
    knee_rps: float | None
    confirmed: bool
    saturating: Resource | None
    measured_at: str

    @property
    def per_replica_rps(self) -> float | None:
        return None if self.knee_rps is None else self.knee_rps / self.plan.replicas

    def to_json(self) -> dict[str, Any]:
        limits = self.plan.load.limits
        return {
            "target": self.plan.load.target,
            "measured_at": self.measured_at,
            "max_sustainable_rps": self.knee_rps,
            "total_rps": self.knee_rps,  # the name `aqua capacity --knee` shows
            "replicas": self.plan.replicas,
            "per_replica_rps": None
            if self.per_replica_rps is None
            else round(self.per_replica_rps, 3),
            "confirmed": self.confirmed,
            "p95_ms_limit": limits.p95_ms,
            "max_error_rate": limits.max_error_rate,
            "step_s": self.plan.step_s,
            "endpoint": self.plan.load.endpoint,
            "saturating": self.saturating.to_json() if self.saturating else None,
            "steps": [s.to_json() for s in self.steps],
        }

    def renderable(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        from sre_cli.table import FitTable

        table = FitTable(title="steps", title_justify="left")
        for col in ("rate /s", "achieved /s", "p95 ms", "errors", "result"):
            table.add_column(col, justify="right")
        for s in self.steps:
            mark = Text("good", "green") if s.good else Text.assemble(("bad", "red"), f" ({s.why})")
            if s.confirm:
                mark.append(" confirm")
            table.add_row(
                f"{s.rate:g}",
                f"{s.achieved_rps:.1f}",
                f"{s.p95_ms:.1f}",
                f"{s.error_rate:.2%}",
                mark,
            )
        if self.knee_rps is None:
            head = Text("no sustainable rate: the first step already broke the SLO", "bold red")
        else:
            confirmed = "confirmed" if self.confirmed else "NOT confirmed"
            head = Text.assemble(
                ("max sustainable rate ", "bold"),
                (f"{self.knee_rps:g} requests/s", "bold green"),
                f" ({confirmed}); {self.per_replica_rps:.1f}/s per API replica "
                f"({self.plan.replicas} replica{'s' if self.plan.replicas != 1 else ''})",
            )
        sat = (
            f"saturating: {self.saturating.name} ({self.saturating.detail}, "
            f"from {self.saturating.source})"
            if self.saturating
            else "saturating: no resource measured"
        )
        return Group(table, head, Text(sat))


def _round(rate: float) -> float:
    return float(round(rate)) if rate >= 10 else round(rate, 1)


def find_knee(plan: KneePlan, progress: Progress | None = None) -> KneeResult:
    from sre_cli.loadtest.openmodel import run_open_load
    from sre_cli.loadtest.schedule import constant

    say = progress or (lambda _msg: None)
    steps: list[Step] = []

    def step(rate: float, confirm: bool = False) -> Step:
        load = dataclasses.replace(plan.load, schedule=constant(rate, plan.step_s))
        sampler = ProcSampler(plan.pids)
        sampler.start()
        report = run_open_load(load)
        resources = sampler.stop()
        if plan.prometheus:
            resources += _from_prometheus(
                plan.prometheus, plan.prometheus_config, report.started_at, plan.step_s
            )
        p95 = report.latency()["p95"]
        sent = report.requests / max(report.intended_requests or 1, 1)
        limits = plan.load.limits
        why = []
        if p95 > limits.p95_ms:
            why.append(f"p95 {p95:.0f} ms")
        if report.error_rate > limits.max_error_rate:
            why.append(f"errors {report.error_rate:.2%}")
        if sent < KEEP_UP:
            why.append(f"sent {sent:.0%}")
        s = Step(
            rate,
            report.rps,
            p95,
            report.error_rate,
            sent,
            not why,
            ", ".join(why),
            confirm,
            tuple(resources),
        )
        steps.append(s)
        say(
            f"{rate:8g}/s  achieved {s.achieved_rps:8.1f}/s  p95 {p95:8.1f} ms  "
            f"errors {s.error_rate:.2%}  {'good' if s.good else 'bad: ' + s.why}"
        )
        time.sleep(1.0)  # let queues drain before the next step
        return s

    def holds(rate: float, confirm: bool = False) -> bool:
        """A step that breaks runs once more: one noisy step is not a knee."""
        return step(rate, confirm).good or step(rate, confirm).good

    if plan.warmup_s > 0:  # connections, caches and lazy imports, before anything is judged
        say(f"warm-up: {plan.start_rps:g}/s for {plan.warmup_s:g} s (not judged)")
        warm = dataclasses.replace(plan.load, schedule=constant(plan.start_rps, plan.warmup_s))
        run_open_load(warm)
    good: list[float] = []
    bad: float | None = None
    rate = plan.start_rps
    while rate <= plan.max_rps:
        if holds(rate):
            good.append(rate)
            rate = _round(rate * plan.factor)
        else:
            bad = rate
            break
    if good and bad is not None:
        for _ in range(plan.refine):
            mid = _round((good[-1] + bad) / 2)
            if mid in (good[-1], bad):
                break
            if holds(mid):
                good.append(mid)
            else:
                bad = mid
    knee, confirmed = None, False
    while good:
        candidate = max(good)
        if holds(candidate, confirm=True):
            knee, confirmed = candidate, True
            break
        good.remove(candidate)
        bad = candidate if bad is None else min(bad, candidate)
    breaking = [s for s in steps if not s.good]
    first_bad = min(breaking, key=lambda s: s.rate) if breaking else None
    saturating = None
    if first_bad and first_bad.resources:
        saturating = max(first_bad.resources, key=lambda r: r.utilisation)
    measured = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return KneeResult(plan, steps, knee, confirmed, saturating, measured)


def _from_prometheus(
    url: str, config: Path | None, started: float, step_s: float
) -> list[Resource]:
    from sre_cli.errors import AquaError
    from sre_cli.prometheus import connect

    try:
        with connect(url, config=config, timeout=5.0) as prom:
            return prometheus_resources(prom, started + step_s, int(step_s))
    except AquaError:
        return []


def write_knee(result: KneeResult, path: Path) -> None:
    """The knee as JSON for ``aqua capacity``: ``max_sustainable_rps``, ``per_replica_rps``."""
    import json

    path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")

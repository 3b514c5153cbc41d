"""One analysis of a rollout step: each SLO's burn rate on the canary and on the stable pods.

For every SLO of the files, over the window ``[step start, now]``, the SLI's event counts
(``SLI.counts``, the engine's ``increase`` form of the spec's queries) are read twice, scoped to
``track="canary"`` and to ``track="stable"``. The burn rate is the window's error ratio over the
SLO's budget (``1 − objective``), as the engine computes it for its fixed windows. A step fails
when the canary burns faster than ``Limits.max_burn_rate``, or faster than the stable pods by
more than ``Limits.margin``; with fewer than ``Limits.min_requests`` canary events it can not
pass (inconclusive)::

    result = analyse(slos, prom, limits, start=t0, at=time.time())
    result.verdict          # "pass" | "fail" | "inconclusive"
    result.reasons          # ["api-availability: canary burns 50.0× its budget, ceiling 10×"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sre_cli.rollout.promql import scope
from sre_cli.timespec import rfc3339

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.rollout.plan import Limits
    from sre_cli.slo.spec import SLO

__all__ = ["Analysis", "Figures", "Judgement", "Verdict", "analyse", "judge_slo"]

Verdict = Literal["pass", "fail", "inconclusive"]
TRACK_LABEL = "track"
#: the shortest window a rate may cover: two scrapes of the cluster's Prometheus and a margin
MIN_WINDOW_S = 5


@dataclass(frozen=True)
class Figures:
    """One track's events over the window (``None``: no series at all)."""

    bad: float | None
    total: float | None
    budget: float

    @property
    def error_ratio(self) -> float | None:
        if self.total is None or self.total <= 0:
            return None
        return min(max(self.bad or 0.0, 0.0), self.total) / self.total

    @property
    def burn_rate(self) -> float | None:
        ratio = self.error_ratio
        return None if ratio is None else ratio / self.budget

    def to_json(self) -> dict[str, Any]:
        return {
            "bad": _round(self.bad),
            "total": _round(self.total),
            "error_ratio": _round(self.error_ratio, 6),
            "burn_rate": _round(self.burn_rate),
        }


@dataclass(frozen=True)
class Judgement:
    slo: str
    objective: float
    canary: Figures
    stable: Figures
    verdict: Verdict
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "slo": self.slo,
            "objective": self.objective,
            "canary": self.canary.to_json(),
            "stable": self.stable.to_json(),
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Analysis:
    start: float
    at: float
    judgements: list[Judgement]
    seconds: float = 0.0  # time the queries took

    @property
    def window_s(self) -> float:
        return self.at - self.start

    @property
    def verdict(self) -> Verdict:
        verdicts = {j.verdict for j in self.judgements}
        if "fail" in verdicts:
            return "fail"
        if "inconclusive" in verdicts or not verdicts:
            return "inconclusive"
        return "pass"

    @property
    def reasons(self) -> list[str]:
        wanted = self.verdict
        return [f"{j.slo}: {j.reason}" for j in self.judgements if j.verdict == wanted]

    def to_json(self) -> dict[str, Any]:
        return {
            "start": rfc3339(self.start),
            "at": rfc3339(self.at),
            "window_s": round(self.window_s, 1),
            "verdict": self.verdict,
            "reasons": self.reasons,
            "query_seconds": round(self.seconds, 3),
            "slos": [j.to_json() for j in self.judgements],
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def judge_slo(
    slo: SLO, canary: Figures, stable: Figures, limits: Limits, track: str = "canary"
) -> Judgement:
    """The verdict of one SLO from both tracks' figures (pure: the unit of the rules);
    ``track`` names the new pods in the reasons."""

    def out(verdict: Verdict, reason: str) -> Judgement:
        return Judgement(slo.id, slo.objective, canary, stable, verdict, reason)

    burn, total = canary.burn_rate, canary.total or 0.0
    if burn is None or total < limits.min_requests:
        return out(
            "inconclusive",
            f"{total:.0f} {track} events in the window, at least {limits.min_requests} needed",
        )
    if burn > limits.max_burn_rate:
        return out(
            "fail",
            f"{track} burns {burn:.1f}× its budget (error ratio {canary.error_ratio:.2%}), "
            f"ceiling {limits.max_burn_rate:g}×",
        )
    base = stable.burn_rate
    if base is not None and burn > base + limits.margin:
        return out(
            "fail",
            f"{track} burns {burn:.1f}×, stable {base:.1f}×: worse by more than {limits.margin:g}",
        )
    versus = "no stable figures" if base is None else f"stable {base:.2f}×"
    return out("pass", f"{track} burns {burn:.2f}× ({versus})")


def _value(prom: PrometheusClient, query: str, at: float) -> float | None:
    samples = [s.value for s in prom.query(query, at) if not math.isnan(s.value)]
    return math.fsum(samples) if samples else None


def figures(slo: SLO, prom: PrometheusClient, track: str, window_s: int, at: float) -> Figures:
    """``track``'s events of ``slo`` over the ``window_s`` seconds before ``at``."""
    window = f"{max(window_s, MIN_WINDOW_S)}s"
    raw = slo.sli.error_ratio_query
    if raw is not None:
        from sre_cli.slo.spec import render_window

        ratio = _value(prom, scope(render_window(raw, window), TRACK_LABEL, track), at)
        # A raw ratio has no event count: one "event" stands for the whole window.
        return Figures(None if ratio is None else ratio, None if ratio is None else 1.0, slo.budget)
    bad_q, total_q = slo.sli.counts(window)
    total = _value(prom, scope(total_q, TRACK_LABEL, track), at)
    bad = _value(prom, scope(bad_q, TRACK_LABEL, track), at) if total else None
    return Figures(bad, total, slo.budget)


def analyse(
    slos: Sequence[SLO],
    prom: PrometheusClient,
    limits: Limits,
    *,
    start: float,
    at: float,
    track: str = "canary",
) -> Analysis:
    """Every SLO judged over ``[start, at]`` (unix seconds): ``track`` against ``stable``."""
    import time

    t0 = time.monotonic()
    window_s = math.ceil(at - start)
    judgements = [
        judge_slo(
            slo,
            figures(slo, prom, track, window_s, at),
            figures(slo, prom, "stable", window_s, at),
            limits,
            track,
        )
        for slo in slos
    ]
    return Analysis(start, at, judgements, time.monotonic() - t0)

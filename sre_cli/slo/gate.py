"""The deploy gate: a report checked against each SLO's budget policy.

Exit codes are the contract CI relies on: 0 every SLO passes, 1 a policy is violated (the
violation names the SLO and the reason), 2 the gate could not decide (no data; unreachable
Prometheus and invalid specs raise before a verdict). A violation outranks missing data: one
known-bad SLO blocks the deploy whatever the others say::

    verdict = judge(report, min_budget_remaining=0.25)
    verdict.exit_code, [v.reason for v in verdict.violations]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from sre_cli.slo.engine import Report, SLOResult

__all__ = ["Verdict", "Violation", "judge"]


@dataclass(frozen=True)
class Violation:
    """One reason an SLO fails the gate."""

    service: str
    name: str
    kind: Literal["budget", "burn_rate", "no_data"]
    reason: str
    value: float | None
    limit: float | None


@dataclass(frozen=True)
class Verdict:
    report: Report
    violations: list[Violation]

    @property
    def passed(self) -> bool:
        return not self.violations

    @property
    def exit_code(self) -> int:
        if any(v.kind != "no_data" for v in self.violations):
            return 1
        return 2 if self.violations else 0

    def json_extra(self) -> dict[str, Any]:
        return {"passed": self.passed, "violations": [asdict(v) for v in self.violations]}

    def to_json(self) -> dict[str, Any]:
        """The report contract plus ``passed`` and ``violations``."""
        return self.report.to_json(self.json_extra())


def _check(
    result: SLOResult,
    min_budget_remaining: float | None,
    max_burn_rate: float | None,
    burn_rate_window: str | None,
) -> list[Violation]:
    slo = result.slo

    def violation(
        kind: Literal["budget", "burn_rate", "no_data"],
        reason: str,
        value: float | None = None,
        limit: float | None = None,
    ) -> Violation:
        return Violation(slo.service, slo.name, kind, reason, value, limit)

    remaining = result.budget_remaining
    if remaining is None:
        return [violation("no_data", f"no events in its {slo.window.label} window")]
    out = []
    floor = (
        min_budget_remaining
        if min_budget_remaining is not None
        else slo.policy.min_budget_remaining
    )
    floor = 0.0 if floor is None else floor
    if remaining < floor:
        what = "exhausted" if remaining < 0 else "below the minimum"
        out.append(
            violation(
                "budget",
                f"error budget {what}: {remaining:.1%} left, minimum {floor:.1%}",
                remaining,
                floor,
            )
        )
    ceiling = max_burn_rate if max_burn_rate is not None else slo.policy.max_burn_rate
    window = burn_rate_window or slo.policy.burn_rate_window
    burn = result.burn_rates.get(window)
    if ceiling is not None and burn is not None and burn > ceiling:
        out.append(
            violation(
                "burn_rate",
                f"burn rate over {window} is {burn:.2f}×, maximum {ceiling:g}×",
                burn,
                ceiling,
            )
        )
    return out


def judge(
    report: Report,
    *,
    min_budget_remaining: float | None = None,
    max_burn_rate: float | None = None,
    burn_rate_window: str | None = None,
) -> Verdict:
    """Check every SLO; command-line limits override each spec's ``policy``.

    Without any limit the gate still fails an SLO whose budget is exhausted (remaining < 0).
    """
    violations = [
        v
        for r in report.results
        for v in _check(r, min_budget_remaining, max_burn_rate, burn_rate_window)
    ]
    return Verdict(report, violations)

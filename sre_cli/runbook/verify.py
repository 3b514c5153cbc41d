"""Verification against the SLO once a runbook's steps are done (``verify:`` in its front
matter): the SLO's error ratio over ``window``, from Prometheus, must be back under what its
objective allows (``1 - objective``: 0.001 for 99.9 %) within ``within``.

The SLO comes from the SLO specs (``slo/``, :mod:`sre_cli.slo.loader`), so its objective and
SLI are read where they are defined, never copied into the runbook::

    slo = find_slo(book)                        # UsageError when the id names no SLO
    seen = error_ratio(slo, "5m", prom)         # ErrorRatio(ratio=0.0004, total=1200.0)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sre_cli.errors import UsageError

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.runbook.spec import Runbook, SloVerification
    from sre_cli.slo.spec import SLO

__all__ = ["ErrorRatio", "error_ratio", "find_slo", "judge"]


def find_slo(book: Runbook) -> SLO:
    """The SLO ``book.meta.verify`` names, from its ``file`` (relative to the runbook's
    folder) or the SLO folder."""
    from sre_cli.slo.loader import default_dir, load_slos

    spec = book.meta.verify
    assert spec is not None
    where = book.path.parent / spec.file if spec.file else default_dir()
    slos = load_slos([where])
    for slo in slos:
        if spec.slo not in (slo.id, f"{slo.service}/{slo.name}"):
            continue
        if slo.budgeting.method != "occurrences":
            raise UsageError(
                f"runbook {book.name}: verify.slo {spec.slo} is counted in time slices "
                f"({slo.budgeting.method}); verify compares an error ratio of events",
                hint="name an SLO whose budgeting is occurrences",
            )
        return slo
    known = ", ".join(s.id for s in slos) or "none"
    raise UsageError(
        f"runbook {book.name}: verify.slo {spec.slo!r} is no SLO of {where}",
        hint=f"SLOs there: {known}",
    )


@dataclass(frozen=True)
class ErrorRatio:
    #: bad / total over the window; None when the window saw no traffic
    ratio: float | None
    #: events over the window (None for an SLI that is a ratio query)
    total: float | None


def _value(prom: PrometheusClient, expr: str, at: float) -> float | None:
    values = [s.value for s in prom.query(expr, at=at) if math.isfinite(s.value)]
    return sum(values) if values else None


def error_ratio(slo: SLO, window: str, prom: PrometheusClient) -> ErrorRatio:
    """The SLO's error ratio over the last ``window`` as Prometheus computes it now."""
    from sre_cli.slo.spec import render_window

    at = time.time()
    raw = slo.sli.error_ratio_query
    if raw is not None:
        values = [
            s.value for s in prom.query(render_window(raw, window), at=at) if math.isfinite(s.value)
        ]
        return ErrorRatio(max(values) if values else None, None)
    bad_q, total_q = slo.sli.counts(window)
    total = _value(prom, f"sum({total_q})", at)
    if not total:
        return ErrorRatio(None, total)
    bad = _value(prom, f"sum({bad_q})", at) or 0.0
    return ErrorRatio(min(max(bad, 0.0), total) / total, total)


def judge(seen: ErrorRatio, slo: SLO, spec: SloVerification) -> tuple[bool, str]:
    """Whether the ratio is back under the objective's allowance, and a line that says so."""
    allowed = slo.budget
    if seen.ratio is None:
        ok = spec.no_traffic == "pass"
        return ok, f"no traffic over {spec.window} ({'pass' if ok else 'fail'} without traffic)"
    events = f" of {seen.total:g} requests" if seen.total is not None else ""
    word = "under" if seen.ratio <= allowed else "above"
    return (
        seen.ratio <= allowed,
        f"error ratio {seen.ratio:.4%}{events} over {spec.window}, {word} the {allowed:.4%} "
        f"the objective ({slo.objective:g} %) allows",
    )

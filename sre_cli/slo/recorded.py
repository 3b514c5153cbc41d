"""Window counts from hourly recordings instead of raw counters (``aqua slo report --recorded``).

A 30-day window read from raw counters decodes every sample of every series the SLO's queries
select (43,201 per series at a 1-minute scrape). ``aqua slo rules --report-recordings`` adds one
rule group, evaluated hourly, that records each SLO's bad and total events of the past hour::

    aqua:slo_events:increase1h{sloth_id="api-availability", aqua_events="bad"}

The report then reads the window as the sum of the recorded hours that fit in it (720 samples
of one series each) plus the raw counts of the two partial hours at its edges (the raw data of
at most two hours). A window whose hours are not all recorded (a missed evaluation, a new SLO)
is read from the raw counters instead, and every result says which figure it shows.

The figure is not the raw one: each recorded hour is PromQL's ``increase`` over the samples
inside the hour, extrapolated to its edges, in place of the events counted between the last
sample of one hour and the first of the next. Per hour the error is the hour's events divided
by its sample intervals minus the events of the interval that crosses into the hour; under
steady traffic these cancel on average (slo/README.md states the bound and bench/README.md the
measured errors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sre_cli.slo.spec import SLO

if TYPE_CHECKING:
    from collections.abc import Callable

    from sre_cli.slo.engine import Plan

__all__ = [
    "GROUP",
    "HOUR",
    "RECORD",
    "describe",
    "eligible",
    "last_evaluation",
    "recording_group",
    "window_counts",
]

RECORD = "aqua:slo_events:increase1h"
GROUP = "aqua-slo-report-recordings"
HOUR = 3600
_KINDS = ("bad", "total")


def eligible(slo: SLO) -> bool:
    """SLOs counted by events from an error and a total query (a raw ratio cannot be summed)."""
    return slo.budgeting.method == "occurrences" and slo.sli.error_query is not None


def _selector(slo: SLO, kind: str) -> str:
    ids = f'sloth_id="{slo.id}", sloth_service="{slo.service}", sloth_slo="{slo.name}"'
    return f'{RECORD}{{{ids}, aqua_events="{kind}"}}'


def recording_group(slos: Sequence[SLO]) -> dict[str, Any]:
    """One hourly group: per eligible SLO its bad and total events of the past hour."""
    rules = []
    for slo in filter(eligible, slos):
        ids = {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name}
        for kind, expr in zip(_KINDS, slo.sli.counts("1h"), strict=True):
            rules.append({"record": RECORD, "expr": expr, "labels": {**ids, "aqua_events": kind}})
    return {"name": GROUP, "interval": "1h", "rules": rules}


def last_evaluation(query: Callable[[str, float], list[float]], at: float) -> float | None:
    """The time of the group's last evaluation at or before ``at`` (within the past hour)."""
    latest = f'max(max_over_time(timestamp({RECORD}{{aqua_events="total"}})[{HOUR}s:1m]))'
    found = [v for v in query(latest, at) if math.isfinite(v) and v <= at]
    return max(found) if found else None


def window_counts(
    plans: Sequence[Plan],
    last: float,
    values: Callable[[float, list[dict[str, str]]], list[dict[str, float]]],
) -> list[dict[str, float] | None]:
    """Per plan its window's ``bad:window`` and ``total:window`` from the recorded hours, or
    None where the recordings do not cover the window (the raw counters then answer).

    ``values(at, parts)`` evaluates per plan its parts (key -> PromQL) at ``at`` and returns
    per plan the values found (key -> sum)."""
    at = plans[0].at if plans else last
    hours = [int((last - p.start) // HOUR) if eligible(p.slo) else 0 for p in plans]
    head = format_duration_s(at - last)
    recorded: list[dict[str, str]] = []
    for p, n in zip(plans, hours, strict=True):
        if n < 1:
            recorded.append({})
            continue
        span = f"{n * HOUR - 1}s"  # range selectors hold both ends: n samples, not n + 1
        parts = {
            f"rec:{k}": f"sum_over_time({_selector(p.slo, k)}[{span}] @ {last:.3f})" for k in _KINDS
        }
        parts["rec:hours"] = f"count_over_time({_selector(p.slo, 'total')}[{span}] @ {last:.3f})"
        if head:
            parts["head:bad"], parts["head:total"] = p.slo.sli.counts(head)
        recorded.append(parts)
    got = values(at, recorded)
    # The partial hour at the window's start, read raw at the first recorded hour's start.
    tails: dict[float, list[int]] = {}
    for i, (p, n) in enumerate(zip(plans, hours, strict=True)):
        if n >= 1 and got[i].get("rec:hours") == n and last - n * HOUR > p.start:
            tails.setdefault(last - n * HOUR, []).append(i)
    tail_got: dict[int, dict[str, float]] = {}
    for when, members in tails.items():
        edges = []
        for i in members:
            p = plans[i]
            bad, total = p.slo.sli.counts(format_duration_s(when - p.start))
            edges.append({"tail:bad": bad, "tail:total": total})
        for i, found in zip(members, values(when, edges), strict=True):
            tail_got[i] = found
    out: list[dict[str, float] | None] = []
    for i, n in enumerate(hours):
        found = {**got[i], **tail_got.get(i, {})}
        if n < 1 or found.get("rec:hours") != n:
            out.append(None)
            continue
        out.append(
            {
                f"{k}:window": math.fsum(found.get(f"{pre}:{k}", 0.0) for pre in _PIECES)
                for k in _KINDS
            }
        )
    return out


_PIECES = ("rec", "head", "tail")


def format_duration_s(seconds: float) -> str:
    """A PromQL range of whole seconds (``""`` for none)."""
    whole = round(seconds)
    return "" if whole <= 0 else f"{whole}s"


def describe(sources: Sequence[str | None]) -> str | None:
    """One line for the report: how many SLOs' window counts come from recordings."""
    asked = [s for s in sources if s is not None]
    if not asked:
        return None
    used = asked.count("recorded")
    return f"window counts: {RECORD} recordings for {used} of {len(asked)} SLOs" + (
        "" if used == len(asked) else f", raw counters for {len(asked) - used}"
    )

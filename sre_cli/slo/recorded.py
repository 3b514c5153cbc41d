"""Reports from recordings instead of raw counters (``aqua slo report --recorded``).

A 30-day window read from raw counters decodes every sample of every series the SLO's queries
select (43,201 per series at a 1-minute scrape), and the seven burn-rate windows select each
series seven times more. With ``--recorded`` the report reads what rules have recorded:

* **Burn rates** from the SLI error ratios that ``aqua slo rules`` writes as Sloth does
  (``slo:sli_error:ratio_rate5m`` ... ``_rate3d``): one instant selector per batch of SLOs for
  every window at once, each value as of the rule's last evaluation (the instant the result
  gives per window). A window without one recording (not loaded, no sample in the past 5 min,
  or no error series yet, so the rule's division recorded nothing) is read raw.
* **The SLO window** from the hourly group of ``aqua slo rules --report-recordings``, which
  records each SLO's bad and total events of the past hour::

    aqua:slo_events:increase1h{sloth_id="api-availability", aqua_events="bad"}

  The window is the sum of the recorded hours that fit in it (720 samples of one series each,
  summed for a batch of SLOs in one query) plus the raw counts of the two partial hours at its
  edges (the raw data of at most two hours). The hours end at the last evaluation of the SLO's
  own group (one query gives every SLO's): groups loaded from different files are evaluated at
  different instants of the hour, and one cut for all would count the time between them twice
  at one end of a window and not at all at the other. A window whose hours are not all recorded (a
  missed evaluation, a new SLO) is read from the raw counters instead, and every result says
  which figure it shows.

The window figure is not the raw one: each recorded hour is PromQL's ``increase`` over the
samples inside the hour, extrapolated to its edges, in place of the events counted between the
last sample of one hour and the first of the next. Per hour the error is the hour's events
divided by its sample intervals minus the events of the interval that crosses into the hour;
under steady traffic these cancel on average (slo/README.md states the bound and
bench/README.md the measured errors). A recorded burn rate is the raw figure at the rule's
evaluation instant, up to float rounding.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sre_cli.slo.engine import union
from sre_cli.slo.spec import SLO
from sre_cli.slo.windows import BURN_RATE_WINDOWS

if TYPE_CHECKING:
    from collections.abc import Callable

    from sre_cli.prometheus import Sample
    from sre_cli.slo.engine import Plan

    #: a query put in flight: call the result to wait for its answer
    Query = Callable[[str, float], Callable[[], list[Sample]]]
    #: per owner its parts (key -> PromQL) evaluated at an instant, put in flight; the result
    #: gives per owner the values found (key -> sum)
    Parts = Callable[[float, list[dict[str, str]]], Callable[[], list[dict[str, float]]]]

__all__ = [
    "GROUP",
    "HOUR",
    "RECORD",
    "SLI_RECORD",
    "BurnRates",
    "burn_rates",
    "describe",
    "describe_burn_rates",
    "eligible",
    "last_evaluations",
    "recording_group",
    "window_counts",
]

RECORD = "aqua:slo_events:increase1h"
SLI_RECORD = "slo:sli_error:ratio_rate"
GROUP = "aqua-slo-report-recordings"
HOUR = 3600
#: SLOs per batched read of recordings (their ids in one regular expression)
BATCH = 250
_KINDS = ("bad", "total")

#: per burn-rate window (``5m``): the recorded error ratio (None: no traffic) and its instant
BurnRates = dict[str, tuple[float | None, float]]


def eligible(slo: SLO) -> bool:
    """SLOs counted by events from an error and a total query (a raw ratio cannot be summed)."""
    return slo.budgeting.method == "occurrences" and slo.sli.error_query is not None


def _ids(slo: SLO) -> tuple[str, str, str]:
    return (slo.id, slo.service, slo.name)


def _labelled(labels: dict[str, str]) -> tuple[str, str, str]:
    return (
        labels.get("sloth_id", ""),
        labels.get("sloth_service", ""),
        labels.get("sloth_slo", ""),
    )


def _string(text: str) -> str:
    """``text`` as a PromQL double-quoted string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _id_matcher(slos: Sequence[SLO]) -> str:
    """A matcher for the ``sloth_id`` of every SLO in ``slos``, nothing else."""
    ids = sorted({s.id for s in slos})
    return "sloth_id=~" + _string("|".join(re.escape(i) for i in ids))


def _batches(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[n : n + BATCH] for n in range(0, len(items), BATCH)]


def recording_group(slos: Sequence[SLO]) -> dict[str, Any]:
    """One hourly group: per eligible SLO its bad and total events of the past hour."""
    rules = []
    for slo in filter(eligible, slos):
        ids = {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name}
        for kind, expr in zip(_KINDS, slo.sli.counts("1h"), strict=True):
            rules.append({"record": RECORD, "expr": expr, "labels": {**ids, "aqua_events": kind}})
    return {"name": GROUP, "interval": "1h", "rules": rules}


def last_evaluations(
    slos: Sequence[SLO], at: float, query: Query
) -> Callable[[], list[float | None]]:
    """Per SLO the time of its hourly recording's last evaluation at or before ``at`` (within
    the past hour; None: none), in flight: one query for every SLO. Each SLO has its own, as
    groups loaded from different files (one per team) are evaluated at offsets of their own."""
    # A subquery's steps fall on the minute: a sample after the last one is the instant's own.
    stamp = f'timestamp({RECORD}{{aqua_events="total"}})'
    latest = (
        "max by (sloth_id, sloth_service, sloth_slo) "
        f"({stamp} or max_over_time({stamp}[{HOUR}s:1m]))"
    )
    answer = query(latest, at)

    def gather() -> list[float | None]:
        found: dict[tuple[str, str, str], float] = {}
        for s in answer():
            key = _labelled(s.labels)
            if math.isfinite(s.value) and s.value <= at:
                found[key] = max(s.value, found.get(key, s.value))
        return [found.get(_ids(slo)) for slo in slos]

    return gather


def burn_rates(plans: Sequence[Plan], at: float, query: Query) -> Callable[[], list[BurnRates]]:
    """Per plan the burn-rate windows its Sloth SLI recordings answer at ``at``, in flight:
    per batch of SLOs one query for the values of every window, one for their instants."""
    windows = sorted({w for p in plans for w in p.windows})
    names = SLI_RECORD + "(?:" + "|".join(re.escape(w) for w in windows) + ")"
    asked = []
    for batch in _batches(plans):
        selector = f"{{__name__=~{_string(names)}, {_id_matcher([p.slo for p in batch])}}}"
        asked.append((query(selector, at), query(f"timestamp({selector})", at)))

    def gather() -> list[BurnRates]:
        found: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(dict)
        when: dict[tuple[tuple[str, str, str], str], float] = {}
        for answer, times in asked:
            for s in answer():
                window = s.labels.get("sloth_window", "")
                found[_labelled(s.labels)].setdefault(window, []).append(s.value)
            for s in times():
                when[(_labelled(s.labels), s.labels.get("sloth_window", ""))] = s.value
        out: list[BurnRates] = []
        for p in plans:
            key, mine = _ids(p.slo), {}
            for window in p.windows:
                seen = found.get(key, {}).get(window, [])
                # One series per window: several (rules loaded twice with other labels, a
                # query keeping labels) cannot be combined into the SLO's ratio.
                if len(seen) == 1 and (key, window) in when:
                    value = seen[0]
                    mine[window] = (value if math.isfinite(value) else None, when[(key, window)])
            out.append(mine)
        return out

    return gather


def window_counts(
    plans: Sequence[Plan], lasts: Sequence[float | None], parts: Parts, query: Query
) -> Callable[[], list[dict[str, float] | None]]:
    """Per plan its window's ``bad:window`` and ``total:window`` from the recorded hours up to
    its recording's last evaluation (``lasts``, per plan), or None where the recordings do not
    cover the window (the raw counters then answer), in flight: the recorded hours of a batch
    of SLOs in two queries (one part per evaluation instant and window length, joined by
    ``or``), the raw edges of every SLO the recordings may cover batched across SLOs."""
    hours = [
        int((last - p.start) // HOUR) if last is not None and eligible(p.slo) else 0
        for p, last in zip(plans, lasts, strict=True)
    ]
    covered = sorted((i for i, n in enumerate(hours) if n >= 1), key=lambda i: (lasts[i], hours[i]))
    sums = []
    for batch in _batches(covered):
        by_cut: dict[tuple[float, int], list[int]] = defaultdict(list)
        for i in batch:
            by_cut[(_last(lasts, i), hours[i])].append(i)
        summed, counted = [], []
        for (last, n), members in by_cut.items():
            span = f"{n * HOUR - 1}s"  # range selectors hold both ends: n samples, not n + 1
            ids = _id_matcher([plans[i].slo for i in members])
            total = f'{RECORD}{{{ids}, aqua_events="total"}}'
            summed.append(f"sum_over_time({RECORD}{{{ids}}}[{span}] @ {last:.3f})")
            counted.append(f"count_over_time({total}[{span}] @ {last:.3f})")
        at = plans[batch[0]].at
        sums.append(("rec", query(union(summed), at)))
        sums.append(("hours", query(union(counted), at)))
    # The partial hour at the window's end (raw, from the last evaluation to ``at``) and at its
    # start (raw, up to the first recorded hour's start), read for every SLO the recordings
    # may cover.
    heads: dict[int, dict[str, str]] = {}
    for i in covered:
        head = format_duration_s(plans[i].at - _last(lasts, i))
        if head:
            heads[i] = dict(
                zip(("head:bad", "head:total"), plans[i].slo.sli.counts(head), strict=True)
            )
    head_got = parts(plans[0].at if plans else 0.0, list(heads.values()))
    tails: dict[float, list[int]] = defaultdict(list)
    for i in covered:
        first = _last(lasts, i) - hours[i] * HOUR
        if first > plans[i].start:
            tails[first].append(i)
    tail_got = []
    for when, members in tails.items():
        edges = []
        for i in members:
            bad, total = plans[i].slo.sli.counts(format_duration_s(when - plans[i].start))
            edges.append({"tail:bad": bad, "tail:total": total})
        tail_got.append((members, parts(when, edges)))

    def gather() -> list[dict[str, float] | None]:
        found: list[dict[str, float]] = [{} for _ in plans]
        index = {_ids(p.slo): i for i, p in enumerate(plans) if hours[i] >= 1}
        for what, answer in sums:
            for s in answer():
                i = index.get(_labelled(s.labels))
                kind = s.labels.get("aqua_events", "")
                if i is None or kind not in _KINDS or math.isnan(s.value):
                    continue
                # Several series of one SLO and kind (rules loaded twice) add up, and their
                # hours then exceed the window's: the raw counters answer.
                key = "rec:hours" if what == "hours" else f"rec:{kind}"
                found[i][key] = found[i].get(key, 0.0) + s.value
        for i, got in zip(heads, head_got(), strict=True):
            found[i].update(got)
        for members, edges in tail_got:
            for i, got in zip(members, edges(), strict=True):
                found[i].update(got)
        out: list[dict[str, float] | None] = []
        for i, n in enumerate(hours):
            if n < 1 or found[i].get("rec:hours") != n:
                out.append(None)
                continue
            out.append(
                {
                    f"{k}:window": math.fsum(found[i].get(f"{pre}:{k}", 0.0) for pre in _PIECES)
                    for k in _KINDS
                }
            )
        return out

    return gather


_PIECES = ("rec", "head", "tail")


def _last(lasts: Sequence[float | None], i: int) -> float:
    last = lasts[i]
    assert last is not None  # only SLOs with a last evaluation have recorded hours
    return last


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


def describe_burn_rates(recorded: Sequence[dict[str, float] | None], at: float) -> str | None:
    """One line for the report: how many SLOs' burn rates come from recordings, how old."""
    asked = [r for r in recorded if r is not None]
    if not asked:
        return None
    whole = sum(set(BURN_RATE_WINDOWS) <= set(r) for r in asked)
    none = sum(not r for r in asked)
    ages = [at - t for r in asked for t in r.values()]
    line = f"burn rates: {SLI_RECORD}* recordings for {whole} of {len(asked)} SLOs"
    if ages:
        line += f" (up to {max(ages):.0f} s old)"
    if len(asked) - whole - none:
        line += f", in part for {len(asked) - whole - none}"
    return line + (f", raw counters for {none}" if none else "")

"""Many SLOs in few queries: the parts of every SLO's queries, each distinct text once, merged.

An SLO needs one instant query (its window and every burn-rate window) and one range query
(its burn-down). Sent one by one, a thousand SLOs cost two thousand round trips and as many
query preparations. Here every SLO's parts are pooled, a part that several SLOs share (the same
PromQL text: SLOs of one service with different objectives, windows or error queries over one
total) is evaluated once, and up to ``PARTS`` distinct parts go in one query, a few queries in
flight at a time. Every part is tagged with ``label_replace`` so the answers split back per SLO
exactly as a lone query would give them::

    results = evaluate_many(slos, prom, at, tiers)      # what evaluate calls
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sre_cli.errors import SpecError
from sre_cli.prometheus import QueryError
from sre_cli.slo.engine import (
    Plan,
    Report,
    SLOResult,
    burn_down_plan,
    burn_down_points,
    evaluate_events,
    finish,
    plan,
    slot_values,
    union,
)
from sre_cli.slo.windows import load_tiers

if TYPE_CHECKING:
    from collections.abc import Callable

    from sre_cli.prometheus import PrometheusClient, Sample
    from sre_cli.slo.spec import SLO
    from sre_cli.slo.windows import Tier

__all__ = ["PARTS", "evaluate", "evaluate_many", "evaluate_slo"]

#: Distinct PromQL parts per query (an SLO has about 16: its window and the burn-rate windows).
PARTS = 400
_KEY = "aqua_q"


class _Parts:
    """Distinct expressions, each tagged with the key of its first user (``slo|part``): SLOs
    whose queries are the same text share one evaluation, which gives the same value."""

    def __init__(self, share: bool) -> None:
        self.share = share
        self.keys: dict[str, str] = {}
        self.alone: list[tuple[str, str]] = []

    def add(self, key: str, expr: str) -> str:
        if self.share:
            return self.keys.setdefault(expr, key)
        self.alone.append((expr, key))
        return key

    def queries(self) -> list[str]:
        pairs = list(self.keys.items()) if self.share else self.alone
        tagged = [f'label_replace({expr}, "{_KEY}", "{key}", "", "")' for expr, key in pairs]
        return [union(tagged[n : n + PARTS]) for n in range(0, len(tagged), PARTS)]


@dataclass(frozen=True)
class _Reads:
    """Where a report's queries go: the server, the threads that keep a few in flight, and
    whether SLOs share the parts whose text repeats."""

    prom: PrometheusClient
    pool: ThreadPoolExecutor
    share: bool

    def query(self, expr: str, at: float) -> Callable[[], list[Sample]]:
        """``expr`` at ``at``, in flight: call the result to wait for its samples."""
        return self.pool.submit(self.prom.query, expr, at).result

    def submit(
        self, owners_parts: Sequence[dict[str, str]], at: float
    ) -> Callable[[], list[dict[str, list[float]]]]:
        """Per owner, each of its parts' sample values at ``at`` (parts batched across
        owners), in flight: call the result to wait for them."""
        shared = _Parts(self.share)
        owners = [
            {k: shared.add(f"{i}|{k}", e) for k, e in parts.items()}
            for i, parts in enumerate(owners_parts)
        ]
        answers = [self.query(q, at) for q in shared.queries()]

        def gather() -> list[dict[str, list[float]]]:
            values: dict[str, list[float]] = defaultdict(list)
            for answer in answers:
                for sample in answer():
                    if not math.isnan(sample.value):
                        values[sample.labels.get(_KEY, "")].append(sample.value)
            return [
                {k: values[key] for k, key in owner.items() if values.get(key)} for owner in owners
            ]

        return gather

    def summed(
        self, at: float, owners_parts: list[dict[str, str]]
    ) -> Callable[[], list[dict[str, float]]]:
        """As :meth:`submit`, each part's values summed."""
        gather = self.submit(owners_parts, at)
        return lambda: [{k: math.fsum(v) for k, v in f.items()} for f in gather()]


def _instant(
    reads: _Reads, plans: Sequence[Plan], at: float, tiers: Sequence[Tier]
) -> list[SLOResult]:
    found = reads.submit([p.parts for p in plans], at)()
    return [finish(p, _combined(p, f), tiers) for p, f in zip(plans, found, strict=True)]


def _combined(plan: Plan, found: dict[str, list[float]]) -> dict[str, float]:
    combine = max if plan.mode == "max" else math.fsum
    return {k: combine(v) for k, v in found.items()}


def _instant_recorded(
    reads: _Reads, plans: Sequence[Plan], at: float, tiers: Sequence[Tier]
) -> list[SLOResult]:
    """As :func:`_instant`, reading burn rates and windows from recordings where they exist
    (:mod:`sre_cli.slo.recorded`); every read that can go at once is in flight together."""
    from sre_cli.slo import recorded as rec

    latest = rec.last_evaluations([p.slo for p in plans], at, reads.query)
    rates_in_flight = rec.burn_rates(plans, at, reads.query)
    counting = rec.window_counts(plans, latest(), reads.summed, reads.query)
    rates = rates_in_flight()
    # The burn-rate windows no recording answers, read raw while the windows are counted.
    asked = [
        {k: e for k, e in p.parts.items() if _window(k) not in r and _window(k) != "window"}
        for p, r in zip(plans, rates, strict=True)
    ]
    raw_in_flight = reads.submit(asked, at)
    counted = counting()
    # Windows the recordings do not cover come from the raw counters.
    uncovered = [
        {k: e for k, e in p.parts.items() if c is None and _window(k) == "window"}
        for p, c in zip(plans, counted, strict=True)
    ]
    windows = reads.submit(uncovered, at)()
    results = []
    for p, raw, window, c, r in zip(plans, raw_in_flight(), windows, counted, rates, strict=True):
        got = {**_combined(p, {**raw, **window}), **(c or {})}
        result = finish(p, got, tiers, {w: v for w, (v, _) in r.items()})
        source = "raw" if c is None else "recorded"
        at_ = {w: t for w, (_, t) in r.items()}
        results.append(SLOResult(**{**result.__dict__, "source": source, "burn_rates_at": at_}))
    return results


def _window(key: str) -> str:
    """The window of a part's key (``bad:5m`` -> ``5m``, ``total:window`` -> ``window``)."""
    return key.partition(":")[2]


def _burn_downs(
    prom: PrometheusClient,
    results: Sequence[SLOResult],
    at: float,
    pool: ThreadPoolExecutor,
    share: bool,
) -> list[SLOResult]:
    """``results`` with their burn-downs: one range query per group of equal steps (and per
    ``PARTS`` distinct parts), all in flight together."""
    out = list(results)
    groups: dict[tuple[float, int], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for index, result in enumerate(results):
        if result.budget_consumed is None:
            continue
        planned = burn_down_plan(result.slo, result.window_start, at)
        if planned is None:
            remaining = result.budget_remaining or 0.0
            points = [(result.window_start, 1.0), (at, remaining)]
            out[index] = SLOResult(**{**result.__dict__, "burn_down": points})
            continue
        parts, first, step = planned
        groups[(first, step)].append((index, parts))
    sharing = {group: _Parts(share) for group in groups}
    owners = {
        group: [{k: sharing[group].add(f"{i}|{k}", e) for k, e in parts.items()} for i, parts in m]
        for group, m in groups.items()
    }
    # Every group's queries at once: SLOs with other windows have other steps.
    asked = [(group, q) for group, parts in sharing.items() for q in parts.queries()]
    answers = pool.map(lambda a: prom.query_range(a[1], a[0][0], at, a[0][1]), asked)
    found: dict[tuple[object, str], list[tuple[Sequence[float], Sequence[float]]]]
    found = defaultdict(list)
    for (group, _), answer in zip(asked, answers, strict=True):
        for series in answer:
            found[(group, series.labels.get(_KEY, ""))].append((series.times, series.values))
    for group, members in groups.items():
        for (index, _), owner in zip(members, owners[group], strict=True):
            rows = [(k, *row) for k, key in owner.items() for row in found.get((group, key), [])]
            result = out[index]
            raw = result.slo.sli.error_ratio_query is not None
            points = burn_down_points(result, at, slot_values(rows, raw))
            out[index] = SLOResult(**{**result.__dict__, "burn_down": points})
    return out


def evaluate_many(
    slos: Sequence[SLO],
    prom: PrometheusClient,
    at: float,
    tiers: Sequence[Tier],
    *,
    burn_down: bool = True,
    workers: int = 4,
    share: bool = True,
    recorded: bool = False,
) -> list[SLOResult]:
    """Every SLO's result at ``at``, in order; ``workers`` queries in flight at a time.
    ``share=False`` evaluates every SLO's parts on their own even where the text repeats
    (the benchmark's baseline: the same figures at the cost of one evaluation per use).
    ``recorded`` reads SLO windows from hourly recordings where they cover them
    (:mod:`sre_cli.slo.recorded`); each result's ``source`` then says which figure it is."""
    from sre_cli.slo.timeslices import evaluate_timeslices

    results: list[SLOResult | None] = [None] * len(slos)
    events = [i for i, s in enumerate(slos) if s.budgeting.method == "occurrences"]
    sliced = [i for i, s in enumerate(slos) if s.budgeting.method != "occurrences"]
    # Queries are independent: a few in flight let Prometheus use more than one core.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        plans = [plan(slos[i], at, tiers) for i in events]
        instant = _instant_recorded if recorded and plans else _instant
        done = instant(_Reads(prom, pool, share), plans, at, tiers)
        if burn_down:
            done = _burn_downs(prom, done, at, pool, share)
        for i, result in zip(events, done, strict=True):
            results[i] = result
        timed = pool.map(lambda i: evaluate_timeslices(slos[i], prom, at, tiers), sliced)
        for i, result in zip(sliced, timed, strict=True):
            results[i] = result
    return [r for r in results if r is not None]


def evaluate(
    slos: Sequence[SLO],
    prom: PrometheusClient,
    at: float | None = None,
    *,
    tiers: Sequence[Tier] | None = None,
    burn_down: bool = True,
    workers: int = 4,
    share: bool = True,
    recorded: bool = False,
) -> Report:
    """Evaluate every SLO at ``at`` (default: now, whole seconds): queries batched across
    SLOs, ``workers`` queries in flight."""
    instant = float(int(time.time() if at is None else at))
    used = tuple(tiers) if tiers is not None else load_tiers()
    before = prom.queries
    try:
        results = evaluate_many(
            slos,
            prom,
            instant,
            used,
            burn_down=burn_down,
            workers=workers,
            share=share,
            recorded=recorded,
        )
    except QueryError as exc:
        raise _culprit(slos, prom, instant, used) or exc from exc
    return Report(evaluated_at=instant, results=results, queries=prom.queries - before)


def _culprit(
    slos: Sequence[SLO], prom: PrometheusClient, at: float, tiers: Sequence[Tier]
) -> SpecError | None:
    """After a batched query failed: the SLO to blame, with its file, line and own queries
    (never the internal batched query). A query that does not parse is found by the server's
    parser; one that does not evaluate by evaluating each SLO alone."""
    from sre_cli.slo.syntax import check_syntax, user_queries

    unparsed = check_syntax(slos, prom).problems
    if unparsed:
        first = unparsed[0]
        more = f" (and {len(unparsed) - 1} more)" if len(unparsed) > 1 else ""
        head, newline, query = first.message.partition("\n")
        return SpecError(
            head + more + newline + query,
            path=first.path,
            line=first.line,
            hint="`aqua slo validate` lists every query that does not parse",
        )
    for slo in slos:
        try:
            evaluate_slo(slo, prom, at, tiers, burn_down=False)
        except QueryError as exc:
            own = "\n".join(f"    {q.field}: {q.text}" for q in user_queries([slo]))
            return SpecError(
                f"{slo.id}: Prometheus cannot evaluate its queries: {exc.reason}\n{own}",
                path=slo.source.path,
                line=slo.source.line,
            )
    return None


def evaluate_slo(
    slo: SLO,
    prom: PrometheusClient,
    at: float,
    tiers: Sequence[Tier],
    burn_down: bool = True,
) -> SLOResult:
    """Evaluate one SLO at unix time ``at``, whatever its budgeting method."""
    if slo.budgeting.method != "occurrences":
        from sre_cli.slo.timeslices import evaluate_timeslices

        return evaluate_timeslices(slo, prom, at, tiers)
    return evaluate_events(slo, prom, at, tiers, burn_down=burn_down)

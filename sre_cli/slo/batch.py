"""Many SLOs in few queries: each SLO's parts are keyed and merged into one query per batch.

An SLO needs one instant query (its window and every burn-rate window) and one range query
(its burn-down). Sent one by one, a thousand SLOs cost two thousand round trips and as many
query preparations; batched, ``BATCH`` SLOs share one instant query, and SLOs whose burn-downs
have the same steps share one range query. Every part is tagged with ``label_replace`` so the
answers split back per SLO exactly as a lone query would give them::

    results = evaluate_many(slos, prom, at, tiers)      # what evaluate calls
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
)
from sre_cli.slo.windows import load_tiers

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.spec import SLO
    from sre_cli.slo.windows import Tier

__all__ = ["BATCH", "evaluate", "evaluate_many", "evaluate_slo"]

#: SLOs per instant query (about 16 parts each) and per burn-down range query.
BATCH = 25
_KEY = "aqua_q"


def _merge(parts: dict[str, str]) -> str:
    return " or ".join(
        f'label_replace({expr}, "{_KEY}", "{key}", "", "")' for key, expr in parts.items()
    )


def _instant(
    prom: PrometheusClient, plans: Sequence[Plan], at: float, tiers: Sequence[Tier]
) -> list[SLOResult]:
    parts = {f"{i}|{k}": e for i, p in enumerate(plans) for k, e in p.parts.items()}
    values: dict[str, list[float]] = defaultdict(list)
    for sample in prom.query(_merge(parts), at):
        if not math.isnan(sample.value):
            values[sample.labels.get(_KEY, "")].append(sample.value)
    got: list[dict[str, float]] = [{} for _ in plans]
    for key, found in values.items():
        index, part = key.split("|", 1)
        i = int(index)
        got[i][part] = max(found) if plans[i].mode == "max" else math.fsum(found)
    return [finish(p, g, tiers) for p, g in zip(plans, got, strict=True)]


def _burn_downs(prom: PrometheusClient, results: Sequence[SLOResult], at: float) -> list[SLOResult]:
    """``results`` with their burn-downs: one range query per batch of equal steps."""
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
    for (first, step), members in groups.items():
        for chunk in range(0, len(members), BATCH):
            batch = members[chunk : chunk + BATCH]
            merged = {f"{i}|{k}": e for i, parts in batch for k, e in parts.items()}
            rows: dict[int, list[tuple[str, Sequence[float], Sequence[float]]]] = defaultdict(list)
            for series in prom.query_range(_merge(merged), first, at, step):
                slo_index, part = series.labels.get(_KEY, "|").split("|", 1)
                if slo_index:
                    rows[int(slo_index)].append((part, series.times, series.values))
            for index, _ in batch:
                result = out[index]
                raw = result.slo.sli.error_ratio_query is not None
                points = burn_down_points(result, at, slot_values(rows[index], raw))
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
) -> list[SLOResult]:
    """Every SLO's result at ``at``, in order; ``workers`` batches in flight at a time."""
    from sre_cli.slo.timeslices import evaluate_timeslices

    results: list[SLOResult | None] = [None] * len(slos)
    events = [i for i, s in enumerate(slos) if s.budgeting.method == "occurrences"]
    sliced = [i for i, s in enumerate(slos) if s.budgeting.method != "occurrences"]
    batches = [events[n : n + BATCH] for n in range(0, len(events), BATCH)]

    def run(batch: list[int]) -> list[SLOResult]:
        done = _instant(prom, [plan(slos[i], at, tiers) for i in batch], at, tiers)
        return _burn_downs(prom, done, at) if burn_down else done

    # Batches are independent: a few in flight let Prometheus use more than one core.
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(batches) + len(sliced)))) as pool:
        for batch, done in zip(batches, pool.map(run, batches), strict=True):
            for i, result in zip(batch, done, strict=True):
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
) -> Report:
    """Evaluate every SLO at ``at`` (default: now, whole seconds): queries batched across
    SLOs, ``workers`` batches in flight."""
    instant = float(int(time.time() if at is None else at))
    used = tuple(tiers) if tiers is not None else load_tiers()
    before = prom.queries
    try:
        results = evaluate_many(slos, prom, instant, used, burn_down=burn_down, workers=workers)
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

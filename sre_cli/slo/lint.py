"""Checks beyond the schema: alert tiers that can never fire, and specs against live data.

Static (always): every burn-rate tier must be able to fire, i.e. ``factor × (1 − objective)
< 1`` (an error ratio above 1 is impossible). Live (``--prometheus``): each query parses, each
selector matches series within the SLO window, and a latency threshold is a real ``le`` bucket::

    problems = static_problems(slos, tiers) + live_problems(slos, prom, at=time.time())
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sre_cli.slo.loader import Problem
from sre_cli.slo.prometheus import PrometheusClient, QueryError
from sre_cli.slo.spec import SLO, render_window
from sre_cli.slo.windows import Tier

__all__ = ["live_problems", "selectors", "static_problems"]

_QUOTED = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_SELECTOR = re.compile(
    r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?P<labels>\{(?:" + _QUOTED + r"|[^{}\"'`])*\})?\s*\["
)


def selectors(query: str) -> list[str]:
    """Vector selectors used with a range (``metric{a="b"}[5m]``) in a PromQL query."""
    found = []
    for match in _SELECTOR.finditer(query):
        name, labels = match.group("name") or "", match.group("labels") or ""
        if (name or labels) and name not in {"by", "without", "on", "ignoring", "offset"}:
            found.append(name + labels)
    return list(dict.fromkeys(found))


def static_problems(slos: Sequence[SLO], tiers: Sequence[Tier]) -> list[Problem]:
    out = []
    for slo in slos:
        for tier in tiers:
            factor = tier.factor(slo.window.nominal)
            if factor * slo.budget >= 1:
                out.append(
                    Problem(
                        slo.source.path,
                        slo.source.line,
                        f"{slo.id}: alert tier {tier.name} can never fire: burn factor "
                        f"{factor:g} × error budget {slo.budget:g} ≥ 1 (raise the objective)",
                    )
                )
    return out


def _queries(slo: SLO) -> list[str]:
    sli = slo.sli
    if sli.error_ratio_query is not None:
        return [render_window(sli.error_ratio_query, "5m")]
    return list(sli.counts("5m"))


def live_problems(slos: Sequence[SLO], prom: PrometheusClient, at: float) -> list[Problem]:
    """Problems found by querying ``prom`` at unix time ``at`` (Unavailable if unreachable)."""
    out: list[Problem] = []
    for slo in slos:

        def problem(message: str, slo: SLO = slo) -> None:
            out.append(Problem(slo.source.path, slo.source.line, f"{slo.id}: {message}"))

        start = at - slo.window.nominal.total_seconds()
        for query in _queries(slo):
            try:
                prom.query(query, at)
            except QueryError as exc:
                problem(f"query does not evaluate: {exc.reason}\n    {query}")
                continue
            for selector in selectors(query):
                try:
                    matched = prom.series(selector, start, at)
                except QueryError as exc:
                    problem(f"selector {selector} is invalid: {exc.reason}")
                    continue
                if not matched:
                    problem(f"selector {selector} matches no series in the last {slo.window.label}")
        latency = slo.sli.latency
        if latency is not None:
            match = (
                f"{latency.base}_bucket{{{latency.matchers}}}"
                if latency.matchers
                else (f"{latency.base}_bucket")
            )
            values = prom.label_values("le", match, start, at)
            buckets = sorted({float(v) for v in values if v not in {"+Inf", "Inf"}})
            if buckets and latency.threshold not in buckets:
                shown = ", ".join(f"{b:g}" for b in buckets)
                problem(
                    f"latency threshold {latency.threshold:g} is not a bucket of {match}: {shown}"
                )
    return out

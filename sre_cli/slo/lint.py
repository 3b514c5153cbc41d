"""Checks beyond the schema: lints of what Prometheus accepts but is probably a mistake, and
specs against live data.

Static lints (warnings; ``aqua slo validate --strict`` makes them errors): an alert tier that
can never fire (``factor × (1 − objective) ≥ 1``: an error ratio above 1 is impossible), an
event query that counts with neither ``rate()`` nor ``increase()``, MetricsQL functions that
Prometheus does not have, and Sloth SLO plugins, which aqua does not run. Live
(``--prometheus``, errors): each query evaluates, each selector matches series within the SLO
window, and a latency threshold is a real ``le`` bucket::

    problems = static_problems(slos, tiers) + live_problems(slos, prom, at=time.time())
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sre_cli.prometheus import PrometheusClient, QueryError
from sre_cli.slo.loader import Problem
from sre_cli.slo.spec import SLO, render_window
from sre_cli.slo.windows import Tier

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient

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


_COUNTING = re.compile(r"\b(rate|increase)\s*\(")
# MetricsQL functions Prometheus lacks (VictoriaMetrics); Prometheus rejects rules using them.
_METRICSQL = re.compile(
    r"\b(histogram_share|share_le_over_time|share_gt_over_time|range_over_time|"
    r"rollup\w*|default_rollup|count_le_over_time|count_gt_over_time|increase_pure|"
    r"rate_over_sum|median_over_time|tmin_over_time|tmax_over_time)\s*\("
)
# Plugins that do not change the rules Sloth writes.
_NEUTRAL_PLUGINS = {
    "sloth.dev/core/debug/v1",
    "sloth.dev/core/sli_rules/v1",
    "sloth.dev/core/metadata_rules/v1",
    "sloth.dev/core/alert_rules/v1",
    "sloth.dev/core/validate/v1",
    "sloth.dev/contrib/validate_victoria_metrics/v1",
}


def static_problems(slos: Sequence[SLO], tiers: Sequence[Tier]) -> list[Problem]:
    """Lints (warnings) found from the specs alone."""
    out = []
    for slo in slos:

        def warn(message: str, slo: SLO = slo) -> None:
            out.append(Problem(slo.source.path, slo.source.line, f"{slo.id}: {message}", "warning"))

        for tier in tiers:
            factor = tier.factor(slo.window.nominal)
            if factor * slo.budget >= 1:
                warn(
                    f"alert tier {tier.name} can never fire: burn factor {factor:g} × error "
                    f"budget {slo.budget:g} ≥ 1 (an error ratio cannot exceed 1; raise the "
                    "objective or use longer windows)"
                )
        sli = slo.sli
        if sli.kind == "events":
            for field, query in (
                ("error_query", sli.error_query),
                ("total_query", sli.total_query),
            ):
                if query is not None and not _COUNTING.search(query):
                    warn(
                        f"{field} counts with neither rate() nor increase(): its value over "
                        "{{.window}} is taken as the number of events as it is, so it must be "
                        "a count of events in that window"
                    )
        for query in (sli.error_query, sli.total_query, sli.error_ratio_query):
            found = _METRICSQL.search(query or "")
            if found:
                warn(
                    f"{found.group(1)}() is MetricsQL (VictoriaMetrics), not PromQL: "
                    "Prometheus and `promtool check rules` reject these rules"
                )
                break
        skipped = [p for p in slo.plugins if p not in _NEUTRAL_PLUGINS]
        if skipped:
            warn(
                f"Sloth SLO plugin(s) {', '.join(sorted(set(skipped)))} are not run: aqua writes "
                "Sloth's core rules without their changes"
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

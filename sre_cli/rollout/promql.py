"""SLO queries scoped to one track: a label matcher added to every range-vector selector.

The SLIs of ``slo/*.yaml`` select series with ``rate(metric{...}[W])``; a rollout judges the
canary's and the stable pods' series apart by adding ``track="canary"`` (or ``"stable"``) to
each selector that has a range::

    scope('sum(rate(http_requests_total{job="api"}[1m]))', "track", "canary")
    # 'sum(rate(http_requests_total{job="api",track="canary"}[1m]))'

Selectors without a range (an instant gauge) are not rewritten; a query that matches on the
label already is refused (it would contradict itself).
"""

from __future__ import annotations

import re

from sre_cli.errors import UsageError

__all__ = ["scope"]

# A metric name, its optional {matchers} (no braces inside label values), then a range.
_SELECTOR = re.compile(
    r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(?P<matchers>[^{}]*)\})?(?P<range>\s*\[)"
)
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def scope(query: str, label: str, value: str) -> str:
    """``query`` with ``label="value"`` on every range-vector selector."""
    if not _LABEL.match(label):
        raise UsageError(f"{label!r} is not a label name")
    if re.search(rf"[{{,]\s*{label}\s*(=|!=|=~|!~)", query):
        raise UsageError(f"the query already matches on {label!r}: {query}")
    matcher = f'{label}="{value}"'
    count = 0

    def add(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        inner = (m.group("matchers") or "").strip().rstrip(",")
        joined = f"{inner},{matcher}" if inner else matcher
        return f"{m.group('name')}{{{joined}}}{m.group('range')}"

    out = _SELECTOR.sub(add, query)
    if count == 0:
        raise UsageError(f"no range-vector selector to scope by {label} in: {query}")
    return out

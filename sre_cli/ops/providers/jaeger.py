"""``traces`` steps: which span grew, from Jaeger's traces of the recent window against a
baseline window before it (:mod:`sre_cli.trace.growth`). Read-only.

The observation's summary names the span that grew most per request and what it waits on::

    the database span "SELECT aqua" (aqua-api) grew most: 4.0 → 301.0 ms per request
    (+297.0 ms; 12 traces in the last 5m, 40 in the 1h before)
"""

from __future__ import annotations

import time

from sre_cli.errors import Unavailable
from sre_cli.ops.operations import TracesOp, span_text
from sre_cli.ops.outcome import Observation

__all__ = ["observe"]

#: growth below this (ms per request) is noise, not a span that grew
NOISE_MS = 1.0


def observe(op: TracesOp, url: str | None, *, now: float | None = None) -> Observation:
    if not url:
        raise Unavailable(
            "this step asks Jaeger, and there is none to ask",
            hint="pass --jaeger URL (a stack that runs Jaeger is used by default)",
        )
    from sre_cli.trace.growth import span_growth
    from sre_cli.trace.query import JaegerClient, known_service

    end = time.time() if now is None else now
    tags = {"http.route": op.route} if op.route else None
    with JaegerClient(url, timeout=15.0) as client:
        service = known_service(client, op.service)
        recent = client.search(service, since_s=op.window, tags=tags, now=end)
        baseline = client.search(service, since_s=op.baseline, tags=tags, now=end - op.window)
    what = f"{service}" + (f" {op.route}" if op.route else "")
    counts = (
        f"{len(recent)} traces in the last {span_text(op.window)}, "
        f"{len(baseline)} in the {span_text(op.baseline)} before"
    )
    if not recent or not baseline:
        missing = "recent" if not recent else "baseline"
        summary = f"no {missing} traces of {what} to compare ({counts})"
        return Observation(None if op.max_growth is None else True, summary)
    rows = span_growth(baseline, recent)
    details = tuple(
        f"{r.growth_ms:+9.1f} ms  {r.baseline_ms:8.1f} → {r.recent_ms:8.1f} ms per request  "
        f"{r.kind or '-':8} {r.service} {r.name}"
        for r in rows[: op.top]
    )
    top = rows[0]
    if top.growth_ms < NOISE_MS:
        return Observation(
            None if op.max_growth is None else True,
            f"no span of {what} grew ({counts})",
            details,
        )
    summary = (
        f"{top.label} grew most: {top.baseline_ms:.1f} → {top.recent_ms:.1f} ms per request "
        f"({top.growth_ms:+.1f} ms; {counts})"
    )
    if op.max_growth is None:
        return Observation(None, summary, details)
    return Observation(top.growth_ms <= op.max_growth * 1000.0, summary, details)

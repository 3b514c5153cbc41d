"""Distributed traces from the stack's Jaeger: the slowest requests and where their time went.

- :mod:`~sre_cli.trace.model`: :class:`Trace` and :class:`Span` (tree, share, self time)
- :mod:`~sre_cli.trace.query`: :class:`JaegerClient` and :func:`slowest`
- :mod:`~sre_cli.trace.render`: :func:`~sre_cli.trace.render.draw` (the terminal tree; only
  commands import it)

Example::

    with JaegerClient("http://127.0.0.1:16686") as jaeger:
        [trace] = slowest(jaeger, service="api", since_s=900, count=1)
        trace.hotspot().name   # 'SELECT aqua'
"""

from __future__ import annotations

from sre_cli.trace.model import Span, Trace, TraceList
from sre_cli.trace.query import JaegerClient, TraceNotFound, check_trace_id, slowest

__all__ = [
    "JaegerClient",
    "Span",
    "Trace",
    "TraceList",
    "TraceNotFound",
    "check_trace_id",
    "slowest",
]

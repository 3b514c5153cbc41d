"""Building blocks shared by the aqua services: settings base, JSON logs, trace context."""

from service.common.logs import JsonFormatter, configure_logging
from service.common.settings import ServiceSettings
from service.common.tracing import (
    RequestContext,
    TraceContext,
    current_request,
    parse_traceparent,
)

__all__ = [
    "JsonFormatter",
    "RequestContext",
    "ServiceSettings",
    "TraceContext",
    "configure_logging",
    "current_request",
    "parse_traceparent",
]

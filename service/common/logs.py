"""JSON log lines, one object per line, with the request's trace and user attached.

Every record logged while a request is in flight carries ``trace_id``, ``span_id``,
``request_id`` and ``user_id`` from :data:`service.common.tracing.current_request`; fields
passed through ``extra=`` are merged in::

    configure_logging("aqua-api", "INFO")
    logging.getLogger("aqua.api").info("request", extra={"status": 200, "duration_ms": 1.2})
    # {"timestamp": "2025-01-01T00:00:00.000Z", "level": "INFO", "service": "aqua-api", ...}
"""

from __future__ import annotations

import json
import logging
import sys
import time
from functools import lru_cache
from typing import IO, Any

import orjson

from service.common.tracing import current_request

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__
) | {"message", "asctime", "taskName", "color_message"}

_HANDLER_MARK = "_aqua_json_handler"


@lru_cache(maxsize=4)
def _utc_second(seconds: int) -> str:
    # Formatting the date and time is most of a timestamp's cost; it changes once a second.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _utc_timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return f"{_utc_second(seconds)}.{millis:03d}Z"


def _dumps(entry: dict[str, Any]) -> str:
    # orjson: a tenth of the stdlib encoder's cost on an access line. It refuses a few values
    # the stdlib takes (integers beyond 64 bits); those lines take the slow path.
    try:
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(entry, default=str, separators=(",", ":"))


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; exceptions go into ``exc_info`` as text."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _utc_timestamp(record.created),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = current_request.get()
        if ctx is not None:
            entry["trace_id"] = ctx.trace.trace_id
            entry["span_id"] = ctx.trace.span_id
            entry["request_id"] = ctx.request_id
            entry["user_id"] = ctx.user_id
            if ctx.endpoint is not None:
                entry["endpoint"] = ctx.endpoint
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return _dumps(entry)


def configure_logging(
    service: str,
    level: str = "INFO",
    *,
    json_lines: bool = True,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install one handler on the root logger (replacing a previous one of ours).

    uvicorn's own loggers are routed to the same handler so the process writes a single format.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # The Logging HOWTO's optimisations: caller lookup and thread/process names are not in our
    # lines, and gathering them costs on every record (one access line per request).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in ("uvicorn", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    # The access line is ours (with route, user and trace); uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
    return handler

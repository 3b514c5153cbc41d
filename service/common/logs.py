"""JSON log lines, one object per line, with the request's trace and user attached.

Every record logged while a request is in flight carries ``trace_id``, ``span_id``,
``request_id`` and ``user_id`` from :data:`service.common.tracing.current_request`; fields
passed through ``extra=`` are merged in::

    configure_logging("aqua-api", "INFO")
    logging.getLogger("aqua.api").info("request", extra={"status": 200, "duration_ms": 1.2})
    # {"timestamp": "2025-01-01T00:00:00.000Z", "level": "INFO", "service": "aqua-api", ...}
"""

from __future__ import annotations

import asyncio
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


class LineBatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes the lines logged during one event-loop iteration together.

    A server logs an access line per request and handles several requests per loop iteration:
    one ``write`` per iteration instead of one per line. A line waits at most until the end of
    the iteration that logged it, so next to nothing is lost if the process dies. Lines at
    WARNING and above, lines logged outside an event loop (or from another thread) and
    ``flush()`` are written at once, after whatever is pending.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (Handler.handle).
        try:
            line = self.format(record) + self.terminator
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            self._pending.append(line)
            if loop is not None and record.levelno < logging.WARNING:
                if self._flush_loop is None:
                    loop.call_soon(self._flush_pending)
                    self._flush_loop = loop
                if self._flush_loop is loop:
                    return
            self._write_pending()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.acquire()
        try:
            if self._pending:
                self._write_pending()
            else:
                super().flush()
        finally:
            self.release()

    def _flush_pending(self) -> None:
        self.acquire()
        try:
            self._flush_loop = None
            if self._pending:
                self._write_pending()
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "writing log lines failed"}))
        finally:
            self.release()

    def _write_pending(self) -> None:
        lines, self._pending = "".join(self._pending), []
        self.stream.write(lines)
        super().flush()


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
            existing.flush()
            root.removeHandler(existing)
    handler = LineBatchingHandler(stream or sys.stderr)
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
    # httpx writes one INFO line per request, most of them health polls (the API asks the ML
    # service's /ready every few seconds): those are DEBUG detail, shown only at DEBUG.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)
    return handler

"""The one grammar of durations and instants every command and spec accepts.

Durations are amounts with units, largest first: ``500ms``, ``90s``, ``1m30s``, ``1h30m``,
``2d``, ``4w``, ``30d``, ``1y``; a bare number is seconds (``45``) and amounts may be decimal
(``1.5h``). Where the text goes into PromQL as is (an SLO window, a burn-rate tier)
``promql=True`` admits only Prometheus' own spelling: whole amounts, each with its unit.

Instants are RFC 3339 with an offset (``2024-03-01T00:00:00Z``), Unix seconds
(``1709251200``), ``now``, or ``now`` plus or minus a duration (``now-30d``)::

    parse_duration("1m30s")                 # timedelta(seconds=90)
    parse_instant("now-1h", now=7200.0)     # 3600.0
    format_duration(timedelta(days=1))      # "1d"

A malformed duration is a ``ValueError`` with one message everywhere (:func:`duration_error`);
callers that read a command-line option wrap it in a ``UsageError`` naming the option.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

from sre_cli.errors import UsageError

__all__ = [
    "DURATION_EXAMPLES",
    "duration_error",
    "format_duration",
    "parse_duration",
    "parse_instant",
    "parse_seconds",
    "rfc3339",
]

DURATION_EXAMPLES = "500ms, 90s, 1m30s, 1h30m, 30d"
_UNITS: dict[str, float] = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[ywdhms])")
_BARE = re.compile(r"\d+(?:\.\d+)?")
_RELATIVE = re.compile(r"now\s*(?:([+-])\s*(\S+))?")


def duration_error(text: str) -> ValueError:
    """The one message of a malformed duration."""
    return ValueError(f"not a duration: {text!r} (expected e.g. {DURATION_EXAMPLES})")


def parse_duration(text: str, *, promql: bool = False) -> timedelta:
    """A positive duration; ``promql=True`` admits only whole amounts with units."""
    value = text.strip().lower()
    if not promql:  # spaces are for people ("30 s"); PromQL has none
        value = re.sub(r"\s+", "", value)
    if not promql and _BARE.fullmatch(value):
        seconds = float(value)
    else:
        seconds = _sum_parts(text, value, promql)
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return timedelta(seconds=seconds)


def _sum_parts(text: str, value: str, promql: bool) -> float:
    parts = list(_PART.finditer(value))
    if not value or "".join(p.group(0) for p in parts) != value:
        raise duration_error(text)
    units = [p.group(2) for p in parts]
    if units != sorted(set(units), key=_ORDER.index):  # each unit once, largest first
        raise duration_error(text)
    if promql and any("." in p.group(1) for p in parts):
        raise duration_error(text)
    return sum(float(p.group(1)) * _UNITS[p.group(2)] for p in parts)


def parse_seconds(value: object) -> float:
    """Seconds from a number or a duration string (for spec fields such as ``timeout: 90s``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return parse_duration(value).total_seconds()
    raise duration_error(str(value))


def format_duration(delta: timedelta) -> str:
    """The shortest Prometheus spelling of a whole number of seconds: 86400 s -> ``1d``."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        raise ValueError("duration must be positive")
    parts: list[str] = []
    for unit in "dhms":
        size = int(_UNITS[unit])
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def parse_instant(text: str, *, now: float | None = None) -> float:
    """Unix seconds of RFC 3339 (``...Z``, ``+01:00``), Unix seconds, ``now`` or ``now-30d``."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    relative = _RELATIVE.fullmatch(value.lower())
    if relative is not None:
        base = time.time() if now is None else now
        sign, amount = relative.groups()
        if sign is None:
            return base
        try:
            delta = parse_duration(amount).total_seconds()
        except ValueError as exc:
            raise UsageError(f"not a time: {text!r}: {exc}") from None
        return base - delta if sign == "-" else base + delta
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise UsageError(
            f"not a time: {text!r}", hint="use RFC 3339, Unix seconds or now-DURATION"
        ) from exc
    if parsed.tzinfo is None:
        raise UsageError(f"time {text!r} has no offset", hint="add Z or +HH:MM (RFC 3339)")
    return parsed.timestamp()


def rfc3339(at: float | None) -> str | None:
    """Unix seconds as the one instant format of aqua's JSON: RFC 3339, UTC, whole seconds
    (``2024-03-01T00:00:00Z``); None stays None."""
    if at is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(round(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

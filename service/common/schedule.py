"""When forecasts are issued: 20:00 in the pond's local time.

The forecaster is trained on nights that start at 20:00, so every job, on demand or nightly,
forecasts the night that starts at the latest local 20:00 at or before the request::

    issue_time(datetime(2025, 6, 1, 19, 0, tzinfo=UTC), "Europe/Oslo")
    # 2025-06-01 18:00 UTC (20:00 in Oslo, summer time)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ISSUE_HOUR = 20


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone, UTC when unset or unknown (a bad name must not stop the nightly run)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def local_issue(day: date, tz: ZoneInfo, hour: int = ISSUE_HOUR) -> datetime:
    """``hour``:00 local on ``day``, in UTC."""
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def issue_time(now: datetime, tz_name: str | None, hour: int = ISSUE_HOUR) -> datetime:
    """The latest local ``hour``:00 at or before ``now``, in UTC."""
    tz = zone(tz_name)
    local = now.astimezone(tz)
    today = local_issue(local.date(), tz, hour)
    if today <= now:
        return today
    return local_issue(local.date() - timedelta(days=1), tz, hour)


def nightly_due(now: datetime, tz_name: str | None, hour: int = ISSUE_HOUR) -> date | None:
    """The local date whose nightly run is due at ``now``, or None outside the window.

    The window is ``hour``:00 to local midnight: a worker that starts late the same evening
    catches up; after midnight the night is half over and the run is skipped.
    """
    local = now.astimezone(zone(tz_name))
    return local.date() if local.hour >= hour else None

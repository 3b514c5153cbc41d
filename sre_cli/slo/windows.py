"""SLO windows (rolling or calendar) and the burn-rate alert tiers, which are data.

The tiers ship as ``policy/burn-rate-windows.yaml`` (Sloth's AlertWindows layout). A tier's
burn-rate factor scales with the SLO window, so a 30-day SLO gets the workbook's 14.4/6/3/1::

    tiers = load_tiers()
    [round(t.factor(timedelta(days=30)), 2) for t in tiers]   # [14.4, 6.0, 3.0, 1.0]
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from sre_cli.errors import SpecError
from sre_cli.timespec import format_duration, parse_duration

__all__ = [
    "BURN_RATE_WINDOWS",
    "Tier",
    "Window",
    "load_tiers",
]

#: The windows over which reports show burn rates, shortest first.
BURN_RATE_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

_NOMINAL = {"week": timedelta(days=7), "month": timedelta(days=30), "quarter": timedelta(days=90)}


class Window(BaseModel):
    """The period an SLO is measured over: rolling (``30d``) or calendar (month in a zone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rolling: timedelta | None = None
    calendar: Literal["week", "month", "quarter"] | None = None
    timezone: str = "UTC"

    @classmethod
    def parse(cls, value: object) -> Window:
        """From spec YAML: ``"30d"`` or ``{calendar: month, timezone: Europe/Berlin}``."""
        if value is None:
            return cls(rolling=timedelta(days=30))
        if isinstance(value, str):
            if value in _NOMINAL:
                return cls(calendar=value)  # type: ignore[arg-type]
            rolling = parse_duration(value, promql=True)
            if rolling < timedelta(days=1) or rolling > timedelta(days=400):
                raise ValueError("a rolling window is between 1d and 400d")
            return cls(rolling=rolling)
        if isinstance(value, dict):
            keys = set(value) - {"calendar", "timezone", "rolling"}
            if keys:
                raise ValueError(f"unknown window keys: {', '.join(sorted(map(str, keys)))}")
            if "rolling" in value:
                if "calendar" in value:
                    raise ValueError("a window is either rolling or calendar, not both")
                return cls.parse(str(value["rolling"]))
            calendar = value.get("calendar")
            if calendar not in _NOMINAL:
                raise ValueError("calendar must be one of week, month, quarter")
            zone = str(value.get("timezone", "UTC"))
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {zone!r}") from exc
            return cls(calendar=calendar, timezone=zone)
        raise ValueError("window is a duration such as 30d or a mapping with calendar/timezone")

    @property
    def nominal(self) -> timedelta:
        """The length used to scale burn-rate factors (calendar month = 30d)."""
        if self.rolling is not None:
            return self.rolling
        assert self.calendar is not None
        return _NOMINAL[self.calendar]

    @property
    def label(self) -> str:
        """``30d`` for rolling windows, ``month@Europe/Berlin`` for calendar ones."""
        if self.rolling is not None:
            return format_duration(self.rolling)
        return f"{self.calendar}@{self.timezone}"

    def bounds(self, at: datetime) -> tuple[datetime, datetime]:
        """(start of the window containing ``at``, end of its full period).

        For a rolling window that is ``(at - length, at)``; for a calendar window the period's
        first and last instant in the window's time zone, so budgets in minutes use the real
        length of this month.
        """
        if self.rolling is not None:
            return at - self.rolling, at
        local = at.astimezone(ZoneInfo(self.timezone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.calendar == "week":
            start = midnight - timedelta(days=local.weekday())
            end = start + timedelta(days=7)
        else:
            months = 1 if self.calendar == "month" else 3
            first = (local.month - 1) // months * months + 1
            start = midnight.replace(month=first, day=1)
            year, month = divmod(first - 1 + months, 12)
            end = start.replace(year=start.year + year, month=month + 1)
        # zoneinfo datetimes do wall-clock arithmetic: each bound gets its own UTC offset (DST).
        return start, end


class Tier(BaseModel):
    """One alert tier: fires when both windows burn faster than :meth:`factor`."""

    model_config = ConfigDict(frozen=True)

    severity: Literal["page", "ticket"]
    speed: Literal["quick", "slow"]
    budget_percent: float = Field(gt=0, le=100)
    short: timedelta
    long: timedelta

    @property
    def name(self) -> str:
        return f"{self.severity}-{self.speed}"

    def factor(self, period: timedelta) -> float:
        """Burn-rate threshold for an SLO measured over ``period``."""
        return round(self.budget_percent / 100 * (period / self.long), 10)


def _default_text() -> str:
    return resources.files("sre_cli.slo").joinpath("policy/burn-rate-windows.yaml").read_text()


def load_tiers(path: Path | None = None) -> tuple[Tier, ...]:
    """The four tiers (page quick/slow, ticket quick/slow) from a windows file or the default."""
    from sre_cli.spec_yaml import load_documents

    shown = Path(str(path) if path else "sre_cli/slo/policy/burn-rate-windows.yaml")
    docs = load_documents(shown, None if path else _default_text())
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise SpecError("expected one AlertWindows document", path=str(shown))
    doc = docs[0]
    if doc.data.get("kind") != "AlertWindows":
        raise doc.error(("kind",), "kind must be AlertWindows")
    tiers: list[Tier] = []
    for severity in ("page", "ticket"):
        for speed in ("quick", "slow"):
            loc = ("spec", severity, speed)
            raw = doc.data.get("spec", {}).get(severity, {}).get(speed)
            if not isinstance(raw, dict):
                raise doc.error(loc, f"missing spec.{severity}.{speed}")
            try:
                tiers.append(
                    Tier(
                        severity=severity,
                        speed=speed,
                        budget_percent=float(raw["errorBudgetPercent"]),
                        short=parse_duration(str(raw["shortWindow"]), promql=True),
                        long=parse_duration(str(raw["longWindow"]), promql=True),
                    )
                )
            except (KeyError, ValueError, TypeError) as exc:
                raise doc.error(loc, f"invalid tier {severity}.{speed}: {exc}") from exc
            if tiers[-1].short >= tiers[-1].long:
                raise doc.error(loc, "shortWindow must be shorter than longWindow")
    return tuple(tiers)

"""SLO windows at their edges: the shortest and longest rolling windows, calendar periods at the
turn of a year and across a change of daylight saving time, and the alert tiers file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sre_cli.errors import SpecError
from sre_cli.slo.windows import Window, load_tiers


def test_rolling_windows_from_one_to_four_hundred_days() -> None:
    assert Window.parse("1d").nominal == timedelta(days=1)
    assert Window.parse("400d").nominal == timedelta(days=400)
    assert Window.parse(None).label == "30d"
    assert Window.parse({"rolling": "7d"}).label == "7d"
    for outside in ("23h", "401d"):
        with pytest.raises(ValueError, match="a rolling window is between 1d and 400d"):
            Window.parse(outside)
    at = datetime(2024, 3, 1, tzinfo=UTC)
    assert Window.parse("7d").bounds(at) == (datetime(2024, 2, 23, tzinfo=UTC), at)


def test_window_spellings_refused() -> None:
    with pytest.raises(ValueError, match="either rolling or calendar"):
        Window.parse({"rolling": "7d", "calendar": "month"})
    with pytest.raises(ValueError, match="unknown window keys: length, zone"):
        Window.parse({"calendar": "month", "zone": "UTC", "length": 1})
    with pytest.raises(ValueError, match="calendar must be one of week, month, quarter"):
        Window.parse({"calendar": "year"})
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Window.parse({"calendar": "month", "timezone": "Mars/Olympus"})
    with pytest.raises(ValueError, match="window is a duration such as 30d"):
        Window.parse(30)


def test_calendar_periods_and_their_nominal_length() -> None:
    berlin = Window.parse({"calendar": "month", "timezone": "Europe/Berlin"})
    assert berlin.label == "month@Europe/Berlin"
    assert berlin.nominal == timedelta(days=30)
    assert Window.parse("week").nominal == timedelta(days=7)
    assert Window.parse("quarter").nominal == timedelta(days=90)
    zone = ZoneInfo("Europe/Berlin")
    # March 2024 in Berlin: 31 days less the hour daylight saving time takes on the 31st.
    start, end = berlin.bounds(datetime(2024, 3, 15, 12, tzinfo=UTC))
    assert (start, end) == (datetime(2024, 3, 1, tzinfo=zone), datetime(2024, 4, 1, tzinfo=zone))
    assert end.timestamp() - start.timestamp() == 31 * 86400 - 3600
    # 23:30 UTC on the last day of December is already January in Berlin.
    start, end = berlin.bounds(datetime(2024, 12, 31, 23, 30, tzinfo=UTC))
    assert (start, end) == (datetime(2025, 1, 1, tzinfo=zone), datetime(2025, 2, 1, tzinfo=zone))
    december = Window.parse("month").bounds(datetime(2024, 12, 31, 23, 30, tzinfo=UTC))
    assert december == (datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))


def test_quarters_and_weeks() -> None:
    quarter = Window.parse("quarter")
    for month, first in ((1, 1), (3, 1), (4, 4), (8, 7), (10, 10), (12, 10)):
        start, end = quarter.bounds(datetime(2024, month, 15, tzinfo=UTC))
        assert start == datetime(2024, first, 1, tzinfo=UTC), month
        assert end == datetime(2024 + (first == 10), (first + 2) % 12 + 1, 1, tzinfo=UTC), month
    week = Window.parse("week")
    # 2024-03-07 is a Thursday: the week runs from Monday the 4th to Monday the 11th.
    assert week.bounds(datetime(2024, 3, 7, 18, tzinfo=UTC)) == (
        datetime(2024, 3, 4, tzinfo=UTC),
        datetime(2024, 3, 11, tzinfo=UTC),
    )
    monday = datetime(2024, 3, 4, tzinfo=UTC)
    assert week.bounds(monday)[0] == monday


def test_default_tiers_and_their_factors() -> None:
    tiers = load_tiers()
    assert [t.name for t in tiers] == ["page-quick", "page-slow", "ticket-quick", "ticket-slow"]
    month = timedelta(days=30)
    assert [t.factor(month) for t in tiers] == [14.4, 6.0, 3.0, 1.0]
    assert [(t.short, t.long) for t in tiers] == [
        (timedelta(minutes=5), timedelta(hours=1)),
        (timedelta(minutes=30), timedelta(hours=6)),
        (timedelta(hours=2), timedelta(days=1)),
        (timedelta(hours=6), timedelta(days=3)),
    ]
    assert tiers[0].factor(timedelta(days=7)) == 3.36  # 2 % of a week's budget in an hour


TIERS = """\
apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec:
  page:
    quick: {errorBudgetPercent: 2, shortWindow: 5m, longWindow: 1h}
    slow: {errorBudgetPercent: 5, shortWindow: 30m, longWindow: 6h}
  ticket:
    quick: {errorBudgetPercent: 10, shortWindow: 2h, longWindow: 1d}
    slow: {errorBudgetPercent: 10, shortWindow: 6h, longWindow: 3d}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TIERS + "---\n" + TIERS, "expected one AlertWindows document"),
        ("- a list\n", "expected one AlertWindows document"),
        (TIERS.replace("kind: AlertWindows", "kind: Windows"), "kind must be AlertWindows"),
        (TIERS.replace("slow: {errorBudgetPercent: 10, sh", "fast: {errorBudgetPercent: 10, sh"),
         "missing spec.ticket.slow"),
        (TIERS.replace("errorBudgetPercent: 5,", "errorBudgetPercent: five,"),
         "invalid tier page.slow"),
        (TIERS.replace("shortWindow: 2h,", "shortWindow: 1d,"),
         "shortWindow must be shorter than longWindow"),
    ],
)  # fmt: skip
def test_a_tiers_file_is_checked(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "windows.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_tiers(path)


def test_a_tiers_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "windows.yaml"
    path.write_text(TIERS.replace("errorBudgetPercent: 2,", "errorBudgetPercent: 4,"))
    assert [t.budget_percent for t in load_tiers(path)] == [4.0, 5.0, 10.0, 10.0]

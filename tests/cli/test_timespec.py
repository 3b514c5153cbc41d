"""The one duration and instant grammar (sre_cli.timespec) and its users agree on it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sre_cli.errors import UsageError
from sre_cli.timespec import format_duration, parse_duration, parse_instant, parse_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("90s", 90),
        ("1m30s", 90),
        ("1h30m", 5400),
        ("2d", 172800),
        ("4w", 2419200),
        ("30d", 2592000),
        ("1y", 365 * 86400),
        ("45", 45),
        ("1.5h", 5400),
        ("30 s", 30),
        (" 5M ", 300),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "1m1h", "1h1h", "5x", "-5s", "1h-", "ms"])
def test_malformed_durations_have_one_message(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a duration: .* \(expected e\.g\. 500ms, 90s"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0s", "0"])
def test_durations_are_positive(text: str) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["1.5h", "30", "5 m"])
def test_promql_spelling_is_whole_amounts_with_units(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text, promql=True)
    assert parse_duration("1h30m", promql=True) == timedelta(minutes=90)
    assert parse_duration("250ms", promql=True) == timedelta(milliseconds=250)


def test_seconds_of_spec_fields() -> None:
    assert parse_seconds(3) == 3.0
    assert parse_seconds("2m") == 120.0
    with pytest.raises(ValueError, match="not a duration"):
        parse_seconds(True)


@pytest.mark.parametrize("seconds", [1, 59, 60, 90, 3600, 5400, 86400, 86400 * 30 + 61])
def test_format_round_trips(seconds: int) -> None:
    text = format_duration(timedelta(seconds=seconds))
    assert parse_duration(text, promql=True).total_seconds() == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T00:00:00Z", 1709251200.0),
        ("2024-03-01T01:00:00+01:00", 1709251200.0),
        ("1709251200", 1709251200.0),
        ("1709251200.5", 1709251200.5),
        ("now", 1_000_000.0),
        ("now-30d", 1_000_000.0 - 30 * 86400),
        ("now - 1h30m", 1_000_000.0 - 5400),
        ("NOW+90s", 1_000_090.0),
    ],
)
def test_instants(text: str, expected: float) -> None:
    assert parse_instant(text, now=1_000_000.0) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-03-01T00:00:00", "now-soon", "now*2"])
def test_bad_instants_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_instant(text, now=0.0)

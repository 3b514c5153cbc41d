"""Unit tests of the open model's schedule, the regression gate and the server comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sre_cli.errors import UsageError
from sre_cli.loadtest.baseline import Baseline, read_baseline
from sre_cli.loadtest.schedule import Stage, constant, parse_stages
from sre_cli.loadtest.server import ServerSLO


def test_stages_ramp_from_zero_and_count_every_intended_request() -> None:
    s = parse_stages("30s:100, 1m:500,30s:0")
    assert s.start_rps == 0
    assert s.stages == (Stage(30, 100), Stage(60, 500), Stage(30, 0))
    # ramps: (0+100)/2*30 + (100+500)/2*60 + (500+0)/2*30
    assert s.intended_requests == 1500 + 18000 + 7500
    assert s.duration_s == 120
    assert s.peak_rps == 500
    assert not s.is_constant


def test_a_constant_rate_is_one_flat_stage() -> None:
    s = constant(200, 10)
    assert s.is_constant
    assert s.intended_requests == 2000
    assert s.intended_rps == 200
    assert s.describe() == "200 requests/s for 10 s"
    assert constant(0.5, 3).intended_requests == 2  # 1.5 rounds up: t=0 and t=2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30s", "is not DURATION:RATE"),
        ("30s:fast", "is not a number"),
        ("30s:-1", "must be 0 or more"),
        ("soon:100", "--stages duration"),
        ("10m:100,1s:100", "longer than 10 minutes"),
        ("10s:0", "sends no request"),
        ("1s:1e9", "requests/s"),
    ],
)
def test_bad_stages_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_stages(text)


def test_arrival_rate_must_be_positive() -> None:
    with pytest.raises(UsageError, match="above 0"):
        constant(0, 10)


def test_baseline_fails_on_more_than_the_allowed_regression() -> None:
    base = Baseline(p95_ms=20.0, achieved_rps=500.0, source="b.json")
    ok = base.checks(p95_ms=21.9, achieved_rps=451.0, max_regression=0.10)
    assert all(c.passed for c in ok)
    worse = base.checks(p95_ms=22.1, achieved_rps=449.0, max_regression=0.10)
    assert [c.name for c in worse if not c.passed] == ["baseline p95_ms", "baseline achieved_rps"]
    assert [c.limit for c in worse] == [22.0, 450.0]


def test_read_baseline_takes_a_result_file_and_refuses_anything_else(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"latency_ms": {"p95": 12.5}, "rps": 80.0}))
    assert read_baseline(good) == Baseline(12.5, 80.0, str(good), "closed")
    newer = tmp_path / "newer.json"
    newer.write_text(
        json.dumps({"latency_ms": {"p95": 3}, "rps": 1, "achieved_rps": 99, "model": "open"})
    )
    assert read_baseline(newer).achieved_rps == 99
    assert read_baseline(newer).model == "open"
    for name, text, message in [
        ("missing.json", None, "cannot read"),
        ("text.json", "p95 = 3", "not JSON"),
        ("other.json", json.dumps({"verdict": "pass"}), "not a load test result"),
        ("idle.json", json.dumps({"latency_ms": {"p95": 1}, "rps": 0}), "no usable"),
    ]:
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(UsageError, match=message):
            read_baseline(path)


def test_client_and_server_disagree_beyond_five_points_or_on_the_verdict() -> None:
    assert ServerSLO("api-latency", 0.95, 0.97, 0.96).agree
    assert not ServerSLO("api-latency", 0.95, 0.99, 0.90).agree  # 9 points apart
    assert not ServerSLO("api-latency", 0.95, 0.951, 0.949).agree  # pass vs fail
    assert not ServerSLO("api-latency", 0.95, None, 1.0).agree  # the server saw nothing
    assert ServerSLO("api-other", 0.95, 0.5, None).agree  # no client figure to compare
    assert not ServerSLO("api-latency", 0.95, None, 1.0).passed

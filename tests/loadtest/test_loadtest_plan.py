"""The safety rules and the verdict of ``aqua loadtest``, without sending anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from json_schema import assert_matches_schema

from sre_cli.errors import UsageError
from sre_cli.loadtest.plan import (
    DEFAULT_TARGET,
    Limits,
    LoadPlan,
    check_loopback,
    parse_duration,
    resolve_credentials,
    resolve_target,
)
from sre_cli.loadtest.results import LoadReport, Recorder, percentile


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("45", 45), ("2m", 120), ("1m30s", 90), ("0.5s", 0.5), ("10m", 600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "10m1s", "1h", "soon", "-5s", "5x"])
def test_bad_or_unbounded_durations_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://127.9.9.9/", "https://[::1]:8443", "http://localhost:80"],
)
def test_loopback_targets_are_allowed(url: str) -> None:
    assert check_loopback(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8000",
        "http://192.168.1.5",
        "http://0.0.0.0:8080",
        "http://[::ffff:10.0.0.1]/",
        "http://example.com",
        "http://localhost.example.com",
        "http://127.0.0.1@evil.example/",
        "ftp://127.0.0.1/",
        "127.0.0.1:8080",
    ],
)
def test_other_targets_are_refused(url: str) -> None:
    with pytest.raises(UsageError):
        check_loopback(url)


def test_default_target_and_missing_credentials(tmp_path: Path) -> None:
    assert resolve_target(None, tmp_path) == (DEFAULT_TARGET, "default")
    assert resolve_target("http://127.0.0.1:1", tmp_path)[0] == "http://127.0.0.1:1"
    with pytest.raises(UsageError, match="no credentials"):
        resolve_credentials(None, None, tmp_path)
    with pytest.raises(UsageError, match="go together"):
        resolve_credentials("admin", None, tmp_path)
    secret = tmp_path / "pw"
    secret.write_text("s3cret-password\n")
    creds = resolve_credentials("ops", secret, tmp_path)
    assert (creds.username, creds.password) == ("ops", "s3cret-password")


def test_percentiles_are_nearest_rank_and_exact() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 100) == 100
    assert percentile([0.4], 95) == 0.4
    assert percentile([], 95) == 0


def _report(limits: Limits) -> LoadReport:
    rec = Recorder()
    for i in range(19):
        rec.record("GET", "/api/v1/ponds", 2.0 + i * 0.01, 200, False)
    rec.record("POST", "/api/v1/ponds/{id}/readings", 40.0, 503, True)
    rec.record("POST", "/api/v1/auth/token", 900.0, 200, False, setup=True)
    plan = LoadPlan("http://127.0.0.1:1", "--target", 4, 4.0, 10.0, "reference", limits, None)
    return LoadReport(plan, 10.0, rec)


def test_verdict_and_json_shape() -> None:
    report = _report(Limits(p95_ms=50, max_error_rate=0.1, min_rps=1))
    out = json.loads(json.dumps(report.to_json()))
    assert_matches_schema("loadtest-run", out)
    assert out["requests"] == 20
    assert out["failures"] == 1
    assert out["error_rate"] == 0.05
    assert out["rps"] == 2.0
    assert out["latency_ms"]["p95"] == 2.18  # the login (setup) is not in the verdict
    assert out["latency_ms"]["max"] == 40.0
    assert out["verdict"] == "pass"
    assert [e["name"] for e in out["by_endpoint"]] == [
        "/api/v1/ponds",
        "/api/v1/ponds/{id}/readings",
    ]
    assert out["setup"][0]["p95_ms"] == 900.0
    assert report.failure_breakdown() == "503: 1"

    strict = _report(Limits(p95_ms=1, max_error_rate=0.01, min_rps=5))
    assert strict.verdict == "fail"
    assert [t.name for t in strict.failed] == ["p95_ms", "error_rate", "min_rps"]

"""A step's analysis against a real Prometheus serving the phases of rollout_history.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from promtool_backfill import history_fixture
from rollout import rollout_history as history

from sre_cli.prometheus import PrometheusClient
from sre_cli.rollout.analysis import analyse
from sre_cli.rollout.plan import Limits
from sre_cli.slo.loader import load_slos
from sre_cli.slo.spec import SLO

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
prom_url = history_fixture(history.blocks, "rollout-tsdb")


@pytest.fixture
def prom(prom_url: str) -> Iterator[PrometheusClient]:
    with PrometheusClient(prom_url) as client:
        yield client


@pytest.fixture(scope="module")
def slos() -> list[SLO]:
    return load_slos([ROOT / "slo" / "api.yaml"])


def at(phase: str, offset: int = 120) -> tuple[float, float]:
    start = history.phase_start(phase)
    return float(start + 20), float(start + offset)


def test_a_good_canary_passes_with_both_tracks_counted(
    prom: PrometheusClient, slos: list[SLO]
) -> None:
    start, end = at("good")
    result = analyse(slos, prom, Limits(), start=start, at=end)
    assert result.verdict == "pass", result.reasons
    availability = next(j for j in result.judgements if j.slo == "api-availability")
    # 20 requests a second on /api/... over 100 s, each track; /live is not counted
    assert availability.canary.total == pytest.approx(2000, rel=0.05)
    assert availability.stable.total == pytest.approx(2000, rel=0.05)
    assert availability.canary.burn_rate == 0


def test_five_percent_errors_burn_fifty_times_and_fail(
    prom: PrometheusClient, slos: list[SLO]
) -> None:
    start, end = at("errors", 60)
    result = analyse(slos, prom, Limits(max_burn_rate=10), start=start, at=end)
    assert result.verdict == "fail"
    availability = next(j for j in result.judgements if j.slo == "api-availability")
    assert availability.verdict == "fail"
    assert availability.canary.error_ratio == pytest.approx(0.05, rel=0.05)
    assert availability.canary.burn_rate == pytest.approx(50, rel=0.05)
    assert availability.stable.burn_rate == 0
    assert "ceiling 10" in availability.reason


def test_errors_below_the_ceiling_still_fail_against_stable_by_the_margin(
    prom: PrometheusClient, slos: list[SLO]
) -> None:
    start, end = at("errors", 60)
    result = analyse(slos, prom, Limits(max_burn_rate=100, margin=2), start=start, at=end)
    availability = next(j for j in result.judgements if j.slo == "api-availability")
    assert availability.verdict == "fail"
    assert "worse by more than 2" in availability.reason


def test_a_slow_canary_fails_the_latency_slo_only(prom: PrometheusClient, slos: list[SLO]) -> None:
    start, end = at("slow")
    result = analyse(slos, prom, Limits(), start=start, at=end)
    verdicts = {j.slo: j.verdict for j in result.judgements}
    assert verdicts == {"api-availability": "pass", "api-latency": "fail"}
    latency = next(j for j in result.judgements if j.slo == "api-latency")
    # every canary request over the 100 ms bucket: the 5 % budget burns 20 times over
    assert latency.canary.burn_rate == pytest.approx(20, rel=0.05)
    assert latency.stable.burn_rate == 0


def test_too_few_canary_requests_are_inconclusive(prom: PrometheusClient, slos: list[SLO]) -> None:
    start, end = at("idle")
    result = analyse(slos, prom, Limits(min_requests=50), start=start, at=end)
    assert result.verdict == "inconclusive"
    assert all("at least 50 needed" in r for r in result.reasons)


def test_a_track_without_series_has_no_figures(prom: PrometheusClient, slos: list[SLO]) -> None:
    start, end = at("good")
    result = analyse(slos, prom, Limits(), start=start, at=end, track="green")
    assert result.verdict == "inconclusive"
    assert all(j.canary.total is None for j in result.judgements)

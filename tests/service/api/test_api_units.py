"""Pure parts: biomass, oxygen status, trace context, settings, the documented config table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict

import pytest

from service.api.biomass import OxygenPolicy, estimate_biomass, oxygen_status, weight_from_length
from service.api.configdoc import config_table
from service.api.settings import ApiSettings
from service.common.tracing import TraceContext, parse_traceparent
from service.data.schemas import LatestReading, PondStatus, Sensor, Species

README = Path(__file__).parents[3] / "service" / "api" / "README.md"
NOW = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
POLICY = OxygenPolicy(critical_mg_l=3.0, warning_mg_l=5.0, stale_seconds=7200)


@pytest.mark.parametrize(
    ("species", "length", "grams"),
    [
        (Species.channel_catfish, 40.0, 0.00312 * 40.0**3.294),
        (Species.rainbow_trout, 30.0, 0.01236 * 30.0**2.990),
        (Species.whiteleg_shrimp, 12.0, 0.0106 * 12.0**3.066),
        (Species.nile_tilapia, 25.0, 0.034 * 25.0**2.7),
    ],
)
def test_length_weight(species: Species, length: float, grams: float) -> None:
    assert weight_from_length(species, length) == pytest.approx(grams)


class _Pond(TypedDict):
    """The keyword arguments of estimate_biomass that every case below shares."""

    stock_count: int
    area_m2: float
    depth_m: float


def test_biomass_methods() -> None:
    kw: _Pond = {"stock_count": 1000, "area_m2": 100.0, "depth_m": 2.0}
    by_weight = estimate_biomass(
        species=Species.other, mean_weight_g=500.0, mean_length_cm=None, **kw
    )
    assert (by_weight.kg, by_weight.method, by_weight.density_kg_m3) == (500.0, "mean_weight", 2.5)
    # A measured weight wins over the length estimate.
    both = estimate_biomass(
        species=Species.nile_tilapia, mean_weight_g=100.0, mean_length_cm=30.0, **kw
    )
    assert both.method == "mean_weight"
    unknown = estimate_biomass(species=Species.other, mean_weight_g=None, mean_length_cm=20.0, **kw)
    assert (unknown.kg, unknown.method) == (None, "unknown")


def _do(value: float, age: timedelta = timedelta(minutes=5)) -> list[LatestReading]:
    return [LatestReading(sensor=Sensor.dissolved_oxygen, ts=NOW - age, value=value)]


@pytest.mark.parametrize(
    ("latest", "status"),
    [
        (_do(6.2), PondStatus.ok),
        (_do(5.0), PondStatus.ok),
        (_do(4.99), PondStatus.warning),
        (_do(2.9), PondStatus.critical),
        (_do(2.9, timedelta(hours=3)), PondStatus.unknown),
        ([LatestReading(sensor=Sensor.ph, ts=NOW, value=7.0)], PondStatus.unknown),
    ],
)
def test_oxygen_status(latest: list[LatestReading], status: PondStatus) -> None:
    assert oxygen_status(latest, POLICY, NOW)[0] is status


def test_traceparent_parsing() -> None:
    ok = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert ok is not None
    assert ok.sampled
    assert TraceContext.child_of(ok).traceparent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    for bad in (
        None,
        "",
        "garbage",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  # v00 has no extra fields
    ):
        assert parse_traceparent(bad) is None, bad
    future = parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra")
    assert future is not None
    assert not future.sampled


def test_settings_accept_deployment_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUA_ENV", "dev")
    monkeypatch.setenv("AQUA_LOG_LEVEL", "debug")
    monkeypatch.setenv("AQUA_DB_POOL_SIZE", "7")
    s = ApiSettings()
    assert (s.environment, s.log_level, s.db_pool_size) == ("development", "DEBUG", 7)
    monkeypatch.setenv("AQUA_ENV", "prod")
    with pytest.raises(ValueError, match="JWT secret"):
        ApiSettings()
    monkeypatch.setenv("AQUA_ENV", "staging-ish")
    with pytest.raises(ValueError, match=r"should be .development"):
        ApiSettings()


def test_pool_defaults() -> None:
    s = ApiSettings()
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_pre_ping, s.db_pool_recycle_seconds) == (
        20,
        30,
        True,
        3600,
    )


def test_readme_documents_every_setting() -> None:
    assert config_table() in README.read_text(encoding="utf-8"), (
        "service/api/README.md is out of date: paste `python -m service.api config-table`"
    )


def test_biomass_density_of_tiny_dimensions_is_unknown_not_an_error() -> None:
    # 1e-200 m² × 1e-200 m underflows to 0.0; kg / 1e-200 m² overflows to infinity.
    tiny = estimate_biomass(
        species=Species.other,
        stock_count=1000,
        mean_weight_g=500.0,
        mean_length_cm=None,
        area_m2=1e-200,
        depth_m=1e-200,
    )
    assert (tiny.kg, tiny.density_kg_m3) == (500.0, None)
    assert tiny.density_kg_m2 == 5e202
    huge = estimate_biomass(
        species=Species.other,
        stock_count=10**9,
        mean_weight_g=1e300,
        mean_length_cm=None,
        area_m2=1e-300,
        depth_m=1.0,
    )
    assert (huge.density_kg_m2, huge.density_kg_m3) == (None, None)

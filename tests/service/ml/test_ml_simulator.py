"""Simulator: saturation check values, realism gates over many random ponds, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from service.ml.saturation import do_saturation, k_o2_m_h
from service.ml.simulator import realism, simulate


@pytest.mark.parametrize(
    ("temp_c", "salinity", "expected"),
    [
        (10.0, 0.0, 11.29),
        (20.0, 0.0, 9.09),
        (25.0, 0.0, 8.26),
        (30.0, 0.0, 7.56),
        (20.0, 35.0, 7.40),
    ],
)
def test_saturation_matches_the_published_table(
    temp_c: float, salinity: float, expected: float
) -> None:
    assert float(do_saturation(temp_c, salinity, 1013.0)) == pytest.approx(expected, abs=0.015)


def test_wind_reaeration_of_a_1_2_m_pond_is_about_0_9_per_day() -> None:
    per_day = float(k_o2_m_h(3.0, 25.0)) / 1.2 * 24.0
    assert 0.75 < per_day < 1.0


@pytest.fixture(scope="module")
def run():  # type: ignore[no-untyped-def]
    return simulate(300, 12, 2024)


def test_realism_gates_hold_across_random_ponds(run) -> None:  # type: ignore[no-untyped-def]
    summary = realism(run)
    assert summary.failures() == [], summary


def test_realism_gates_reject_an_unrealistic_summary(run) -> None:  # type: ignore[no-untyped-def]
    broken = realism(run).__class__(1.0, 0.8, 0.7, 40.0)
    assert len(broken.failures()) == 4


def test_do_stays_physical(run) -> None:  # type: ignore[no-untyped-def]
    assert np.isfinite(run.do).all()
    assert run.do.min() >= 0.0
    assert run.do.max() < 30.0
    assert run.temp_c.min() > -2.0
    assert run.temp_c.max() < 40.0


def test_aeration_raises_night_oxygen() -> None:
    from service.ml import physics

    args = (np.array([3.0]), np.array([1.2]), np.array([28.0]), np.array([7.8]))
    assert physics.aeration(*args, np.array([2.0]))[0] > 0.15
    assert physics.aeration(*args, np.array([8.0]))[0] == 0.0


def test_same_seed_same_ponds_other_seed_other_ponds() -> None:
    a = simulate(20, 4, 7)
    b = simulate(20, 4, 7)
    c = simulate(20, 4, 8)
    np.testing.assert_array_equal(a.do, b.do)
    np.testing.assert_array_equal(a.params.depth_m, b.params.depth_m)
    assert not np.allclose(a.do, c.do)

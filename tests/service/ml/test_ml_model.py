"""The served network: beats every baseline, batch-invariant, deterministic, aeration-aware."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from service.ml.baselines import BASELINES, physics_fit
from service.ml.dataset import EVAL_STREAM, generate
from service.ml.evaluate import evaluate
from service.ml.features import fill, fill_gaps
from service.ml.inference import Forecaster


@pytest.fixture(scope="module")
def forecaster() -> Forecaster:
    import torch

    torch.set_num_threads(1)
    return Forecaster.load()


def test_served_model_beats_every_baseline_on_unseen_ponds(forecaster: Forecaster) -> None:
    evaluation, pred = evaluate(forecaster, ponds=16, seed=4242)
    scores = evaluation.models
    assert set(scores) == {"model", *BASELINES}
    assert len(pred.nights) > 150
    model = scores["model"]
    for name in BASELINES:
        assert model.mae < scores[name].mae, name
        assert model.night_min_mae < scores[name].night_min_mae, name
    best_farm = min(
        scores[k].mae
        for k in ("persistence", "same_hour_yesterday", "linear_projection", "madenjian")
    )
    assert model.mae <= 0.6 * best_farm
    assert len(model.mae_by_horizon) == 10


def test_alarm_recall_of_at_least_0_9_recomputed_on_unseen_ponds(forecaster: Forecaster) -> None:
    # Ponds from the evaluation stream (never trained on), a seed used nowhere else: the
    # recall the manifest and the README claim, recomputed rather than read back.
    evaluation, pred = evaluate(forecaster, ponds=32, seed=5150)
    crashes = pred.nights.target.min(axis=1) < 3.0
    assert crashes.sum() >= 50, "too few nights below 3 mg/L for a recall to mean much"
    alarm = evaluation.models["model"].alarm
    assert alarm.recall >= 0.9
    assert alarm.precision >= 0.8  # not bought by alarming every night
    flagged = pred.alarms["model"]
    assert alarm.recall == round(float((flagged & crashes).sum() / crashes.sum()), 4)


def test_manifest_records_version_seed_hash_and_metrics(forecaster: Forecaster) -> None:
    m = forecaster.info.manifest
    assert m["version"] == forecaster.info.version
    assert len(m["data_sha256"]) == 64
    assert isinstance(m["seed"], int)
    assert m["metrics"]["evaluation"]["models"]["model"]["alarm"]["recall"] >= 0.9
    assert 10_000 < forecaster.info.parameters < 100_000
    weights = Path(__file__).resolve().parents[3] / "service/ml/weights/model.pt"
    assert weights.stat().st_size < 1_000_000


def test_batched_forecasts_equal_one_by_one(forecaster: Forecaster) -> None:
    nights = generate(3, 77, EVAL_STREAM)
    batch = nights.batch.take(np.arange(24))
    together = forecaster.predict(batch)
    for i in range(len(batch)):
        alone = forecaster.predict(batch.take(np.array([i])))
        np.testing.assert_allclose(alone.p50[0], together.p50[i], atol=1e-5)
        np.testing.assert_allclose(alone.p10[0], together.p10[i], atol=1e-5)
        np.testing.assert_allclose(alone.min_quantiles[0], together.min_quantiles[i], atol=1e-5)


def test_quantiles_are_ordered_and_probability_is_monotone(forecaster: Forecaster) -> None:
    nights = generate(4, 5, EVAL_STREAM)
    fc = forecaster.predict(nights.batch)
    assert (fc.p10 <= fc.p50 + 1e-6).all()
    assert (fc.p50 <= fc.p90 + 1e-6).all()
    probs = [fc.prob_below(np.full(len(nights), t)) for t in (1.0, 3.0, 5.0, 20.0)]
    for lo, hi in pairwise(probs):
        assert (lo <= hi + 1e-12).all()
    assert (probs[-1] == 1.0).all()
    hours = fc.hours_until(np.full(len(nights), 3.0))
    crossing = fc.p50.min(axis=1) < 3.0
    assert np.isnan(hours[~crossing]).all()
    assert ((hours[crossing] >= 0) & (hours[crossing] <= 10)).all()


def test_what_if_aeration_gain_tracks_the_aeration_physics(forecaster: Forecaster) -> None:
    nights = generate(10, 9, EVAL_STREAM)
    off = nights.batch.with_plan(np.zeros_like(nights.batch.plan_kw_ha))
    on = nights.batch.with_plan(np.full_like(nights.batch.plan_kw_ha, 4.0))
    gain = forecaster.predict(on).p50[:, -1] - forecaster.predict(off).p50[:, -1]
    physics_gain = physics_fit(on, fill(on))[:, -1] - physics_fit(off, fill(off))[:, -1]
    assert np.median(gain) > 0.3
    assert np.median(gain) > 0.6 * np.median(physics_gain)
    assert np.corrcoef(gain, physics_gain)[0, 1] > 0.8
    threshold = np.full(len(off), 3.0)
    p_off = forecaster.predict(off).prob_below(threshold)
    p_on = forecaster.predict(on).prob_below(threshold)
    assert p_on.mean() < p_off.mean()


def test_gap_filling_interpolates_and_holds_edges() -> None:
    x = np.array([[np.nan, 1.0, np.nan, np.nan, 4.0, np.nan]])
    np.testing.assert_allclose(fill_gaps(x), [[1.0, 1.0, 2.0, 3.0, 4.0, 4.0]])


def test_training_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    from service.ml.train import TrainConfig, train

    config = TrainConfig(seed=3, ponds=24, epochs=1, eval_ponds=3)
    a = train(tmp_path / "a", config, log=lambda _: None)
    b = train(tmp_path / "b", config, log=lambda _: None)
    assert a == b
    assert (tmp_path / "a/model.pt").read_bytes() == (tmp_path / "b/model.pt").read_bytes()
    c = train(
        tmp_path / "c", TrainConfig(seed=4, ponds=24, epochs=1, eval_ponds=3), log=lambda _: None
    )
    assert c["data_sha256"] != a["data_sha256"]

"""Burst-merging cooldown and the quantile-pair forecaster (round 4), by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelhealth.anomaly.forecaster import ForecastParams, QuantileForecaster
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.postprocess import PostProcess, cool_down


def test_cool_down_by_hand():
    alerts = np.array([1, 1, 1, 0, 0, 1, 0, 1], dtype=bool)
    score = np.array([5.0, 4.0, 6.0, 0.0, 0.0, 2.0, 0.0, 1.0])
    # 0 kept (peak 5); 1 within 3 and 4 <= 5: dropped; 2 beats 5: kept (peak 6, restarts);
    # 5 is 3 after 2 and 2 <= 6: dropped; 7 is 5 after 2 (> 3): kept.
    got = cool_down(alerts, score, 3)
    assert got.tolist() == [True, False, True, False, False, False, False, True]
    assert cool_down(alerts, score, 0).tolist() == alerts.tolist()


def test_cool_down_is_causal():
    rng = np.random.default_rng(1)
    score = rng.exponential(1.0, 300)
    alerts = score > 1.5
    full = cool_down(alerts, score, 20)
    for cut in (50, 151, 299):
        np.testing.assert_array_equal(cool_down(alerts[:cut], score[:cut], 20), full[:cut])


def test_postprocess_applies_cooldown_to_each_rule():
    prob = np.array([0.9, 0.9, 0.9, 0.0, 0.0, 0.0])
    score = np.array([3.0, 2.0, 4.0, 0.0, 0.0, 0.0])
    hw = np.array([0.0, 0.0, 0.0, 9.0, 9.0, 10.0])
    valid = np.ones(6, dtype=bool)
    post = PostProcess(threshold=0.5, novelty=0, hw_threshold=8.0, cooldown=5)
    got = post.apply(prob, np.zeros(6), valid, score, hw)
    # classifier: 0 kept, 1 dropped, 2 beats 3 -> kept; HW rule: 3 kept, 4 dropped, 5 beats 9.
    assert got.tolist() == [True, False, True, True, False, True]


def test_quantile_pair_median_is_the_band_midpoint():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 20)).astype(np.float32)
    z = X[:, 12] + rng.normal(0, 1, 2000)  # column 12 is mean6, the naive base
    fc = QuantileForecaster(params=ForecastParams(num_trees=10)).fit(X, z)
    assert sorted(fc.models) == ["q0.02", "q0.98"]
    out = fc.predict(X[:50])
    np.testing.assert_allclose(out.median, (out.lower + out.upper) / 2)
    np.testing.assert_array_equal(out.mean, out.median)
    assert (out.lower <= out.upper).all()
    with_mean = QuantileForecaster(mean_model=True, params=ForecastParams(num_trees=10))
    assert "mean" in with_mean.fit(X, z).models


def test_cooldown_and_forecaster_shape_survive_save_load(tiny_model: LearnedModel, tmp_path: Path):
    from dataclasses import replace

    tiny_model_copy = LearnedModel(
        forecaster=tiny_model.forecaster,
        classifier=tiny_model.classifier,
        post=replace(tiny_model.post, cooldown=288),
    )
    loaded = LearnedModel.load(tiny_model_copy.save(tmp_path / "m"))
    assert loaded.post.cooldown == 288
    assert loaded.forecaster.alphas == tiny_model.forecaster.alphas
    assert loaded.forecaster.mean_model is tiny_model.forecaster.mean_model
    assert not (tmp_path / "m" / "forecast_mean.txt").exists()


@pytest.mark.parametrize("cooldown", [-1, 1.5])
def test_bad_cooldown_override_is_rejected(cooldown: float):
    from modelhealth.anomaly.detector import override_post

    with pytest.raises(ValueError, match="cooldown"):
        override_post(PostProcess(), {"cooldown": cooldown})

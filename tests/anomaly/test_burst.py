"""Burstiness-scaled Holt-Winters threshold (round 5) and parallel prediction, by hand."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from modelhealth.anomaly.detector import LearnedDetector, override_post
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.postprocess import PostProcess
from modelhealth.anomaly.signals import BURST_CAP, burst_factor, burstiness
from modelhealth.anomaly.threads import (
    PARALLEL_ROWS,
    parallel_map,
    predict_threads,
    side_by_side,
)
from modelhealth.types import Series


def _bursty(n: int, seed: int = 0) -> np.ndarray:
    """Gaussian noise with a 30-sigma burst every ~100 points: heavy-tailed steps."""
    rng = np.random.default_rng(seed)
    x = 100 + rng.normal(0, 1, n)
    x[rng.random(n) < 0.01] += 30
    return x


def test_burstiness_separates_heavy_tails_from_gaussian_noise():
    calm = burstiness(100 + np.random.default_rng(0).normal(0, 1, 1000))
    spiky = burstiness(_bursty(1000))
    # Gaussian |steps|: p99/median ~ 2.58/0.67 ~ 3.9 -> log10 ~ 0.6; the bursts push p99 up
    # to ~30 sigma -> log10 ~ 1.6.
    assert 0.4 < calm[-1] < 0.8
    assert spiky[-1] > 1.3
    # Fewer than 288 earlier points: not measured yet, and not NaN either.
    assert np.isfinite(calm).all() and np.isfinite(spiky).all()


def test_burstiness_is_causal():
    x = _bursty(900, seed=2)
    full = burstiness(x)
    changed = x.copy()
    changed[600:] += 1000.0
    np.testing.assert_array_equal(burstiness(changed)[:600], full[:600])


def test_burst_factor_by_hand():
    burst = np.array([0.5, 1.2, 1.5, 3.0])
    np.testing.assert_allclose(burst_factor(burst, 1.2), [1.0, 1.0, 10**0.3, BURST_CAP])
    np.testing.assert_array_equal(burst_factor(burst, 0.0), np.ones(4))


def test_burst_ref_raises_the_holt_winters_threshold_only_when_bursty():
    hw = np.array([0.0, 9.0, 9.0, 20.0])
    valid = np.ones(4, dtype=bool)
    prob, signed, score = np.zeros(4), np.zeros(4), np.zeros(4)
    burst = np.array([0.0, 0.9, 1.7, 1.7])  # factor 1, 1, ~3.2, ~3.2: threshold 8, 8, 25, 25
    plain = PostProcess(threshold=2.0, hw_threshold=8.0)
    assert plain.apply(prob, signed, valid, score, hw, burst).tolist() == [0, 1, 1, 1]
    scaled = replace(plain, burst_ref=1.2)
    assert scaled.apply(prob, signed, valid, score, hw, burst).tolist() == [0, 1, 0, 0]
    # Without a burst array the rule is the plain one (callers that predate round 5).
    assert scaled.apply(prob, signed, valid, score, hw).tolist() == [0, 1, 1, 1]


def test_burst_ref_survives_save_load_and_changes_the_scan(
    tiny_model: LearnedModel, tmp_path: Path
):
    post = PostProcess(threshold=2.0, hw_threshold=6.0, novelty=0)
    x = _bursty(1500, seed=4)
    ts = np.arange(len(x)) * 300
    plain = LearnedModel(tiny_model.forecaster, tiny_model.classifier, post)
    scaled = LearnedModel(
        tiny_model.forecaster, tiny_model.classifier, replace(post, burst_ref=1.0)
    )
    loaded = LearnedModel.load(scaled.save(tmp_path / "m"))
    assert loaded.post.burst_ref == 1.0
    n_plain = int(plain.scan(ts, x).alerts.sum())
    n_scaled = int(loaded.scan(ts, x).alerts.sum())
    assert n_scaled < n_plain, (n_scaled, n_plain)


def test_burst_ref_is_a_rule_override(model_dir: Path):
    det = LearnedDetector(model_dir, burst_ref=1.2)
    assert det.model.post.burst_ref == 1.2
    try:
        override_post(PostProcess(), {"burst_ref": -1})
    except ValueError as exc:
        assert "burst_ref must be a number in [0, 100]" in str(exc)
    else:
        raise AssertionError("negative burst_ref accepted")


def test_newest_point_verdict_matches_scan_with_burst_rule(tiny_model: LearnedModel):
    post = PostProcess(threshold=2.0, hw_threshold=6.0, novelty=288, burst_ref=1.0)
    det = LearnedDetector.from_model(
        LearnedModel(tiny_model.forecaster, tiny_model.classifier, post)
    )
    x = _bursty(6000, seed=5)
    x[-1] += 400  # far beyond any routine burst
    series = Series.from_values(x, step_s=300)
    full = det.scan(series)
    assert full[-1]
    assert det.evaluate(series).anomalous is True


def test_prediction_threads_depend_on_input_size():
    assert predict_threads(10) == 1
    assert predict_threads(PARALLEL_ROWS) == 2


def test_every_lightgbm_call_asks_for_one_thread_while_a_pool_runs():
    # LightGBM's num_threads is process-wide: mixed values from two threads crashed a run.
    seen = parallel_map(lambda rows: predict_threads(rows), [10, PARALLEL_ROWS, 10 * PARALLEL_ROWS])
    assert seen == [1, 1, 1]
    with side_by_side():
        assert predict_threads(10 * PARALLEL_ROWS) == 1
    assert predict_threads(PARALLEL_ROWS) == 2  # back to normal once the pool is gone


def test_worker_threads_predict_on_one_thread():
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(predict_threads(10 * PARALLEL_ROWS)))
    worker.start()
    worker.join()
    assert seen == [1]

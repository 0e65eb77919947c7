"""The discord signal (left matrix profile) and the rule that alerts on it."""

from __future__ import annotations

import numpy as np
import pytest

from modelhealth.anomaly.postprocess import PostProcess
from modelhealth.anomaly.signals import discord_score, left_discord


def _brute_force(x: np.ndarray, m: int, reach: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for t in range(len(x) - m + 1):
        lags = range(m, min(reach, t) + 1)
        dists = [np.linalg.norm(x[t : t + m] - x[t - k : t - k + m]) for k in lags]
        if dists:
            out[t + m - 1] = min(dists)
    return out


def test_left_discord_equals_a_brute_force_nearest_earlier_stretch():
    x = np.random.default_rng(3).normal(50, 5, 300)
    got, want = left_discord(x, window=4, reach=30), _brute_force(x, 4, 30)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], atol=1e-6)
    # the first stretch with an earlier, non-overlapping one ends at 2 * window - 1
    assert np.isnan(got[:7]).all() and np.isfinite(got[7])


def test_left_discord_is_causal():
    x = np.random.default_rng(4).poisson(30, 600).astype(float)
    full = left_discord(x, window=12, reach=200)
    assert np.array_equal(left_discord(x[:450], window=12, reach=200), full[:450], equal_nan=True)


def _daily_shape(days: int, period: int = 288, seed: int = 0) -> np.ndarray:
    t = np.arange(days * period)
    shape = 100 + 30 * np.sin(2 * np.pi * t / period) + 10 * (t % period > period // 2)
    return shape + np.random.default_rng(seed).normal(0, 1.0, len(t))


def test_a_shape_unseen_for_three_days_scores_high_and_repeats_do_not():
    x = _daily_shape(21)
    quiet = discord_score(x, period=288)
    assert quiet[288 * 8 :].max() < 8.0  # noise around a shape seen every day
    # an hour at the day's mean level: within the normal range, but a new shape
    start = 288 * 18 + 60
    x[start : start + 12] = 100.0
    scored = discord_score(x, period=288)
    assert scored[start : start + 12].max() >= 8.0
    assert np.array_equal(scored[:start], quiet[:start])  # nothing before it moved


def test_discord_score_waits_for_a_day_of_history():
    x = _daily_shape(3)
    x[100:112] += 80.0  # a burst on day one: too early to have a scale
    assert not discord_score(x, period=288)[: 288 + 24].any()


def test_the_discord_rule_alerts_only_when_switched_on_and_scales_with_burstiness():
    n = 50
    discord = np.zeros(n)
    discord[30] = 9.0
    valid, prob = np.ones(n, bool), np.zeros(n)
    args = (prob, np.zeros(n), valid, np.zeros(n))
    on = PostProcess(threshold=2.0, discord_threshold=8.0)
    assert np.flatnonzero(on.apply(*args, discord=discord)).tolist() == [30]
    assert not PostProcess(threshold=2.0).apply(*args, discord=discord).any()
    bursty = np.full(n, 1.5)  # burst factor 10 ** 0.3 = 2: threshold 16
    scaled = PostProcess(threshold=2.0, discord_threshold=8.0, burst_ref=1.2)
    assert not scaled.apply(*args, burst=bursty, discord=discord).any()
    assert scaled.to_dict()["discord_threshold"] == pytest.approx(8.0)


def test_discord_threshold_is_a_rule_override(model_dir):
    from modelhealth.anomaly.detector import LearnedDetector, override_post

    det = LearnedDetector(model_dir, discord_threshold=6.5)
    assert det.model.post.discord_threshold == 6.5
    with pytest.raises(ValueError, match=r"discord_threshold must be a number in \[0, 1e\+06\]"):
        override_post(PostProcess(), {"discord_threshold": -1})


def test_a_model_with_the_discord_rule_off_skips_the_discord_and_alerts_the_same(
    tiny_model, monkeypatch
):
    """discord_threshold 0 turns the rule off, so the scan must not pay for the score, and
    skipping it must leave every output as a scan that computed it."""
    from dataclasses import replace

    import modelhealth.anomaly.model as model_module
    import modelhealth.anomaly.pipeline as pipeline

    x = _daily_shape(4)
    x[288 * 3 + 50] += 60.0
    ts = np.arange(len(x)) * 300
    model = replace(tiny_model, post=replace(tiny_model.post, discord_threshold=0.0))
    skipped = model.scan(ts, x)
    with monkeypatch.context() as m:
        m.setattr(
            model_module, "score_frame", lambda f, ff, discord: pipeline.score_frame(f, ff, True)
        )
        computed = model.scan(ts, x)
    assert skipped.alerts.any()  # the spike still pages through the other rules
    for name in ("alerts", "prob", "score", "expected"):
        assert np.array_equal(getattr(skipped, name), getattr(computed, name), equal_nan=True)

    def forbidden(*_args, **_kwargs):
        raise AssertionError("discord computed")

    monkeypatch.setattr(pipeline, "discord_score", forbidden)
    model.scan(ts, x)  # off: never asks for it
    on = replace(tiny_model, post=replace(tiny_model.post, discord_threshold=8.0))
    with pytest.raises(AssertionError, match="discord computed"):
        on.scan(ts, x)

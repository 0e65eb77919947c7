"""The novelty window is a day of the series' own sampling, not a fixed count of points."""

from __future__ import annotations

import numpy as np

from modelhealth.anomaly.postprocess import MIN_NOVELTY, PostProcess, novelty_points


def test_novelty_points_follow_the_sampling_period():
    assert novelty_points(288, 288) == 288  # 5-minute points: unchanged
    assert novelty_points(288, 24) == 24  # hourly: one day is 24 points
    assert novelty_points(288, 1440) == 1440  # 1-minute points
    assert novelty_points(288, 0) == 288  # no daily cycle: counted as given
    assert novelty_points(288, 4) == MIN_NOVELTY
    assert novelty_points(0, 24) == 0  # switched off stays off


def test_an_hourly_series_alerts_again_after_a_quiet_day():
    n = 400
    score = np.zeros(n)
    score[100] = 5.0  # a first incident...
    score[160] = 4.0  # ...and a smaller one 60 hours later
    prob = (score > 0).astype(float)
    valid = np.ones(n, dtype=bool)
    post = PostProcess(threshold=0.5, novelty=288)
    hourly = post.apply(prob, score, valid, score, period=24)
    five_minute = post.apply(prob, score, valid, score, period=288)
    assert np.flatnonzero(hourly).tolist() == [100, 160]
    assert np.flatnonzero(five_minute).tolist() == [100]  # 60 points < 288: not novel

"""The novelty window is a day of the series' own sampling, not a fixed count of points."""

from __future__ import annotations

import numpy as np

from modelhealth.anomaly.postprocess import (
    MIN_NOVELTY,
    PostProcess,
    beats_same_hour,
    novelty_points,
)


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


def _nightly(days: int = 6, period: int = 288) -> np.ndarray:
    """A score that spikes once a night at about 03:00 with up to 15 minutes of jitter."""
    score = np.zeros(days * period)
    nights = zip((1, 4, 2, 3, 0, 2), (10, 9, 10, 8, 14, 9), strict=True)
    for d, (jitter, size) in list(enumerate(nights))[:days]:
        score[d * period + 36 + jitter] = size
    return score


def test_a_nightly_spike_is_news_only_when_it_beats_the_last_nights_at_that_hour():
    score = _nightly()
    nights = np.flatnonzero(score > 0)
    verdict = beats_same_hour(score, 288, days=3)
    # night 0: nothing before; nights 1-3: no bigger than an earlier night; night 4: 14 > 10
    assert verdict[nights].tolist() == [True, False, False, False, True, False]


def test_a_spike_at_a_new_hour_is_still_news():
    score = _nightly()
    score[5 * 288 + 200] = 12.0  # day 5, mid-afternoon: nothing there before
    assert beats_same_hour(score, 288, days=3)[5 * 288 + 200]


def test_same_hour_check_is_causal_and_off_without_a_daily_cycle():
    score = _nightly()
    changed = score.copy()
    changed[4 * 288 :] = 99.0  # the future must not change earlier verdicts
    cut = 4 * 288
    assert np.array_equal(beats_same_hour(score, 288)[:cut], beats_same_hour(changed, 288)[:cut])
    assert beats_same_hour(score, 0).all()
    assert beats_same_hour(score, 288, days=0).all()

"""Which points of a labelled window the classifier learns as anomalous."""

from __future__ import annotations

import numpy as np

from modelhealth.anomaly.dataset import LabelledSeries
from modelhealth.anomaly.train import PEAK_QUANTILE, positive_mask


def _series() -> LabelledSeries:
    ts = np.arange(400, dtype=np.int64) * 300
    return LabelledSeries("s.csv", ts, np.zeros(400), ((int(ts[100]), int(ts[199])),))


def test_window_and_after_centre_masks():
    s = _series()
    window = positive_mask(s, "window")
    after = positive_mask(s, "after_centre")
    assert np.flatnonzero(window).tolist() == list(range(100, 200))
    assert np.flatnonzero(after).tolist() == list(range(149, 200))


def test_peak_keeps_only_the_most_irregular_points_after_the_centre():
    s = _series()
    score = np.zeros(400)
    score[120:125] = 50.0  # before the centre: no causal detector can be asked to see it
    score[149:200] = np.linspace(0.0, 1.0, 51)
    score[170:174] = 9.0
    peak = positive_mask(s, "peak", score, np.ones(400, dtype=bool))
    assert not peak[:149].any() and not peak[200:].any()
    assert peak[170:174].all()
    half = score[149:200]
    assert peak.sum() == int((half >= np.quantile(half, PEAK_QUANTILE)).sum())
    assert peak.sum() < 0.25 * 51


def test_peak_ignores_invalid_points_when_placing_the_cut():
    s = _series()
    score = np.zeros(400)
    score[149:200] = np.arange(51.0)
    valid = np.ones(400, dtype=bool)
    valid[149:190] = False  # only the last ten points count for the quantile...
    peak = positive_mask(s, "peak", score, valid)
    assert np.flatnonzero(peak).min() >= 190  # ...so the cut lands among them

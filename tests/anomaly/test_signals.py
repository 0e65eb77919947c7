"""The stacked cheap signals: hand-checked values, causality and scale-freeness."""

from __future__ import annotations

import numpy as np
import pytest

from modelhealth.anomaly.signals import (
    SIGNAL_FEATURES,
    ewma_residual,
    level_shift,
    likelihood,
    signal_columns,
    vs_trailing_max,
)


def test_level_shift_by_hand():
    x = np.r_[np.zeros(10), np.full(4, 3.0)]
    d = level_shift(x, np.ones(14), short=2, long=4)
    # at index 11: mean(x[10:12]) = 3, mean(x[6:10]) = 0 -> 3 noise units
    assert d[11] == pytest.approx(3.0)
    assert d[9] == pytest.approx(0.0)


def test_vs_trailing_max_is_positive_only_for_new_records():
    s = np.array([1.0, 3.0, 2.0, 4.0])
    got = vs_trailing_max(s, 2)
    assert got[1] == pytest.approx(np.log1p(3) - np.log1p(1))
    assert got[2] < 0
    assert got[3] == pytest.approx(np.log1p(4) - np.log1p(3))


def test_ewma_residual_is_scale_free_and_causal():
    rng = np.random.default_rng(0)
    x = 10 + rng.normal(0, 1, 500)
    # past the 12-point warm-up of its noise scale, units cancel out
    np.testing.assert_allclose(ewma_residual(x)[20:], ewma_residual(1000 * x)[20:], rtol=1e-6)
    y = x.copy()
    y[400] += 30
    a, b = ewma_residual(x), ewma_residual(y)
    np.testing.assert_array_equal(a[:400], b[:400])  # the future never leaks backwards
    assert b[400] > 10 > abs(a[400])


def test_likelihood_flags_a_burst_against_its_own_history():
    score = np.r_[np.zeros(300), np.full(6, 5.0)]
    z = likelihood(score, short=6, long=200)
    assert z[-1] > 10 and abs(z[250]) < 1e-9


def test_signal_columns_match_names():
    x = np.arange(100, dtype=float)
    cols = signal_columns(x, np.ones(100), np.zeros(100))
    assert tuple(cols) == SIGNAL_FEATURES
    assert all(np.isfinite(c).all() and len(c) == 100 for c in cols.values())

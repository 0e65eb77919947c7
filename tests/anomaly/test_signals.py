"""The stacked cheap signals: hand-checked values, causality and scale-freeness."""

from __future__ import annotations

import numpy as np
import pytest

from modelhealth.anomaly.signals import (
    SIGNAL_FEATURES,
    ewma_residual,
    holt_winters_columns,
    holt_winters_error,
    holt_winters_long,
    is_count_series,
    level_shift,
    likelihood,
    persistent,
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


def test_holt_winters_error_by_hand():
    # period 2: each slot is learned on its first visit (error 0), then
    # e = x - level - season; level += 0.5 e; season += 0.2 * 0.5 * e.
    x = np.array([10.0, 12.0, 10.0, 12.0, 14.0])
    e = holt_winters_error(x, 2, alpha=0.5, gamma=0.2)
    np.testing.assert_allclose(e[:4], [0.0, 0.0, 0.0, 0.0])
    # slot 0 holds 0 (10 - 10), level 10: 14 - 10 - 0 = 4
    assert e[4] == pytest.approx(4.0)


def test_holt_winters_learns_a_daily_cycle_and_flags_a_spike():
    t = np.arange(288 * 8)
    x = 100 + 20 * np.sin(2 * np.pi * t / 288) + np.random.default_rng(3).normal(0, 1, len(t))
    y = x.copy()
    y[-5] += 25
    e = holt_winters_error(x, 288)
    # after the first day the season is known: errors are noise-sized, not cycle-sized
    assert np.abs(e[288 * 3 :]).max() < 8
    long = holt_winters_long(holt_winters_error(y, 288), y)
    assert long[-5] > 8 and np.median(long[288 * 3 : -10]) < 1.5
    np.testing.assert_array_equal(holt_winters_error(y, 288)[:-5], e[:-5])  # causal


def test_holt_winters_columns_rank_is_a_fraction():
    x = np.r_[np.random.default_rng(0).normal(0, 1, 400), 30.0]
    cols = holt_winters_columns(x, 0)
    assert set(cols) <= set(SIGNAL_FEATURES)
    assert cols["hw_rank"][-1] == pytest.approx(1.0)
    assert ((cols["hw_rank"] >= 0) & (cols["hw_rank"] <= 1)).all()


def test_holt_winters_scores_wait_for_a_settled_season():
    """Each slot is set on its first visit (error 0); over nothing but those zeros the
    trailing std was ~0, so every series scored the clip (50) at the top of its second day."""
    t = np.arange(288 * 4)
    x = 100 + 20 * np.sin(2 * np.pi * t / 288) + np.random.default_rng(3).normal(0, 1, len(t))
    err = holt_winters_error(x, 288)
    long = holt_winters_long(err, x, 288)
    assert (long[: 288 + 24] == 0).all()
    assert long.max() < 8  # pure noise never reaches the tuned threshold
    cols = holt_winters_columns(x, 288)
    assert np.abs(cols["hw_z"][:288]).max() == 0 and cols["hw_abs_mad"][:288].max() == 0
    assert np.abs(cols["hw_z"]).max() < 8
    y = x.copy()
    y[288 + 30] += 25  # early on the second day a real spike still stands out
    assert holt_winters_long(holt_winters_error(y, 288), y, 288)[288 + 30] > 8


def test_count_series_are_non_negative_integers():
    assert is_count_series(np.array([0.0, 3.0, np.nan, 12.0]))
    assert not is_count_series(np.array([0.0, 3.5, 12.0]))
    assert not is_count_series(np.array([-1.0, 3.0]))
    assert not is_count_series(np.array([np.nan]))


def test_persistent_drops_one_point_bursts_of_counts():
    """A burst gone on the next point is not scored; one the next point keeps is, a point
    late, and the rule stays causal (a later point changes nothing before it)."""
    rng = np.random.default_rng(3)
    x = rng.poisson(50, 288 * 20).astype(float)
    x[288 * 16] += 400  # one point
    x[288 * 18 : 288 * 18 + 6] += 400  # six points
    err = holt_winters_error(x, 288)
    hw = holt_winters_long(err, x, 288)
    p = persistent(hw, err)
    assert hw[288 * 16] > 8 and p[288 * 16 : 288 * 16 + 2].max() < 1
    assert p[288 * 18 + 1] == hw[288 * 18]
    cut = 288 * 17
    head = persistent(hw[:cut], err[:cut])
    assert np.array_equal(head, p[:cut])

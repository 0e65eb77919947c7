"""Chi-square with counts near the float max (1e308): its products (a column total times a row
total) overflowed, and [1e308, 1e308] vs [1e308, 5e307] read statistic 0, p-value 1: "no drift".

Chi-square is not scale-free: its statistic is that of the counts as given, so the huge pair's
statistic is 1e307 times that of [10, 10] vs [10, 5], and its p-value is 0, as for the same
shape in a large real sample ([1e6, 1e6] vs [1e6, 5e5]).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from modelhealth.drift import metrics

HUGE_REF = np.array([1e308, 1e308])
HUGE_CUR = np.array([1e308, 5e307])


def _scipy(reference: list[float], current: list[float]) -> tuple[float, float]:
    table = np.vstack([reference, current])
    stat, pvalue, _, _ = chi2_contingency(table[:, table.sum(axis=0) > 0], correction=False)
    return float(stat), float(pvalue)


def test_the_huge_pair_is_drifted_with_the_statistic_of_its_counts() -> None:
    stat = metrics.chisquare(HUGE_REF, HUGE_CUR)
    pvalue = metrics.chisquare_pvalue(HUGE_REF, HUGE_CUR)
    small_stat, _ = _scipy([10.0, 10.0], [10.0, 5.0])
    np.testing.assert_allclose(stat, [1e307 * small_stat], rtol=1e-12)
    assert pvalue[0] < 1e-12
    assert metrics.is_drifted("chisquare_pvalue", pvalue).tolist() == [True]
    assert metrics.is_drifted("chisquare", stat).tolist() == [True]
    # as the same shape in a large real sample
    assert _scipy([1e6, 1e6], [1e6, 5e5])[1] < 1e-12


@pytest.mark.parametrize("count", [1e154, 1e200, 1e300, 1e308])
def test_counts_from_where_products_overflowed_grow_the_statistic_in_proportion(
    count: float,
) -> None:
    """Scaling both rows by ``a`` scales the statistic by ``a`` (it was NaN from ~1e154)."""
    ref, cur = [count, count, count / 2], [count / 2, count, count]
    got = metrics.chisquare(ref, cur)[0]
    small_stat, _ = _scipy([2.0, 2.0, 1.0], [1.0, 2.0, 2.0])
    assert got == pytest.approx(count / 2 * small_stat, rel=1e-12)
    assert metrics.chisquare_pvalue(ref, cur)[0] == 0.0


def test_a_power_of_two_scale_scales_the_statistic_exactly() -> None:
    scaled = metrics.chisquare(HUGE_REF * 2.0**-1000, HUGE_CUR * 2.0**-1000)
    np.testing.assert_array_equal(metrics.chisquare(HUGE_REF, HUGE_CUR), np.ldexp(scaled, 1000))


def test_same_huge_histograms_are_not_drifted_and_far_apart_ones_are_inf() -> None:
    assert metrics.chisquare(HUGE_REF, HUGE_REF)[0] == 0.0
    assert metrics.chisquare_pvalue(HUGE_REF, HUGE_REF)[0] == pytest.approx(1.0)
    # the statistic is the grand total 2e308: beyond the float max
    assert metrics.chisquare([1e308, 0.0], [0.0, 1e308])[0] == np.inf
    assert metrics.chisquare_pvalue([1e308, 0.0], [0.0, 1e308])[0] == 0.0


def test_a_huge_row_does_not_scale_its_neighbours_or_drop_small_bins() -> None:
    ref = np.array([[1e308, 1e308, 1.0], [50.0, 50.0, 0.0]])
    cur = np.array([[1e308, 5e307, 1.0], [90.0, 10.0, 0.0]])
    stat = metrics.chisquare(ref, cur)
    pvalue = metrics.chisquare_pvalue(ref, cur)
    small_stat, small_p = _scipy([50.0, 50.0], [90.0, 10.0])
    assert stat[1] == pytest.approx(small_stat, rel=1e-12)
    assert pvalue[1] == pytest.approx(small_p, rel=1e-9)
    assert stat[0] == pytest.approx(1e307 * _scipy([10.0, 10.0], [10.0, 5.0])[0], rel=1e-12)
    # the bin of 1 and 1 next to 1e308 still counts as a degree of freedom
    one_bin_more = metrics.chisquare_pvalue([[1e300, 1e300, 1.0]], [[1e300, 1e300, 1.0]])
    assert one_bin_more[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        (HUGE_REF, HUGE_CUR),
        ([1e308, 1e308, 5e307], [5e307, 1e308, 1e308]),
        ([1e308, 0.0], [0.0, 1e308]),
        ([1e308, 1.0], [1e308, 1.0]),
        ([[1e200, 1e200], [0.0, 0.0]], [[1e200, 5e199], [3.0, 4.0]]),
    ],
)
def test_no_metric_warns_on_huge_counts(reference: list[float], current: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in metrics.DRIFT_METRICS:
            values = metrics.compute(metric, reference, current)
            assert not np.isnan(values[0]), metric


def test_ordinary_counts_match_scipy_and_keep_empty_rows_nan() -> None:
    rng = np.random.default_rng(2027)
    ref = rng.integers(0, 1_000, size=(30, 6)).astype(np.float64)
    cur = rng.integers(0, 1_000, size=(30, 6)).astype(np.float64) * 0.37
    ref[3, 2] = cur[3, 2] = 0.0  # a bin empty on both sides: no degree of freedom
    ref[4] = 0.0  # no reference: NaN
    stat, pvalue = metrics.chisquare(ref, cur), metrics.chisquare_pvalue(ref, cur)
    assert np.isnan(stat[4]) and np.isnan(pvalue[4])
    for i in (j for j in range(len(ref)) if j != 4):
        want_stat, want_p = _scipy(ref[i].tolist(), cur[i].tolist())
        assert stat[i] == pytest.approx(want_stat, rel=1e-12)
        assert pvalue[i] == pytest.approx(want_p, rel=1e-9, abs=1e-300)

"""Bin counts near the float max (1e308): the normalisation summed them to inf, so Hellinger
(and every metric built on the shared probabilities) read NaN or a made-up 0.

A histogram's distance must not depend on the scale of its counts: [1e308, 1e308] vs
[1e308, 5e307] is the same pair of distributions as [2, 2] vs [2, 1].
"""

from __future__ import annotations

import numpy as np
import pytest

from modelhealth.drift import metrics

# the metrics of probabilities (chi-square works on the counts themselves: not scale-free)
SCALE_FREE = ["psi", "js", "linf", "ks", "wasserstein", "wasserstein_norm", "hellinger"]

HUGE_REF = np.array([1e308, 1e308])
HUGE_CUR = np.array([1e308, 5e307])


def test_hellinger_of_huge_counts_is_finite_and_right() -> None:
    """p = [1/2, 1/2], q = [2/3, 1/3]: H = sqrt(1 - sqrt(1/3) - sqrt(1/6))."""
    value = metrics.hellinger(HUGE_REF, HUGE_CUR)
    expected = np.sqrt(1 - np.sqrt(1 / 3) - np.sqrt(1 / 6))
    assert np.isfinite(value).all()
    np.testing.assert_allclose(value, [expected], rtol=1e-12)


# (reference, current) with counts near 1e308, and the same histograms in small numbers; in
# the second pair both totals overflow (in the first only the reference's: PSI's smoothing
# of the all-zero probabilities happened to give the right uniform reference)
PAIRS = [
    ((HUGE_REF, HUGE_CUR), ([2.0, 2.0], [2.0, 1.0])),
    (([1e308, 1e308, 5e307], [5e307, 1e308, 1e308]), ([2.0, 2.0, 1.0], [1.0, 2.0, 2.0])),
]


@pytest.mark.parametrize("metric", SCALE_FREE)
@pytest.mark.parametrize(("huge_pair", "small_pair"), PAIRS, ids=["2-bins", "3-bins"])
def test_huge_counts_equal_the_same_histogram_scaled_down(
    metric: str, huge_pair: tuple[list[float], list[float]], small_pair: tuple[list[float], ...]
) -> None:
    huge = metrics.compute(metric, *huge_pair)
    small = metrics.compute(metric, *small_pair)
    assert np.isfinite(huge).all(), f"{metric}: {huge}"
    assert huge[0] > 0
    np.testing.assert_allclose(huge, small, rtol=1e-12)


@pytest.mark.parametrize("metric", SCALE_FREE)
def test_a_power_of_two_scale_changes_no_bit(metric: str) -> None:
    """Scaling every count by 2**-1000 is exact, so the distances are exactly equal."""
    huge = metrics.compute(metric, HUGE_REF, HUGE_CUR)
    scaled = metrics.compute(metric, HUGE_REF * 2.0**-1000, HUGE_CUR * 2.0**-1000)
    np.testing.assert_array_equal(huge, scaled)


def test_rows_of_huge_and_ordinary_counts_are_each_normalised_alone() -> None:
    ref = np.array([[1e308, 1e308, 0.0], [50.0, 50.0, 0.0]])
    cur = np.array([[1e308, 5e307, 0.0], [90.0, 10.0, 0.0]])
    values = metrics.hellinger(ref, cur)
    np.testing.assert_allclose(
        values, [metrics.hellinger([2, 2], [2, 1])[0], metrics.hellinger([50, 50], [90, 10])[0]]
    )


def test_ordinary_counts_give_the_plain_formulas_bit_for_bit() -> None:
    """The scaling is by a power of two, so c / sum(c) is unchanged to the last bit."""
    rng = np.random.default_rng(27)
    ref = rng.integers(0, 1_000, size=(20, 8)).astype(np.float64)
    cur = rng.integers(1, 1_000, size=(20, 8)).astype(np.float64) * 0.37
    p = ref / ref.sum(axis=1, keepdims=True)
    q = cur / cur.sum(axis=1, keepdims=True)
    plain_hellinger = np.sqrt(np.clip(1.0 - np.sqrt(p * q).sum(axis=1), 0.0, None))
    np.testing.assert_array_equal(metrics.hellinger(ref, cur), plain_hellinger)
    np.testing.assert_array_equal(metrics.linf(ref, cur), np.abs(p - q).max(axis=1))
    plain_ks = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1)).max(axis=1)
    np.testing.assert_array_equal(metrics.ks(ref, cur), plain_ks)

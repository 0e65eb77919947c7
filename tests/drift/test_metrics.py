"""Drift metrics: hand-computed values, scipy cross-checks, zero bins and the registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from modelhealth.drift.metrics import (
    DEFAULT_THRESHOLDS,
    DRIFT_METRICS,
    EPSILON,
    LOWER_IS_DRIFT,
    bin_positions,
    compute,
    is_drifted,
)
from modelhealth.ingestion.reference import build_feature_reference, numeric_bin_index

REF = np.array([50.0, 50.0])
CUR = np.array([90.0, 10.0])

# One hand-computable case per registered metric: (reference, current, expected, how).
HAND: dict[str, tuple[np.ndarray, np.ndarray, float]] = {
    # (0.9-0.5)ln(0.9/0.5) + (0.1-0.5)ln(0.1/0.5)
    "psi": (REF, CUR, 0.4 * math.log(1.8) + 0.4 * math.log(5.0)),
    # JS divergence base 2 of (.5,.5) vs (.9,.1): mixture (.7,.3)
    "js": (
        REF,
        CUR,
        math.sqrt(
            0.5 * (0.5 * math.log2(0.5 / 0.7) + 0.5 * math.log2(0.5 / 0.3))
            + 0.5 * (0.9 * math.log2(0.9 / 0.7) + 0.1 * math.log2(0.1 / 0.3))
        ),
    ),
    "linf": (REF, CUR, 0.4),
    # CDFs (.5, 1) vs (.9, 1)
    "ks": (REF, CUR, 0.4),
    # positions 0, 1: one CDF gap of 0.4 times width 1
    "wasserstein": (REF, CUR, 0.4),
    # reference std of a fair coin on {0, 1} is 0.5
    "wasserstein_norm": (REF, CUR, 0.8),
    "hellinger": (REF, CUR, math.sqrt(1 - (math.sqrt(0.45) + math.sqrt(0.05)))),
    # 2x2 table [[50,50],[90,10]]: expected [[70,30],[70,30]]
    "chisquare": (REF, CUR, 2 * (400 / 70 + 400 / 30)),
    "chisquare_pvalue": (REF, CUR, math.erfc(math.sqrt(2 * (400 / 70 + 400 / 30) / 2))),
}


def test_every_registered_metric_has_hand_computed_data() -> None:
    missing = set(DRIFT_METRICS) - set(HAND)
    assert not missing, f"drift metrics without test data: {sorted(missing)}"
    assert set(DEFAULT_THRESHOLDS) == set(DRIFT_METRICS)


@pytest.mark.parametrize("name", sorted(DRIFT_METRICS))
def test_hand_computed_value(name: str) -> None:
    ref, cur, expected = HAND[name]
    assert compute(name, ref, cur)[0] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", sorted(DRIFT_METRICS))
def test_identical_histograms_do_not_drift_and_shift_does(name: str) -> None:
    same = np.array([[10.0, 30.0, 40.0, 20.0]])
    moved = np.array([[40.0, 30.0, 20.0, 10.0]])
    assert not is_drifted(name, compute(name, same, same * 3))[0]
    # scale counts so the chi-square tests have power
    assert is_drifted(name, compute(name, same * 100, moved * 100))[0]


@pytest.mark.parametrize("name", sorted(DRIFT_METRICS))
def test_empty_side_is_nan_and_never_drifted(name: str) -> None:
    ref = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    cur = np.array([[0.0, 0.0, 0.0], [6.0, 5.0, 4.0]])
    out = compute(name, ref, cur)
    assert math.isnan(out[0]) and math.isfinite(out[1])
    assert not is_drifted(name, out)[0]


@pytest.mark.parametrize("name", sorted(DRIFT_METRICS))
def test_vectorised_rows_equal_row_by_row(name: str) -> None:
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 50, size=(20, 8)).astype(float)
    cur = rng.integers(0, 50, size=(20, 8)).astype(float)
    ref[:, 3] = 0  # a zero bin on one side
    whole = compute(name, ref, cur)
    rows = [compute(name, ref[i], cur[i])[0] for i in range(20)]
    assert whole == pytest.approx(rows, rel=1e-12)
    assert np.isfinite(whole).all()


def test_zero_padding_changes_nothing() -> None:
    ref, cur = np.array([5.0, 3.0, 2.0]), np.array([2.0, 3.0, 5.0])
    for name in DRIFT_METRICS:
        padded = compute(name, np.append(ref, [0, 0]), np.append(cur, [0, 0]))[0]
        assert padded == pytest.approx(compute(name, ref, cur)[0], rel=1e-12), name


def test_psi_smoothing_is_documented_floor() -> None:
    # a bin empty in the reference: floored at EPSILON then renormalised
    out = compute("psi", [100.0, 0.0], [50.0, 50.0])[0]
    r = np.array([1.0, EPSILON]) / (1 + EPSILON)
    c = np.array([0.5, 0.5])
    assert out == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12)


def test_js_matches_scipy_including_zero_bins() -> None:
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 100, size=(30, 12)).astype(float)
    cur = rng.integers(0, 100, size=(30, 12)).astype(float)
    ref[::3, 0] = 0
    cur[::4, 5] = 0
    ours = compute("js", ref, cur)
    theirs = [jensenshannon(ref[i], cur[i], base=2) for i in range(30)]
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_chisquare_matches_scipy_contingency_and_drops_empty_bins() -> None:
    ref = np.array([10.0, 20.0, 30.0, 0.0, 7.0])
    cur = np.array([20.0, 20.0, 10.0, 0.0, 3.0])
    stat, p, dof, _ = chi2_contingency(np.vstack([ref, cur])[:, [0, 1, 2, 4]], correction=False)
    assert compute("chisquare", ref, cur)[0] == pytest.approx(stat, rel=1e-12)
    assert compute("chisquare_pvalue", ref, cur)[0] == pytest.approx(p, rel=1e-9)
    assert dof == 3


def test_ks_equals_ks_2samp_when_each_bin_is_one_value() -> None:
    """Integer samples, one bin per integer: the binned CDF is the empirical CDF, so exact."""
    rng = np.random.default_rng(3)
    a = rng.poisson(4.0, size=5000)
    b = rng.poisson(4.6, size=4000)
    k = max(a.max(), b.max()) + 1
    ours = compute("ks", np.bincount(a, minlength=k), np.bincount(b, minlength=k))[0]
    assert ours == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


def test_ks_on_quantile_bins_is_close_lower_bound_of_sample_ks() -> None:
    """Continuous data in 50 quantile bins: the CDF is only seen at edges, so the binned
    statistic is <= the sample one and within ~one bin's mass (2 %) of it."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0.3, 1.1, 20_000)
    edges = np.quantile(a, np.linspace(0, 1, 51))[1:-1]
    ha = np.bincount(np.searchsorted(edges, a, side="right"), minlength=edges.size + 1)
    hb = np.bincount(np.searchsorted(edges, b, side="right"), minlength=edges.size + 1)
    ours = compute("ks", ha, hb)[0]
    sample = ks_2samp(a, b).statistic
    assert ours <= sample + 1e-12
    assert ours == pytest.approx(sample, abs=0.02)


def test_wasserstein_matches_scipy_on_the_same_histogram_exactly() -> None:
    rng = np.random.default_rng(5)
    pos = np.sort(rng.normal(size=9))
    p, q = rng.integers(0, 30, size=9).astype(float), rng.integers(0, 30, size=9).astype(float)
    theirs = wasserstein_distance(pos, pos, u_weights=p, v_weights=q)
    assert compute("wasserstein", p, q, positions=pos)[0] == pytest.approx(theirs, rel=1e-12)


def test_wasserstein_on_bin_centres_approximates_sample_distance() -> None:
    """Mass is moved to bin centres; with 100 bins over the data the error is a small fraction
    of a bin width (here width ~0.08, we allow 0.02)."""
    rng = np.random.default_rng(6)
    a, b = rng.uniform(0, 8, 50_000), rng.uniform(0.5, 8.5, 50_000)
    edges = np.linspace(0, 8, 101)
    pos = bin_positions(edges)
    ha = np.bincount(np.searchsorted(edges, a, side="right"), minlength=edges.size + 1)
    hb = np.bincount(np.searchsorted(edges, b, side="right"), minlength=edges.size + 1)
    ours = compute("wasserstein", ha, hb, positions=pos)[0]
    assert ours == pytest.approx(wasserstein_distance(a, b), abs=0.02)


def test_bin_positions_conventions() -> None:
    assert bin_positions([0.0, 1.0, 3.0]).tolist() == [-0.5, 0.5, 2.0, 4.0]
    assert bin_positions([2.0]).tolist() == [1.5, 2.5]
    with pytest.raises(ValueError, match="at least one edge"):
        bin_positions([])


def test_errors_are_actionable() -> None:
    with pytest.raises(ValueError, match="same"):
        compute("psi", [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=">= 0"):
        compute("psi", [1, -2], [1, 2])
    with pytest.raises(KeyError, match="unknown drift metric 'nope'"):
        compute("nope", [1], [1])
    with pytest.raises(ValueError, match="non-decreasing"):
        compute("wasserstein", [1, 2], [2, 1], positions=[1.0, 0.0])


def test_pvalue_direction() -> None:
    assert "chisquare_pvalue" in LOWER_IS_DRIFT and len(LOWER_IS_DRIFT) == 1
    assert is_drifted("chisquare_pvalue", np.array([0.01, 0.5, np.nan])).tolist() == [
        True,
        False,
        False,
    ]


def _current(ref, values: np.ndarray) -> np.ndarray:
    idx = numeric_bin_index(values, np.asarray(ref.edges))
    return np.bincount(idx, minlength=ref.n_bins).astype(float)


def test_values_above_the_training_max_land_in_an_overflow_bin_of_their_own() -> None:
    const = build_feature_reference("c", np.full(1000, 3.0))
    assert const.edges == (3.0, np.nextafter(3.0, np.inf))
    for shifted in (1000.0, 2.0):  # upward shifts used to give psi 0
        assert compute("psi", const.counts, _current(const, np.full(500, shifted)))[0] > 10
    assert compute("psi", const.counts, _current(const, np.full(500, 3.0)))[0] == 0.0
    kids = build_feature_reference("k", np.tile([0.0, 1.0, 2.0], 334))
    at_max, above = _current(kids, np.full(500, 2.0)), _current(kids, np.full(500, 50.0))
    assert not np.array_equal(at_max, above)
    assert compute("ks", kids.counts, at_max)[0] == pytest.approx(2 / 3, abs=0.01)
    assert compute("ks", kids.counts, above)[0] == pytest.approx(1.0)
    assert kids.bin_labels()[-2:] == ["=2", ">2"]


def test_overflow_position_ignores_the_maximums_one_ulp_bin() -> None:
    pos = bin_positions((0.0, 1.0, 2.0, np.nextafter(2.0, np.inf)))
    assert pos[-1] == pytest.approx(2.5)  # half the last real bin's width beyond the max
    assert bin_positions((3.0, np.nextafter(3.0, np.inf)))[[0, -1]] == pytest.approx([2.5, 3.5])

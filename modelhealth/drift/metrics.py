"""Distribution-distance metrics over histograms that share bins.

Every function takes ``reference`` and ``current`` count arrays of shape ``(bins,)`` or
``(features, bins)`` and returns one value per row. Pure numpy (+ scipy's chi-square tail):
no pandas, I/O or clock, so the rules engine can call them on thousands of features at once.

Conventions (why they matter):

* Rows are features, columns are bins in the FeatureReference order (numeric: underflow, the
  interior bins in ascending order, overflow; categorical: categories then ``__other__``).
  Features with fewer bins are right-padded with zero counts, which changes no metric: a bin
  empty on both sides contributes nothing (the Wasserstein padding positions repeat the last
  position, i.e. a zero-width step).
* A row whose reference or current total is zero has no distribution: the result is NaN,
  never a made-up 0.
* Zero-count bins: only PSI takes a logarithm of a single side, so only PSI is smoothed (every
  bin non-empty on at least one side has its probability floored at :data:`EPSILON` on both
  sides, then each side is renormalised; bins empty on both sides are left out). JS uses the mixture
  ``m = (p + q) / 2`` which is positive wherever either side is, and ``0 * log 0 = 0``
  explicitly; Hellinger, L-infinity, KS and Wasserstein are finite on zeros. Chi-square drops
  bins that are empty on both sides (they carry no evidence) and lowers the degrees of
  freedom accordingly, exactly as ``scipy.stats.chi2_contingency`` on the non-empty columns.
* Counts near the float max (1e308): the probability metrics scale each row by a power of two
  before summing it (:func:`_as_probs`), chi-square scales the table before its products
  (:func:`_chisquare_shift`), so no sum or product overflows; sums that only decide whether a
  row or bin is empty may reach inf (still > 0) without a warning.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import chi2

EPSILON = 1e-4
"""Probability floor for empty bins in PSI: see :func:`_smoothed`."""

DriftMetric = Callable[..., np.ndarray]
"""``fn(reference_counts, current_counts, **options) -> values`` with one value per row."""


def _pair(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.atleast_2d(np.asarray(reference, dtype=np.float64))
    c = np.atleast_2d(np.asarray(current, dtype=np.float64))
    if r.shape != c.shape or r.ndim != 2:
        raise ValueError(
            f"reference {r.shape} and current {c.shape} histograms must have the same "
            "(features, bins) shape; pad features with fewer bins with zero counts"
        )
    if (r < 0).any() or (c < 0).any():
        raise ValueError("histogram counts must be >= 0")
    return r, c


def _as_probs(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its total, the row scaled by its largest count first.

    Counts near the float max (1e308) summed to inf, and every metric read NaN or 0. The scale
    is the power of two of the row's largest count, so scaling is exact: the sum cannot
    overflow (at most one per bin). Only rows whose plain sum overflows are scaled: scaling
    every row cost 2.5x the time of the cheap metrics (20,000 rows: Hellinger 15 ms against
    6), and ordinary rows keep the very same arithmetic."""
    c = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    with np.errstate(over="ignore"):
        total = c.sum(axis=1, keepdims=True)
    huge = ~np.isfinite(total[:, 0])
    if huge.any():
        rows = c[huge]
        _, exponent = np.frexp(np.max(rows, axis=1, keepdims=True, initial=0.0))
        c = c.copy()
        c[huge] = np.ldexp(rows, -exponent)
        total[huge] = c[huge].sum(axis=1, keepdims=True)
    return np.divide(c, total, out=np.zeros_like(c), where=total > 0)


def _empty_rows(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # a sum of huge counts is inf, which is still > 0
        return (r.sum(axis=1) <= 0) | (c.sum(axis=1) <= 0)


def _nan_empty(values: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    out[_empty_rows(r, c)] = np.nan
    return out


def _smoothed(p: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Floor empty bins at EPSILON and renormalise, so log ratios stay finite.

    Only ``used`` bins (non-empty on at least one side) are floored: a bin empty on both sides
    is no evidence of drift, and zero-padding must not change the result."""
    q = np.where(used, np.maximum(p, EPSILON), 0.0)
    total = q.sum(axis=1, keepdims=True)
    return np.divide(q, total, out=np.zeros_like(q), where=total > 0)


def psi(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Population Stability Index: sum((c - r) * ln(c / r)); > 0.2 is a common alarm.

    >>> round(float(psi([50, 50], [90, 10])[0]), 4)
    0.8789
    """
    r0, c0 = _pair(reference, current)
    with np.errstate(over="ignore"):  # huge counts add up to inf, which is still > 0
        used = (r0 + c0) > 0
    r = _smoothed(_as_probs(r0), used)
    c = _smoothed(_as_probs(c0), used)
    ratio = np.divide(c, r, out=np.ones_like(c), where=used & (r > 0))
    return _nan_empty(np.sum((c - r) * np.log(ratio), axis=1), r0, c0)


def _xlogy_ratio(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """p * log2(p / m) with 0 * log 0 = 0 (m > 0 wherever p > 0 by construction)."""
    safe_p = np.where(p > 0, p, 1.0)
    safe_m = np.where(p > 0, m, 1.0)
    return np.where(p > 0, p * np.log2(safe_p / safe_m), 0.0)


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Jensen-Shannon *distance* in base 2 (0..1), as ``scipy.spatial.distance.jensenshannon``.

    >>> float(jensen_shannon([1, 0], [0, 1])[0])
    1.0
    """
    r0, c0 = _pair(reference, current)
    p, q = _as_probs(r0), _as_probs(c0)
    m = (p + q) / 2
    div = 0.5 * (_xlogy_ratio(p, m).sum(axis=1) + _xlogy_ratio(q, m).sum(axis=1))
    return _nan_empty(np.sqrt(np.clip(div, 0.0, None)), r0, c0)


def linf(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """L-infinity: the largest absolute change of one bin's (category's) probability.

    >>> round(float(linf([50, 50], [90, 10])[0]), 2)
    0.4
    """
    r0, c0 = _pair(reference, current)
    return _nan_empty(np.abs(_as_probs(r0) - _as_probs(c0)).max(axis=1), r0, c0)


def ks(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Kolmogorov-Smirnov statistic: max |CDF_ref - CDF_cur| over the ordered bins.

    Only meaningful for numeric histograms (ordered bins). Evaluated at bin edges, so it is
    a lower bound of the sample KS statistic and equals it when each bin holds one value.
    """
    r0, c0 = _pair(reference, current)
    diff = np.cumsum(_as_probs(r0), axis=1) - np.cumsum(_as_probs(c0), axis=1)
    return _nan_empty(np.abs(diff).max(axis=1), r0, c0)


def _positions(shape: tuple[int, int], positions: np.ndarray | None) -> np.ndarray:
    if positions is None:
        return np.broadcast_to(np.arange(shape[1], dtype=np.float64), shape)
    pos = np.asarray(positions, dtype=np.float64)
    pos = np.broadcast_to(pos, shape) if pos.ndim == 1 else pos
    if pos.shape != shape:
        raise ValueError(f"positions {pos.shape} must match histograms {shape}")
    if (np.diff(pos, axis=1) < 0).any():
        raise ValueError("bin positions must be non-decreasing within each row")
    return pos


def wasserstein(
    reference: np.ndarray, current: np.ndarray, *, positions: np.ndarray | None = None
) -> np.ndarray:
    """Earth mover's distance between the histograms, each bin's mass placed at its position.

    ``positions`` (``(bins,)`` or ``(features, bins)``, non-decreasing) are typically bin
    centres from :func:`bin_positions`; by default bin ``i`` sits at ``i`` (distance in bins).
    Approximation: mass inside a bin is treated as sitting at one point, so the result differs
    from the sample distance by at most about one bin width (less for fine bins). Equals
    ``scipy.stats.wasserstein_distance(pos, pos, p, q)`` exactly.
    """
    r0, c0 = _pair(reference, current)
    pos = _positions(r0.shape, positions)
    cdf_gap = np.abs(np.cumsum(_as_probs(r0), axis=1) - np.cumsum(_as_probs(c0), axis=1))
    return _nan_empty((cdf_gap[:, :-1] * np.diff(pos, axis=1)).sum(axis=1), r0, c0)


NORM_STD_FLOOR = 0.001
"""Smallest reference std :func:`wasserstein_norm` divides by, as Evidently's
``wasserstein_distance_norm`` floors it (``max(np.std(reference), 0.001)``)."""


def wasserstein_norm(
    reference: np.ndarray, current: np.ndarray, *, positions: np.ndarray | None = None
) -> np.ndarray:
    """Wasserstein distance divided by the reference standard deviation (Evidently's default
    numeric test for more than 1,000 rows, threshold 0.1), so it is unit-free.

    The std is floored at :data:`NORM_STD_FLOOR`, as Evidently does: a feature constant in
    training has std 0, and dividing by it gave NaN (never drifted) when production moved
    off the constant, however far."""
    r0, c0 = _pair(reference, current)
    pos = _positions(r0.shape, positions)
    p = _as_probs(r0)
    mean = (p * pos).sum(axis=1, keepdims=True)
    std = np.sqrt((p * (pos - mean) ** 2).sum(axis=1))
    return wasserstein(r0, c0, positions=pos) / np.maximum(std, NORM_STD_FLOOR)


def hellinger(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Hellinger distance sqrt(1 - sum(sqrt(p * q))), between 0 (same) and 1 (disjoint)."""
    r0, c0 = _pair(reference, current)
    bc = np.sqrt(_as_probs(r0) * _as_probs(c0)).sum(axis=1)
    return _nan_empty(np.sqrt(np.clip(1.0 - bc, 0.0, None)), r0, c0)


CHISQUARE_TOTAL_EXPONENT = 511
"""A chi-square table is scaled down (:func:`_chisquare_shift`) unless its grand total is sure
to stay below ``2**511``, so that the products of two totals stay below ``2**1022``."""


def _chisquare_shift(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per row, the ``k >= 0`` for which the counts times ``2**-k`` have a grand total below
    ``2**CHISQUARE_TOTAL_EXPONENT``: 0 unless the row's largest count is above about 1e150.

    The total is below ``2 * bins * top`` (``top`` the largest count), which is at most
    ``2**(exponent + spread)`` with ``top < 2**exponent``."""
    top = np.maximum(r.max(axis=1, initial=0.0), c.max(axis=1, initial=0.0))
    _, exponent = np.frexp(top)  # 0 for NaN and inf: such rows are left as they are
    spread = (2 * r.shape[1] - 1).bit_length()
    return np.maximum(exponent + spread - CHISQUARE_TOTAL_EXPONENT, 0)


def _chisquare(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson chi-square test of homogeneity on the 2 x bins table (no Yates correction).

    The statistic is that of the counts as given, not of their proportions: it grows in
    proportion to the counts (scaling both rows by ``a`` scales it by ``a``), so counts near
    the float max (1e308) have an enormous statistic and a p-value of 0 for any difference in
    shape, as a real sample of that size would. Its products (a column total times a row
    total, a squared difference) overflowed from counts of about 1e154 on: NaN or 0 read as
    "no drift". A row whose grand total could reach ``2**511`` is therefore computed on its
    counts times ``2**-k`` (:func:`_chisquare_shift`) and the statistic multiplied by
    ``2**k``: a power of two scales every step exactly, so this is the statistic of the
    counts as given (bit for bit, unless a tiny term falls below the normal float range),
    and ``inf`` where that exceeds the float max (rows far apart at 1e308; p-value 0). Rows
    with smaller counts (``k = 0``) are computed exactly as before.
    """
    r0, c0 = _pair(reference, current)
    shift = _chisquare_shift(r0, c0)
    if shift.any():
        r, c = np.ldexp(r0, -shift[:, None]), np.ldexp(c0, -shift[:, None])
    else:  # the usual case: no copy (the scaling cost half again the test's time)
        r, c = r0, c0
    col = r + c
    nr, nc = r.sum(axis=1, keepdims=True), c.sum(axis=1, keepdims=True)
    total = nr + nc
    with np.errstate(over="ignore"):  # huge counts add up to inf, which is still > 0
        used = (r0 + c0) > 0  # not ``col``: a count scaled below the float range is still one
    with np.errstate(divide="ignore", invalid="ignore"):
        er, ec = col * nr / total, col * nc / total
        terms = np.where(used & (er > 0), (r - er) ** 2 / er, 0.0) + np.where(
            used & (ec > 0), (c - ec) ** 2 / ec, 0.0
        )
    with np.errstate(over="ignore"):  # beyond the float max: inf
        stat = np.ldexp(terms.sum(axis=1), shift)
    dof = used.sum(axis=1) - 1
    pvalue = np.where(dof > 0, chi2.sf(stat, np.maximum(dof, 1)), 1.0)
    return _nan_empty(stat, r0, c0), _nan_empty(pvalue, r0, c0)


def chisquare(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Chi-square statistic of reference vs current counts (for categorical features).

    Grows with the sample size: compare p-values (:func:`chisquare_pvalue`), or prefer a
    distance (JS, L-infinity) for very large windows where every p-value is ~0. Counts near
    the float max give the statistic of those counts, ``inf`` beyond the float max (see
    :func:`_chisquare`).
    """
    return _chisquare(reference, current)[0]


def chisquare_pvalue(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """p-value of the chi-square homogeneity test; *small* values mean drift (< 0.05)."""
    return _chisquare(reference, current)[1]


def bin_positions(edges: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Representative positions of the ``len(edges) + 1`` FeatureReference numeric bins.

    Interior bins sit at their centres; the under/overflow bins sit half of the neighbouring
    bin's width beyond the outer edges (their true spread is unknown: this is the documented
    approximation of :func:`wasserstein`). One edge: the two bins sit at ``edge -/+ 0.5``.
    Bins only a few ulps wide (the training maximum's own bin) do not set those widths; with
    no wider bin, the outer bins sit 0.5 beyond the edges, as with one edge.
    """
    e = np.asarray(edges, dtype=np.float64)
    if e.size == 0:
        raise ValueError("numeric bins need at least one edge")
    if e.size == 1:
        return np.array([e[0] - 0.5, e[0] + 0.5])
    centres = (e[:-1] + e[1:]) / 2
    widths = np.diff(e)
    # quantile_edges ends with an edge one ulp above the training max: that bin holds the max
    # only, and its ulp width would put the overflow bin at the max. Use real widths.
    real = widths[widths > 4 * np.spacing(np.abs(e).max())]
    first, last = (real[0], real[-1]) if real.size else (1.0, 1.0)
    return np.concatenate([[e[0] - first / 2], centres, [e[-1] + last / 2]])


DRIFT_METRICS: dict[str, DriftMetric] = {
    "psi": psi,
    "js": jensen_shannon,
    "linf": linf,
    "ks": ks,
    "wasserstein": wasserstein,
    "wasserstein_norm": wasserstein_norm,
    "hellinger": hellinger,
    "chisquare": chisquare,
    "chisquare_pvalue": chisquare_pvalue,
}
"""Every drift metric by name (the YAML ``metric:`` of a drift rule)."""

DEFAULT_THRESHOLDS: dict[str, float] = {
    "psi": 0.2,
    "js": 0.1,
    "linf": 0.1,
    "ks": 0.1,
    "wasserstein": 0.1,
    "wasserstein_norm": 0.1,
    "hellinger": 0.1,
    "chisquare": 100.0,
    "chisquare_pvalue": 0.05,
}
"""Alarm thresholds commonly used in practice (PSI 0.2, JS/Evidently 0.1, p < 0.05).

``wasserstein`` is in the units of its positions (bins by default), so set it per feature."""

LOWER_IS_DRIFT: frozenset[str] = frozenset({"chisquare_pvalue"})
"""Metrics whose *small* values mean drift; every other metric drifts when it is large."""

NUMERIC_ONLY: frozenset[str] = frozenset({"ks", "wasserstein", "wasserstein_norm"})
"""Metrics that need ordered bins; they are not computed for categorical features."""

POSITIONAL: frozenset[str] = frozenset({"wasserstein", "wasserstein_norm"})
"""Metrics that accept the ``positions=`` keyword (bin centres)."""


def is_drifted(metric: str, values: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Boolean per value: beyond ``threshold`` (default :data:`DEFAULT_THRESHOLDS`) in the
    metric's drift direction. NaN (no data) is never drifted."""
    t = DEFAULT_THRESHOLDS[metric] if threshold is None else threshold
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = v < t if metric in LOWER_IS_DRIFT else v > t
    return out & np.isfinite(v)


def compute(
    metric: str,
    reference: np.ndarray,
    current: np.ndarray,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """Run a registered metric by name, passing ``positions`` only to positional metrics."""
    if metric not in DRIFT_METRICS:
        raise KeyError(f"unknown drift metric {metric!r}; known: {', '.join(DRIFT_METRICS)}")
    fn = DRIFT_METRICS[metric]
    if metric in POSITIONAL:
        return fn(reference, current, positions=positions)
    return fn(reference, current)

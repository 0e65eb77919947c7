"""Distribution-distance metrics over histograms that share bins.

Every function takes ``reference`` and ``current`` count arrays of shape ``(bins,)`` or
``(features, bins)`` and returns one value per row. Pure numpy: no pandas, I/O or clock.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPSILON = 1e-4
"""Probability floor for empty bins in log-based metrics (PSI): see :func:`_smoothed`."""


def _as_probs(counts: np.ndarray) -> np.ndarray:
    c = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    total = c.sum(axis=1, keepdims=True)
    return np.divide(c, total, out=np.zeros_like(c), where=total > 0)


def _smoothed(p: np.ndarray) -> np.ndarray:
    """Floor empty bins at EPSILON and renormalise, so log ratios stay finite."""
    q = np.maximum(p, EPSILON)
    return q / q.sum(axis=1, keepdims=True)


def psi(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Population Stability Index: sum((c - r) * ln(c / r)); > 0.2 is a common alarm."""
    r = _smoothed(_as_probs(reference))
    c = _smoothed(_as_probs(current))
    return np.sum((c - r) * np.log(c / r), axis=1)


DriftMetric = Callable[[np.ndarray, np.ndarray], np.ndarray]

DRIFT_METRICS: dict[str, DriftMetric] = {"psi": psi}

"""Classifier and regressor quality metrics as pure numpy functions (no I/O, no clock).

Each takes ``labels`` and ``scores`` arrays of one window and returns a float; NaN when the
metric is undefined for that window (e.g. AUC with a single class), never a made-up value.
The classifier metrics take labels 0 and 1 only (bools count), as scikit-learn's do: any
other label raises ValueError naming it, rather than a number computed from it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

LOG_LOSS_EPS = 1e-15
"""Probabilities are clipped to [eps, 1 - eps] so one confident miss costs ~34.5, not inf."""


def _arrays(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(scores, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {p.shape} must be equal 1-D arrays")
    return y, p


def _binary(labels: np.ndarray, scores: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of a binary classifier: every label 0 or 1, else ValueError.

    Multiclass codes and regression targets used to be scored as if they were classes: labels
    {0, 1, 2} counted 2 as positive and gave a *negative* log loss, and numeric targets around
    50 read accuracy 1.0 against scores around 50. The error names the metrics that fit."""
    y, p = _arrays(labels, scores)
    bad = (y != 0.0) & (y != 1.0)
    if bad.any():
        others = np.unique(y[bad])
        shown = ", ".join(f"{v:g}" for v in others[:5]) + (", ..." if others.size > 5 else "")
        raise ValueError(
            f"{metric} needs binary labels (0 or 1; the score is P(label = 1)), but "
            f"{int(bad.sum())} of {y.size} labels are other values ({shown}); for numeric "
            "labels use mae or rmse (performance.mae, performance.rmse)"
        )
    return y, p


def confusion(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """[tp, fp, fn, tn] with ``score >= threshold`` predicted positive, label 1 true."""
    return _confusion(labels, scores, threshold, "a confusion matrix")


def _confusion(labels: np.ndarray, scores: np.ndarray, threshold: float, metric: str) -> np.ndarray:
    y, p = _binary(labels, scores, metric)
    pos, pred = y == 1.0, p >= threshold
    return np.array(
        [np.sum(pos & pred), np.sum(~pos & pred), np.sum(pos & ~pred), np.sum(~pos & ~pred)],
        dtype=np.float64,
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    tp, fp, fn, tn = _confusion(labels, scores, threshold, "accuracy")
    return _ratio(tp + tn, tp + fp + fn + tn)


def precision(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    tp, fp, _, _ = _confusion(labels, scores, threshold, "precision")
    return _ratio(tp, tp + fp)


def recall(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    tp, _, fn, _ = _confusion(labels, scores, threshold, "recall")
    return _ratio(tp, tp + fn)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) identity; ties count one half."""
    y, p = _binary(labels, scores, "auc")
    pos = y == 1.0
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    y, p = _binary(labels, scores, "log_loss")
    if y.size == 0:
        return float("nan")
    q = np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """ECE over ``bins`` equal-width score bins: sum_b (n_b / n) * |mean(y_b) - mean(p_b)|.

    The last bin is closed (a score of exactly 1.0 belongs to it)."""
    y, p = _binary(labels, scores, "ece")
    if y.size == 0:
        return float("nan")
    idx = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    n = np.bincount(idx, minlength=bins)
    sy = np.bincount(idx, weights=y, minlength=bins)
    sp = np.bincount(idx, weights=p, minlength=bins)
    used = n > 0
    return float(np.sum(np.abs(sy[used] - sp[used])) / y.size)


def mae(labels: np.ndarray, scores: np.ndarray) -> float:
    y, p = _arrays(labels, scores)
    return float(np.mean(np.abs(y - p))) if y.size else float("nan")


def rmse(labels: np.ndarray, scores: np.ndarray) -> float:
    y, p = _arrays(labels, scores)
    return float(np.sqrt(np.mean((y - p) ** 2))) if y.size else float("nan")


Metric = Callable[[np.ndarray, np.ndarray], float]

CLASSIFIER_METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "auc": auc,
    "log_loss": log_loss,
    "ece": expected_calibration_error,
}
"""Metrics for a binary classifier whose score is P(label = 1); threshold 0.5 by default."""

REGRESSOR_METRICS: dict[str, Metric] = {"mae": mae, "rmse": rmse}

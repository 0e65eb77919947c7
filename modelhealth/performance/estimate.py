"""ESTIMATED classifier performance before labels arrive (NannyML's CBPE idea).

If the model's scores are *calibrated* probabilities, a prediction with score p is a true
positive with probability p when predicted positive, and a false positive with probability
1 - p. Summing those gives the expected confusion matrix of a window, hence its expected
accuracy, precision and recall — with no labels at all. It is only as good as the
calibration (check ``ece`` on labelled windows), so every output is marked ``estimated``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from modelhealth.store.backend import QueryBackend, Scope

HIST_BINS = 200
"""Score histogram resolution: centres are at most 1/400 away from the true score."""


def expected_confusion(
    scores: np.ndarray, threshold: float = 0.5, weights: np.ndarray | None = None
) -> np.ndarray:
    """Expected [tp, fp, fn, tn] given calibrated scores (optionally histogram ``weights``)."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=np.float64)
    pred = p >= threshold
    return np.array(
        [
            np.sum(w * p * pred),
            np.sum(w * (1 - p) * pred),
            np.sum(w * p * ~pred),
            np.sum(w * (1 - p) * ~pred),
        ]
    )


def estimate_from_confusion(cm: np.ndarray) -> dict[str, float]:
    tp, fp, fn, tn = (float(x) for x in cm)
    n = tp + fp + fn + tn
    nan = float("nan")
    return {
        "est_accuracy": (tp + tn) / n if n else nan,
        "est_precision": tp / (tp + fp) if tp + fp else nan,
        "est_recall": tp / (tp + fn) if tp + fn else nan,
    }


def estimate_performance(
    store: QueryBackend, scope: Scope, step_ms: int, threshold: float = 0.5
) -> pd.DataFrame:
    """Per window ``ts predictions est_accuracy est_precision est_recall estimated``.

    Uses one score histogram per window (edges every 1/HIST_BINS plus ``threshold``, so no
    bin straddles the decision threshold); the labels table is not read at all.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    edges = np.unique(np.append(np.linspace(0.0, 1.0, HIST_BINS + 1), threshold))
    centres = np.concatenate([[edges[0]], (edges[:-1] + edges[1:]) / 2, [edges[-1]]])
    rows = []
    for ts, n in store.score(scope, step_ms)[["ts", "count"]].itertuples(index=False):
        window = replace(scope, start_ms=int(ts), end_ms=int(ts) + step_ms)
        hist = store.score_histogram(window, edges.tolist())
        counts = np.zeros(centres.size)
        counts[hist["bin"].to_numpy()] = hist["count"].to_numpy()
        cm = expected_confusion(centres, threshold, counts)
        rows.append({"ts": int(ts), "predictions": int(n), **estimate_from_confusion(cm)})
    out = pd.DataFrame(
        rows, columns=["ts", "predictions", "est_accuracy", "est_precision", "est_recall"]
    )
    out["estimated"] = True
    return out

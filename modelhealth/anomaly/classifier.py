"""Second stage: turns irregularity features into an anomaly probability.

Labelled incidents are rare, so the classifier is trained on synthetic anomalies injected
into ordinary series (spikes, level shifts, variance changes, flatlines, dips) and, when the
training files carry labels, on the points of their real labelled windows as well (see
``train.positive_mask``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelhealth.anomaly.threads import predict_threads

KINDS: tuple[str, ...] = ("spike", "dip", "level_shift", "variance", "flatline")


def inject(
    values: np.ndarray, rng: np.random.Generator, count: int, start: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Copy of ``values`` with ``count`` synthetic anomalies after ``start``, and their labels.

    Magnitudes are drawn in units of the series' own spread so every series gets
    anomalies that are visible but not trivially huge. Labels mark the onset: the
    first points of a shift/variance change/flatline, where a detector should fire.
    """
    x = np.array(values, dtype=np.float64)
    n = len(x)
    labels = np.zeros(n, dtype=bool)
    finite = x[np.isfinite(x)]
    if n - start < 50 or len(finite) < 20:
        return x, labels
    q25, q50, q75 = np.percentile(finite, [25, 50, 75])
    spread = max(q75 - q25, float(np.std(finite)) * 0.5, 1e-3 * (abs(q50) + 1e-3))
    for _ in range(count):
        kind = KINDS[int(rng.integers(len(KINDS)))]
        at = int(rng.integers(start, n - 10))
        mag = spread * float(rng.uniform(3.0, 10.0)) * (1 if rng.random() < 0.6 else -1)
        if kind in ("spike", "dip"):
            width = int(rng.integers(1, 4))
            sign = 1.0 if kind == "spike" else -1.0
            x[at : at + width] += sign * abs(mag)
            labels[at : at + width] = True
        elif kind == "level_shift":
            length = int(rng.integers(24, 300))
            x[at : at + length] += mag
            labels[at : at + min(length, 12)] = True
        elif kind == "variance":
            length = int(rng.integers(24, 200))
            seg = x[at : at + length]
            x[at : at + length] = seg + rng.normal(0, abs(mag) / 2, size=len(seg))
            labels[at : at + min(length, 12)] = True
        else:  # flatline: a stuck sensor or a pipeline repeating its last value
            length = int(rng.integers(24, 200))
            x[at : at + length] = x[max(at - 1, 0)]
            labels[at + 6 : at + min(length, 24)] = True
    return x, labels


@dataclass
class AnomalyClassifier:
    """Gradient-boosted binary classifier over ``irregularity.CLASSIFIER_FEATURES``."""

    num_trees: int = 100
    seed: int = 11
    max_bin: int = 63
    """Histogram bins per feature: 63 instead of LightGBM's 255 builds the dataset and each
    tree faster; the scores are ranks against a threshold, not fine regressions."""
    model: Any = field(default=None)

    def fit(self, X: np.ndarray, y: np.ndarray) -> AnomalyClassifier:
        import lightgbm as lgb

        pos = max(int(y.sum()), 1)
        cfg = {
            "objective": "binary",
            "learning_rate": 0.08,
            "num_leaves": 31,
            "min_data_in_leaf": 40,
            "max_bin": self.max_bin,
            "scale_pos_weight": min(20.0, (len(y) - pos) / pos),
            "seed": self.seed,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        self.model = lgb.train(cfg, lgb.Dataset(X, y.astype(float)), num_boost_round=self.num_trees)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("AnomalyClassifier.predict_proba called before fit/load")
        if len(X) == 0:
            return np.zeros(0)
        threads = predict_threads(len(X))
        return np.asarray(self.model.predict(X, num_threads=threads), dtype=np.float64)

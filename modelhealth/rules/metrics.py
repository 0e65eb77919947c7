"""The metric catalog rules can name, and how each is computed from the store.

Rules that share (model, window, version/grouping) are answered by one store query per query
kind: :class:`MetricQueries` caches results for the duration of one evaluation tick.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelhealth.drift.metrics import DRIFT_METRICS
from modelhealth.ingestion.reference import ModelReference
from modelhealth.store.backend import QueryBackend, Scope

MODEL_METRICS: dict[str, str] = {
    "latency.mean": "mean request latency (ms)",
    "latency.p50": "median request latency (ms)",
    "latency.p75": "75th percentile latency (ms)",
    "latency.p90": "90th percentile latency (ms)",
    "latency.p99": "99th percentile latency (ms)",
    "qps": "requests per second over the window",
    "count": "requests in the window",
    "error_rate": "share of requests flagged is_error",
    "score.mean": "mean model score",
    "score.std": "standard deviation of the model score",
    "score.p50": "median model score",
    "score.p90": "90th percentile model score",
}

FEATURE_METRICS: dict[str, str] = {
    "feature.null_rate": "share of events where the feature was missing/None",
    "feature.special_rate": "share of special values (NaN, -1, -999999, empty string)",
    "feature.mean": "mean of valid numeric values",
    "feature.std": "standard deviation of valid numeric values",
    "feature.min": "minimum valid value",
    "feature.max": "maximum valid value",
    "feature.uniform_share": "share of the most common bin (1.0 = feature is constant)",
    "feature.constant": "1 when every valid value in the window is identical, else 0",
}


def drift_metric_names() -> list[str]:
    return [f"feature.drift.{name}" for name in DRIFT_METRICS]


def known_metrics() -> list[str]:
    return [*MODEL_METRICS, *FEATURE_METRICS, *drift_metric_names()]


def is_feature_metric(metric: str) -> bool:
    return metric.startswith("feature.")


@dataclass(frozen=True)
class MetricValue:
    """One rule instance's value: labels identify it (model, version, feature …)."""

    labels: Mapping[str, str]
    value: float
    context: Mapping[str, Any] = field(default_factory=dict)


class MetricQueries:
    """Answers metric requests for one tick, sharing store queries between rules."""

    def __init__(self, store: QueryBackend, references: Mapping[str, ModelReference]) -> None:
        self.store = store
        self.references = references
        self._cache: dict[tuple[Any, ...], pd.DataFrame] = {}
        self.queries = 0

    def _cached(self, key: tuple[Any, ...], run: Any) -> pd.DataFrame:
        if key not in self._cache:
            self.queries += 1
            self._cache[key] = run()
        return self._cache[key]

    def values(
        self, metric: str, scope: Scope, group_by: Sequence[str] = (), features: Sequence[str] = ()
    ) -> list[MetricValue]:
        """Every instance of ``metric`` in ``scope`` (one per group / feature)."""
        by_version = "version" in group_by
        if metric.startswith("latency.") or metric in ("qps", "count", "error_rate"):
            df = self._cached(
                ("latency", scope, by_version),
                lambda: self.store.latency(scope, by_version=by_version),
            )
            return [
                MetricValue(_labels(scope, row, by_version), _model_value(metric, row, scope))
                for row in _rows(df)
                if row["count"] > 0
            ]
        if metric.startswith("score."):
            df = self._cached(("score", scope), lambda: self.store.score(scope))
            col = metric.split(".", 1)[1]
            return [
                MetricValue(_labels(scope, row, False), float(row[col]))
                for row in _rows(df)
                if row["count"] > 0
            ]
        if metric.startswith("feature.drift."):
            return self._drift(metric.rsplit(".", 1)[1], scope, by_version, features)
        if metric in ("feature.uniform_share",):
            return self._uniform(scope, by_version, features)
        return self._summary(metric, scope, by_version, features)

    def _summary(
        self, metric: str, scope: Scope, by_version: bool, features: Sequence[str]
    ) -> list[MetricValue]:
        df = self._cached(
            ("summary", scope, by_version),
            lambda: self.store.feature_summary(scope, by_version=by_version),
        )
        out = []
        for row in _rows(df):
            if not _selected(row["feature"], features) or row["count"] <= 0:
                continue
            if metric == "feature.null_rate":
                v = row["nulls"] / row["count"]
            elif metric == "feature.special_rate":
                v = row["specials"] / row["count"]
            elif metric == "feature.constant":
                if row["kind"] != "numeric" or row["valid"] < 2:
                    continue
                v = 1.0 if row["min"] == row["max"] else 0.0
            else:
                v = float(row[metric.split(".", 1)[1]])
            if np.isfinite(v):
                out.append(MetricValue(_labels(scope, row, by_version, feature=True), float(v)))
        return out

    def _histograms(self, scope: Scope, by_version: bool) -> pd.DataFrame:
        return self._cached(
            ("hist", scope, by_version),
            lambda: self.store.feature_histograms(scope, by_version=by_version),
        )

    def _uniform(
        self, scope: Scope, by_version: bool, features: Sequence[str]
    ) -> list[MetricValue]:
        df = self._histograms(scope, by_version)
        keys = ["version", "feature"] if by_version else ["feature"]
        out = []
        for key, grp in df.groupby(keys):
            row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            if not _selected(row["feature"], features) or grp["count"].sum() == 0:
                continue
            share = float(grp["count"].max() / grp["count"].sum())
            out.append(MetricValue(_labels(scope, row, by_version, feature=True), share))
        return out

    def _drift(
        self, name: str, scope: Scope, by_version: bool, features: Sequence[str]
    ) -> list[MetricValue]:
        ref = self.references.get(scope.model)
        if ref is None:
            raise LookupError(
                f"model {scope.model!r} has no reference profile for drift; set "
                "'reference:' in its config"
            )
        df = self._histograms(scope, by_version)
        keys = ["version", "feature"] if by_version else ["feature"]
        rows, cur, base = [], [], []
        for key, grp in df.groupby(keys):
            row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            fref = ref.features.get(row["feature"])
            if fref is None or not _selected(row["feature"], features):
                continue
            counts = np.zeros(fref.n_bins)
            idx = grp["bin"].to_numpy()
            ok = idx < fref.n_bins
            np.add.at(counts, idx[ok], grp["count"].to_numpy()[ok])
            rows.append(row)
            cur.append(counts)
            base.append(np.asarray(fref.counts, dtype=np.float64))
        if not rows:
            return []
        # features have different bin counts: evaluate each width group vectorised
        out: list[MetricValue] = []
        widths = sorted({c.size for c in cur})
        for w in widths:
            sel = [i for i, c in enumerate(cur) if c.size == w]
            vals = DRIFT_METRICS[name](
                np.stack([base[i] for i in sel]), np.stack([cur[i] for i in sel])
            )
            out.extend(
                MetricValue(_labels(scope, rows[i], by_version, feature=True), float(v))
                for i, v in zip(sel, vals, strict=True)
            )
        return out


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict("records")


def _selected(feature: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(feature, p) for p in patterns)


def _labels(
    scope: Scope, row: Mapping[str, Any], by_version: bool, feature: bool = False
) -> dict[str, str]:
    labels = {"model": scope.model}
    if by_version:
        labels["version"] = str(row["version"])
    elif scope.version is not None:
        labels["version"] = scope.version
    if feature:
        labels["feature"] = str(row["feature"])
    return labels


def _model_value(metric: str, row: Mapping[str, Any], scope: Scope) -> float:
    if metric == "qps":
        return float(row["count"]) / ((scope.end_ms - scope.start_ms) / 1000)
    if metric == "count":
        return float(row["count"])
    if metric == "error_rate":
        return float(row["errors"]) / float(row["count"])
    return float(row[metric.split(".", 1)[1]])

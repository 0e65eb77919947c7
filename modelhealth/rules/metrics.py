"""The metric catalog rules can name, and how each is computed from a store frame.

Every metric is a vectorised function of one frame (see :mod:`modelhealth.rules.frames`): it
returns one row per instance — ``[ts] [version] [feature] value`` — for the current window
(no ``ts``) and for bucketed history (``ts`` = bucket start) alike, so the newest point and the
history a detector compares it with are computed by the very same code.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelhealth.contracts.validate import WINDOW_CHECKS
from modelhealth.drift.metrics import DRIFT_METRICS

MODEL_METRICS: dict[str, str] = {
    "latency.mean": "mean request latency (ms)",
    "latency.p50": "median request latency (ms)",
    "latency.p75": "75th percentile latency (ms)",
    "latency.p90": "90th percentile latency (ms)",
    "latency.p99": "99th percentile latency (ms)",
    "qps": "requests per second over the window (0 when the model got none)",
    "count": "requests in the window (0 when the model got none)",
    "error_rate": "share of requests flagged is_error",
    "score.mean": "mean model score",
    "score.std": "standard deviation of the model score",
    "score.p50": "median model score",
    "score.p90": "90th percentile model score",
    "score.min": "smallest model score",
    "score.max": "largest model score",
}

FEATURE_METRICS: dict[str, str] = {
    "feature.null_rate": "share of events where the feature was missing/None",
    "feature.special_rate": (
        "share of special values (NaN, ±inf, |x| > 1e150, the reference's sentinels, by "
        "default -1 and -999999; a categorical's empty string)"
    ),
    "feature.mean": "mean of valid numeric values",
    "feature.std": "standard deviation of valid numeric values (from stored sums of x and x²:"
    " exact for constants, turns to noise as |mean|/std nears 1e8 (1e-2 off at 1e7), e.g. epoch"
    " times; alert on a shifted feature there)",
    "feature.min": "minimum valid value",
    "feature.max": "maximum valid value",
    "feature.uniform_share": "share of the most common bin (1.0 = feature is constant)",
    "feature.distinct": "number of distinct bins/categories seen in the window",
    "feature.constant": "1 when every valid value in the window is identical, else 0",
}

PERFORMANCE_PREFIX = "performance."
PERFORMANCE_METRICS: dict[str, str] = {
    "performance.accuracy": "share of labelled predictions right (score >= 0.5 predicts 1)",
    "performance.precision": "share of predicted positives (score >= 0.5) labelled 1",
    "performance.recall": "share of labelled positives predicted (score >= 0.5)",
    "performance.auc": "ROC AUC of the score against the labels",
    "performance.log_loss": "log loss of the score as P(label = 1)",
    "performance.ece": "expected calibration error of the score (10 bins)",
    "performance.mae": "mean absolute error of the score against the label (regression)",
    "performance.rmse": "root mean squared error of the score against the label (regression)",
    "performance.labels": "predictions of the window whose label has arrived (0 when none has)",
}
"""Quality on late-arriving labels (``Monitor.log_outcome``): the window's predictions joined
to the labels that arrived by the tick. A rule sets ``label_delay:`` to judge a window that
ended that long ago, when its labels are in; fewer than :data:`MIN_LABELS` labels leave the
window unjudged (no value), except for ``performance.labels`` itself."""
MIN_LABELS = 20
"""Labelled predictions a window needs before its quality metrics are judged: an accuracy
over three labels swings by a third with each, and would page on noise."""

SCORE_DRIFT_PREFIX = "score.drift."
FEATURE_DRIFT_PREFIX = "feature.drift."
DRIFT_MIN_COUNT = 100
"""The ``min_count:`` of a drift rule that sets none, for the distance metrics: the valid
values a window (and its baseline) must hold before its drift is judged. The distances do
not account for the sample size: drawn from the reference itself (no drift), a window of 20
values reads PSI > 0.2 92% of the time, of 50 values 43%, of 100 values 3%, so a PSI rule on
a quiet hour paged at night. 100 removes that much; JS > 0.1 still reads 79% at 100 values
(0.1% at 500), so JS and Hellinger rules at 0.1 want ``min_count: 500``."""
SIZE_AWARE_DRIFT = frozenset({"chisquare", "chisquare_pvalue"})
"""Drift metrics whose verdict already accounts for the sample size (the chi-square
statistic's null distribution does not grow with it; the p-value keeps its 5% false-alarm
rate from 20 values on): no ``min_count`` unless the rule sets one."""
CONTRACT_PREFIX = "contract."
CONTRACT_STATUS = "contract.status"
TABLE_CHECKS = ("row_count_change",)
"""Contract checks about the whole window, not one feature: model-level metrics."""


def drift_metric_names() -> list[str]:
    return [f"{FEATURE_DRIFT_PREFIX}{name}" for name in DRIFT_METRICS]


def score_drift_names() -> list[str]:
    return [f"{SCORE_DRIFT_PREFIX}{name}" for name in DRIFT_METRICS]


def contract_metric_names() -> list[str]:
    """``contract.status`` plus ``contract.<check>`` for every check a window validation emits."""
    return [CONTRACT_STATUS, *(f"{CONTRACT_PREFIX}{name}" for name in WINDOW_CHECKS)]


def catalog() -> dict[str, str]:
    """Every metric name with a one-line description (``modelhealth rules metrics``)."""
    out = dict(MODEL_METRICS)
    out.update(PERFORMANCE_METRICS)
    out.update(
        {
            m: f"score distribution drift ({m.rsplit('.', 1)[1]}) vs the reference"
            + _floor_words(m)
            for m in score_drift_names()
        }
    )
    out.update(FEATURE_METRICS)
    out.update(
        {
            m: f"per-feature drift ({m.rsplit('.', 1)[1]}) vs the rule's baseline" + _floor_words(m)
            for m in drift_metric_names()
        }
    )
    out[CONTRACT_STATUS] = (
        "worst data-contract check of the feature: 0 healthy, 1 warning, 2 critical "
        "(file needs 'contract:')"
    )
    out.update(
        {f"{CONTRACT_PREFIX}{name}": f"contract: {text}" for name, text in WINDOW_CHECKS.items()}
    )
    return out


def _floor_words(metric: str) -> str:
    """How many values a window of ``metric`` needs by default, for the catalog."""
    floor = default_min_count(metric)
    return f", judged from {floor} values on (min_count)" if floor else ""


def known_metrics() -> list[str]:
    return list(catalog())


def is_feature_metric(metric: str) -> bool:
    """One instance per feature: ``feature.*`` and the per-feature contract metrics."""
    if is_contract_metric(metric):
        return metric.removeprefix(CONTRACT_PREFIX) not in TABLE_CHECKS
    return metric.startswith("feature.")


def is_contract_metric(metric: str) -> bool:
    return metric.startswith(CONTRACT_PREFIX)


def is_drift_metric(metric: str) -> bool:
    return metric.startswith(FEATURE_DRIFT_PREFIX)


def takes_min_count(metric: str) -> bool:
    """Whether a rule on ``metric`` may set ``min_count:``: the drift metrics, of features
    and of the score, whose value is a distance between two histograms."""
    return is_drift_metric(metric) or metric.startswith(SCORE_DRIFT_PREFIX)


def default_min_count(metric: str) -> int:
    """The ``min_count`` of a rule on ``metric`` that sets none: :data:`DRIFT_MIN_COUNT` for
    the distance metrics, 0 (judge any window) for the chi-square ones and other metrics."""
    if not takes_min_count(metric) or metric.rsplit(".", 1)[1] in SIZE_AWARE_DRIFT:
        return 0
    return DRIFT_MIN_COUNT


def effective_min_count(metric: str, min_count: int | None) -> int:
    """The ``min_count`` a rule judges with: its own, else the metric's default."""
    return default_min_count(metric) if min_count is None else min_count


def is_performance_metric(metric: str) -> bool:
    return metric.startswith(PERFORMANCE_PREFIX)


def frame_kind(metric: str) -> str:
    """Which store query answers ``metric`` (see frames.KINDS)."""
    if is_performance_metric(metric):
        return "outcomes"
    if metric.startswith(SCORE_DRIFT_PREFIX):
        return "score_hist"
    if is_contract_metric(metric):
        return "summary"  # plus the same window's "hist" frame (see series.plan_rule)
    if metric.startswith("latency.") or metric in ("qps", "count", "error_rate"):
        return "latency"
    if metric.startswith("score."):
        return "score"
    if is_drift_metric(metric) or metric in ("feature.uniform_share", "feature.distinct"):
        return "hist"
    return "summary"


@dataclass(frozen=True)
class MetricValue:
    """One rule instance's value: labels identify it (model, version, feature …)."""

    labels: Mapping[str, str]
    value: float
    context: Mapping[str, Any] = field(default_factory=dict)


def instance_keys(frame: pd.DataFrame) -> list[str]:
    """The columns that identify an instance (plus ``ts`` for history) in a frame."""
    return [c for c in ("ts", "version", "feature") if c in frame.columns]


def select_features(frame: pd.DataFrame, patterns: Sequence[str]) -> pd.DataFrame:
    """Rows whose feature matches any glob (all rows when no pattern is given)."""
    if not patterns or "feature" not in frame.columns or frame.empty:
        return frame
    names = frame["feature"].unique()
    keep = [n for n in names if any(fnmatch.fnmatchcase(str(n), p) for p in patterns)]
    return frame[frame["feature"].isin(keep)]


def metric_frame(metric: str, frame: pd.DataFrame, span_ms: int) -> pd.DataFrame:
    """``[ts] [version] [feature] value`` for every instance of a non-drift metric.

    ``span_ms`` is the length each row covers (the window, or the bucket for history), for
    rates such as QPS. Rows without data are dropped rather than reported as 0 (the rules
    engine adds the zeros of ``count`` and ``qps`` itself, see :mod:`modelhealth.rules.silence`)."""
    kind = frame_kind(metric)
    keys = instance_keys(frame)
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "value"])
    if kind == "hist":
        return _hist_metric(metric, frame, keys)
    if kind == "outcomes":
        return _performance_metric(metric, frame, keys)
    df = frame[frame["count"] > 0]
    if kind == "latency":
        if metric == "qps":
            value = df["count"] / (span_ms / 1000.0)
        elif metric == "count":
            value = df["count"].astype("float64")
        elif metric == "error_rate":
            value = df["errors"] / df["count"]
        else:
            value = df[metric.split(".", 1)[1]]
    elif kind == "score":
        value = df[metric.split(".", 1)[1]]
    else:
        value = _summary_value(metric, df)
    out = df[keys].copy()
    out["value"] = np.asarray(value, dtype=np.float64)
    return out[np.isfinite(out["value"])].reset_index(drop=True)


def _performance_metric(metric: str, frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One value per window (or history bucket) from its labelled predictions."""
    from modelhealth.performance.metrics import CLASSIFIER_METRICS, REGRESSOR_METRICS

    name = metric.removeprefix(PERFORMANCE_PREFIX)
    fn = {**CLASSIFIER_METRICS, **REGRESSOR_METRICS}.get(name)
    rows = []
    groups = frame.groupby(keys, sort=True) if keys else [((), frame)]
    for key, part in groups:
        labels = part["label"].to_numpy(dtype=np.float64)
        scores = part["score"].to_numpy(dtype=np.float64)
        ok = np.isfinite(labels) & np.isfinite(scores)
        if fn is None:  # performance.labels
            value = float(ok.sum())
        elif ok.sum() < MIN_LABELS:
            continue
        else:
            value = fn(labels[ok], scores[ok])
        rows.append((*(key if isinstance(key, tuple) else (key,)), value))
    out = pd.DataFrame(rows, columns=[*keys, "value"])
    out["value"] = out["value"].astype(np.float64)
    return out[np.isfinite(out["value"])].reset_index(drop=True)


def _summary_value(metric: str, df: pd.DataFrame) -> pd.Series:
    if metric == "feature.null_rate":
        return df["nulls"] / df["count"]
    if metric == "feature.special_rate":
        return df["specials"] / df["count"]
    if metric == "feature.constant":
        ok = (df["kind"] == "numeric") & (df["valid"] >= 2)
        return ((df["min"] == df["max"]).astype("float64")).where(ok)
    return df[metric.split(".", 1)[1]]


def _hist_metric(metric: str, frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    df = frame[frame["count"] > 0]
    grouped = df.groupby(keys, sort=True)["count"]
    if metric == "feature.distinct":
        value = grouped.size().astype("float64")
    else:  # uniform share: the most common bin's share of the window
        value = grouped.max() / grouped.sum()
    return value.rename("value").reset_index()

"""Per-window model quality from predictions joined to late-arriving labels.

A window is scored only once its labels are in: its end plus ``label_delay`` has passed
*and* at least ``min_label_coverage`` of its predictions, and at least ``min_labels`` (20)
predictions, have a label that arrived by ``now``. Labels that arrive after ``now`` are
ignored, so a backtest at an earlier ``now`` sees exactly what production saw then.

    perf = performance_table(store, scope, step_ms=3_600_000, now=clock.now(),
                             label_delay=timedelta(hours=6))
    perf[perf.status == "scored"][["ts", "auc", "ece"]]
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import numpy as np
import pandas as pd

from modelhealth.clock import to_epoch_ms
from modelhealth.performance.metrics import CLASSIFIER_METRICS, REGRESSOR_METRICS, Metric
from modelhealth.store.backend import QueryBackend, Scope

SCORED, WAITING, FEW_LABELS = "scored", "waiting", "insufficient_labels"
"""Window status: metrics present; labels not due yet; due but too few labels (coverage or
count below the minimum)."""

MIN_LABELS = 20
"""Labels a window needs before it is scored, as the rules engine's ``performance.*`` metrics
and the dashboard judge (``modelhealth.rules.metrics.MIN_LABELS``): a window of three
predictions, all labelled, was "scored" with an accuracy that moves by a third per label."""


def _metrics(task: str, threshold: float) -> dict[str, Metric]:
    if task == "classification":
        out = dict(CLASSIFIER_METRICS)
        for name in ("accuracy", "precision", "recall"):
            out[name] = partial(CLASSIFIER_METRICS[name], threshold=threshold)
        return out
    if task == "regression":
        return dict(REGRESSOR_METRICS)
    raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")


def latest_labels(joined: pd.DataFrame) -> pd.DataFrame:
    """One row per request id: its latest prediction with its latest label.

    ``outcomes()`` joins every label of an id to every prediction of it: a corrected label
    (sent again later) or a retried prediction counted twice, with both of two contradicting
    labels (a QA pass: 63 labels for 50 predictions, accuracy 0.667 against 0.620)."""
    if joined.empty:
        return joined
    order = [c for c in ("ts", "ts_label") if c in joined.columns]
    latest = joined.sort_values(order, kind="stable").drop_duplicates("request_id", keep="last")
    return latest.sort_index().reset_index(drop=True)


def performance_table(
    store: QueryBackend,
    scope: Scope,
    step_ms: int,
    *,
    now: datetime,
    task: str = "classification",
    label_delay: timedelta = timedelta(0),
    min_label_coverage: float = 0.8,
    threshold: float = 0.5,
    min_labels: int = MIN_LABELS,
) -> pd.DataFrame:
    """One row per window: ``ts predictions labelled coverage status <metric>...``.

    ``now`` comes from the caller's Clock (tick time), never read here. With ``task=
    "classification"`` every label must be 0 or 1 (ValueError otherwise, see
    :mod:`modelhealth.performance.metrics`).
    """
    if step_ms <= 0:
        raise ValueError(f"step_ms must be positive, got {step_ms}")
    if not 0.0 <= min_label_coverage <= 1.0:
        raise ValueError(f"min_label_coverage must be in [0, 1], got {min_label_coverage}")
    whole = isinstance(min_labels, int | np.integer) and not isinstance(min_labels, bool)
    if not whole or min_labels < 1:
        raise ValueError(f"min_labels must be a whole number >= 1, got {min_labels!r}")
    metrics = _metrics(task, threshold)
    now_ms = to_epoch_ms(now)
    delay_ms = int(label_delay.total_seconds() * 1000)
    preds = store.score(scope, step_ms)[["ts", "count"]]
    joined = store.outcomes(scope, step_ms)
    if len(joined):
        joined = latest_labels(joined[joined["ts_label"] <= now_ms])
    rows = []
    groups = dict(tuple(joined.groupby("ts"))) if len(joined) else {}
    for ts, n in zip(preds["ts"].to_numpy(), preds["count"].to_numpy(), strict=True):
        g = groups.get(ts)
        labelled = 0 if g is None else len(g)
        coverage = labelled / n if n else 0.0
        row: dict[str, object] = {
            "ts": int(ts),
            "predictions": int(n),
            "labelled": labelled,
            "coverage": coverage,
        }
        if int(ts) + step_ms + delay_ms > now_ms:
            row["status"] = WAITING
        elif coverage < min_label_coverage or labelled < min_labels or g is None:
            row["status"] = FEW_LABELS
        else:
            row["status"] = SCORED
            y, p = g["label"].to_numpy(np.float64), g["score"].to_numpy(np.float64)
            row.update({name: fn(y, p) for name, fn in metrics.items()})
        rows.append(row)
    columns = ["ts", "predictions", "labelled", "coverage", "status", *metrics]
    return pd.DataFrame(rows, columns=columns)

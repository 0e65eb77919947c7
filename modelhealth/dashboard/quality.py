"""Real-world quality per chart bucket: predictions joined to the labels that came back.

The Model page's "Quality" section and the Configs page's backtest overlay of a
``performance.*`` rule both read this. It is :func:`modelhealth.performance.windows.
performance_table` over frames the page already queried (the score per bucket, which the
score chart needs anyway, and one ``outcomes`` query), judged as the rules engine judges a
window: not before ``label_delay`` has passed since the bucket ended, and only with at least
:data:`~modelhealth.rules.metrics.MIN_LABELS` labels. Streamlit-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from modelhealth.performance.metrics import CLASSIFIER_METRICS, REGRESSOR_METRICS
from modelhealth.performance.windows import FEW_LABELS, SCORED, WAITING, performance_table
from modelhealth.rules.metrics import MIN_LABELS, PERFORMANCE_PREFIX
from modelhealth.store.backend import Scope

CLASSIFICATION, REGRESSION = "classification", "regression"
PLOTTED = {CLASSIFICATION: ("accuracy", "auc"), REGRESSION: ("mae", "rmse")}
"""The metrics the Model page draws for each kind of label (the table has them all)."""

__all__ = ["FEW_LABELS", "SCORED", "WAITING", "Quality", "quality", "task_of"]


def task_of(labels: Iterable[float]) -> str:
    """``classification`` when every finite label is 0 or 1, else ``regression``."""
    y = np.asarray(list(labels) if not isinstance(labels, np.ndarray | pd.Series) else labels)
    y = y.astype(np.float64)
    y = y[np.isfinite(y)]
    return CLASSIFICATION if np.isin(y, (0.0, 1.0)).all() else REGRESSION


@dataclass(frozen=True)
class Quality:
    """Per bucket ``ts predictions labelled coverage status <metric>...`` and its task."""

    table: pd.DataFrame
    task: str
    label_delay: timedelta

    @property
    def has_labels(self) -> bool:
        return bool(len(self.table)) and int(self.table["labelled"].sum()) > 0

    @property
    def plotted(self) -> tuple[str, ...]:
        return PLOTTED[self.task]

    def series(self, metric: str) -> pd.DataFrame:
        """``ts value`` of one ``performance.*`` metric (or its bare name) per bucket."""
        name = metric.removeprefix(PERFORMANCE_PREFIX)
        if name == "labels":
            values = self.table["labelled"].astype(np.float64)
        elif name in self.table:
            values = self.table[name].astype(np.float64)
        else:
            values = pd.Series(np.nan, index=self.table.index)
        return pd.DataFrame({"ts": self.table["ts"], name: values})


class _Frames:
    """The two frames ``performance_table`` reads, already queried (no store access)."""

    def __init__(self, score: pd.DataFrame, outcomes: pd.DataFrame) -> None:
        self._score, self._outcomes = score, outcomes

    def score(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        return self._score

    def outcomes(self, scope: Scope, step_ms: int | None = None) -> pd.DataFrame:
        return self._outcomes


def quality(
    score: pd.DataFrame,
    outcomes: pd.DataFrame,
    scope: Scope,
    step_ms: int,
    now: datetime,
    label_delay: timedelta = timedelta(0),
    task: str | None = None,
) -> Quality:
    """Quality per ``step_ms`` bucket from ``score`` (the store's per-bucket score frame) and
    ``outcomes`` (the store's joined predictions and labels, bucketed by ``step_ms``).

    Labels that arrive after ``now`` are not counted. A bucket is ``waiting`` until
    ``label_delay`` after its end, ``insufficient_labels`` with fewer than ``MIN_LABELS``
    labels (no metric values), else ``scored``. ``task`` defaults to :func:`task_of` of the
    labels that arrived."""
    now_ms = int(now.timestamp() * 1000)
    arrived = outcomes[outcomes["ts_label"] <= now_ms] if len(outcomes) else outcomes
    if task is None:
        task = task_of(arrived["label"]) if len(arrived) else CLASSIFICATION
    preds = score[["ts", "count"]] if len(score) else pd.DataFrame({"ts": [], "count": []})
    table = performance_table(
        _Frames(preds, outcomes),  # type: ignore[arg-type]
        scope,
        step_ms,
        now=now,
        task=task,
        label_delay=label_delay,
        min_label_coverage=0.0,  # judged on a label count, as the rules judge (MIN_LABELS)
    )
    metrics = list(CLASSIFIER_METRICS if task == CLASSIFICATION else REGRESSOR_METRICS)
    few = (table["status"] == SCORED) & (table["labelled"] < MIN_LABELS)
    table.loc[few, "status"] = FEW_LABELS
    table.loc[few, metrics] = np.nan
    table[metrics] = table[metrics].astype(np.float64)
    return Quality(table, task, label_delay)


def label_delay_of(rules: Sequence[object], model: str) -> timedelta:
    """The longest ``label_delay`` of ``model``'s ``performance.*`` rules (0 without any):
    the page then marks as waiting exactly the buckets those rules do not judge yet."""
    delays = [
        getattr(r, "label_delay", timedelta(0))
        for r in rules
        if getattr(r, "model", None) == model
        and str(getattr(r, "metric", "")).startswith(PERFORMANCE_PREFIX)
    ]
    return max(delays, default=timedelta(0))

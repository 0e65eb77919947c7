"""A learned rule's view of its series: the value, the band the model expected, its alerts
and the rule inside the detector that raised each one.

A learned alert says "irregular", not "above 100 ms"; owners trust it once they can see the
band it left and why (``LearnedModel.scan``, the same code the scheduler runs). The series
is fetched as the rules engine fetches it: the rule's metric in buckets of its window, with
the detector's lookback before the plotted range so the first plotted verdict is a real one,
and for ``count``/``qps`` without a bucket that starts before the instance's first data
(``series.history_as_judged``), as the scheduler leaves it out of the history it judges.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from modelhealth.anomaly.export import check_metric, instance_series
from modelhealth.rules.config import RuleSpec
from modelhealth.rules.detectors import lookback_of
from modelhealth.rules.frames import FrameKey, FrameSource
from modelhealth.rules.metrics import frame_kind, metric_frame, select_features
from modelhealth.rules.series import history_as_judged
from modelhealth.store.backend import QueryBackend

BAND_COLUMNS = ["instance", "ts", "value", "expected", "lower", "upper", "alert", "why"]


def learned_rules(rules: Sequence[RuleSpec]) -> list[RuleSpec]:
    """The rules whose detector is the learned one."""
    return [r for r in rules if r.detector_type == "learned"]


def band_frame(rule: RuleSpec, store: QueryBackend, start_ms: int, end_ms: int) -> pd.DataFrame:
    """``BAND_COLUMNS`` for every instance of ``rule`` over ``[start_ms, end_ms)``: one row
    per bucket with data; ``why`` names the alerting rules at alert rows ("" elsewhere).

    Raises ValueError for a metric that is not a plain series (drift, contract checks)."""
    if rule.detector_type != "learned":
        raise ValueError(f"{rule.name}: not a learned rule ({rule.detector_type})")
    check_metric(rule.metric)
    detector = rule.build_detector()
    step = int(rule.window.total_seconds() * 1000)
    history = int(lookback_of(detector, rule.window).total_seconds() * 1000)
    first = ((start_ms - history) // step) * step
    key = FrameKey(
        frame_kind(rule.metric),
        first,
        end_ms,
        step,
        by_version="version" in rule.group_by,
        version=rule.version,
    )
    source = FrameSource(store)
    values = metric_frame(rule.metric, source.get(key, rule.model), step)
    values = history_as_judged(rule.metric, values, key, rule.model, source)
    values = select_features(values, rule.features)
    parts = []
    for labels, series in instance_series(values):
        ts_ms = series.index.to_numpy(dtype=np.int64)
        scan = detector.model.scan(ts_ms // 1000, series.to_numpy(dtype=np.float64))
        shown = np.flatnonzero(ts_ms >= start_ms)
        name = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        parts.append(
            pd.DataFrame(
                {
                    "instance": name,
                    "ts": ts_ms[shown],
                    "value": series.to_numpy()[shown],
                    "expected": scan.expected[shown],
                    "lower": scan.lower[shown],
                    "upper": scan.upper[shown],
                    "alert": scan.alerts[shown],
                    "why": [scan.explain(int(i)) if scan.alerts[i] else "" for i in shown],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=BAND_COLUMNS)
    return pd.concat(parts, ignore_index=True)[BAND_COLUMNS]

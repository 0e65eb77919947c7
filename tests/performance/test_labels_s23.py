"""QA s23 of delayed-label performance: labels that are no classes, tiny windows, and the
late/partial/duplicate/unknown labels that were already right (checked against sklearn)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn import metrics as skm

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion.sdk import Monitor
from modelhealth.performance import performance_table
from modelhealth.performance.metrics import CLASSIFIER_METRICS, log_loss, mae
from modelhealth.performance.windows import FEW_LABELS, MIN_LABELS, SCORED
from modelhealth.rules import metrics as rule_metrics
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 4, 1, tzinfo=UTC)
H = 3_600_000


def _store(labels: np.ndarray, scores: np.ndarray, ts: np.ndarray) -> DuckDBStore:
    """Predictions at ``ts`` with request ids, each labelled one second later."""
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T0 + timedelta(days=1)))
    ids = [f"r{i}" for i in range(len(ts))]
    mon.log_batch(model="m", version="v1", features={"x": np.zeros(len(ts))}, score=scores,
                  latency_ms=np.ones(len(ts)), ts_ms=ts, request_ids=ids)  # fmt: skip
    for rid, t, y in zip(ids, ts, labels, strict=True):
        mon.log_outcome(model="m", request_id=rid, label=float(y), ts=(int(t) + 1000) / 1000)
    mon.close()
    return store


# -- labels that are not 0/1 are refused by the classifier metrics -----------------------------


@pytest.mark.parametrize("name", sorted(CLASSIFIER_METRICS))
def test_multiclass_labels_are_refused_not_scored(name: str) -> None:
    """Labels {0, 1, 2}: 2 counted as the positive class, and log loss came out negative
    (-0.73 here), a value no binary classifier can have."""
    y = np.array([2.0, 2.0, 1.0, 0.0, 0.0])
    p = np.array([0.9, 0.9, 0.8, 0.1, 0.2])
    with pytest.raises(ValueError, match=r"needs binary labels .* 2 of 5 labels .*\(2\)"):
        CLASSIFIER_METRICS[name](y, p)
    assert mae(y, p) == pytest.approx(np.mean(np.abs(y - p)))  # numeric labels: fine


def test_binary_labels_still_match_sklearn() -> None:
    y = np.array([True, False, True, True, False])
    p = np.array([0.9, 0.2, 0.4, 0.7, 0.6])
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-12)
    assert CLASSIFIER_METRICS["auc"](y, p) == pytest.approx(skm.roc_auc_score(y, p))


def test_a_rule_on_regression_labels_is_an_error_naming_the_metrics_that_fit() -> None:
    """Numeric targets around 50 and scores around 50: performance.accuracy read 1.0."""
    rng = np.random.default_rng(1)
    n = 60
    truth = rng.normal(50, 10, n)
    ts = to_epoch_ms(T0 - timedelta(minutes=50)) + np.arange(n) * 30_000
    store = _store(truth, truth + rng.normal(0, 1, n), ts)
    text = """
model: m
rules:
  - {name: acc, metric: performance.accuracy, window: 1h, detector: {type: threshold, below: 0.9}}
  - {name: err, metric: performance.mae, window: 1h, detector: {type: threshold, above: 5}}
"""
    ev = Evaluator(load_rules_text(text, "q.yaml").rules, store, notify=lambda a, now: None)
    report = ev.tick(T0)
    assert "needs binary labels" in report.errors.get("m/acc", ""), report.errors
    assert "performance.mae" in report.errors["m/acc"]
    assert "m/err" not in report.errors and report.instances == 1


# -- tiny windows are not scored ----------------------------------------------------------------


def test_a_window_with_fewer_labels_than_the_rules_need_is_not_scored() -> None:
    """Three predictions, all labelled: status 'scored' with accuracy 0.667, where the
    rules engine and the dashboard leave the window unjudged below 20 labels."""
    ts = to_epoch_ms(T0) + np.array([0, 60_000, 120_000, H, *(H + np.arange(25) * 1000)])
    labels = np.r_[[1.0, 0.0, 1.0], np.arange(26) % 2]
    store = _store(labels, np.full(labels.size, 0.7), ts)
    scope = Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + 2 * H)
    table = performance_table(store, scope, H, now=T0 + timedelta(days=1))
    assert table["labelled"].tolist() == [3, 26]
    assert table["status"].tolist() == [FEW_LABELS, SCORED]
    assert np.isnan(table["accuracy"].iloc[0])
    assert table["accuracy"].iloc[1] == pytest.approx(13 / 26)
    every = performance_table(store, scope, H, now=T0 + timedelta(days=1), min_labels=1)
    assert every["accuracy"].iloc[0] == pytest.approx(2 / 3)
    assert MIN_LABELS == rule_metrics.MIN_LABELS
    with pytest.raises(ValueError, match="min_labels"):
        performance_table(store, scope, H, now=T0, min_labels=0)


# -- already right: partial, late, corrected and unknown labels ---------------------------------


def test_partial_corrected_and_unknown_labels_match_sklearn() -> None:
    """70% of 400 predictions get a wrong label, then the corrected one a second later; ten
    labels name request ids never predicted. Each hour equals sklearn on the latest labels of
    the predictions that have one."""
    rng = np.random.default_rng(5)
    n = 400
    ts = to_epoch_ms(T0) + np.sort(rng.integers(0, 4 * H, n))
    p = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < p).astype(float)
    labelled = rng.random(n) < 0.7
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T0 + timedelta(days=1)))
    ids = [f"r{i}" for i in range(n)]
    mon.log_batch(model="m", version="v1", features={"x": p}, score=p, latency_ms=np.ones(n),
                  ts_ms=ts, request_ids=ids)  # fmt: skip
    for i in np.flatnonzero(labelled):
        at = (int(ts[i]) + H) / 1000
        mon.log_outcome(model="m", request_id=ids[i], label=1.0 - y[i], ts=at)
        mon.log_outcome(model="m", request_id=ids[i], label=y[i], ts=at + 1)
    for k in range(10):
        mon.log_outcome(model="m", request_id=f"ghost{k}", label=1.0, ts=to_epoch_ms(T0) / 1000)
    mon.close()
    scope = Scope("m", to_epoch_ms(T0), to_epoch_ms(T0) + 4 * H)
    table = performance_table(store, scope, H, now=T0 + timedelta(days=1), min_label_coverage=0.5)
    assert (table["status"] == SCORED).all()
    for w, row in table.iterrows():
        inside = (ts >= to_epoch_ms(T0) + w * H) & (ts < to_epoch_ms(T0) + (w + 1) * H)
        sel = inside & labelled
        assert row["labelled"] == sel.sum() and row["predictions"] == inside.sum()
        assert row["accuracy"] == pytest.approx(skm.accuracy_score(y[sel], p[sel] >= 0.5))
        assert row["auc"] == pytest.approx(skm.roc_auc_score(y[sel], p[sel]), rel=1e-12)
        assert row["log_loss"] == pytest.approx(skm.log_loss(y[sel], p[sel]), rel=1e-9)

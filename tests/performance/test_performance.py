"""Per-window quality with late labels, metric cross-checks vs scikit-learn, CBPE estimate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn import metrics as skm

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion.sdk import Monitor
from modelhealth.performance import estimate_performance, performance_table
from modelhealth.performance.estimate import estimate_from_confusion, expected_confusion
from modelhealth.performance.metrics import (
    CLASSIFIER_METRICS,
    REGRESSOR_METRICS,
    accuracy,
    auc,
    expected_calibration_error,
    log_loss,
    mae,
    precision,
    recall,
    rmse,
)
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 4, 1, tzinfo=UTC)
H = 3_600_000


def test_classifier_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 3000)
    y = (rng.uniform(0, 1, 3000) < p).astype(float)
    yhat = p >= 0.5
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, yhat))
    assert precision(y, p) == pytest.approx(skm.precision_score(y, yhat))
    assert recall(y, p) == pytest.approx(skm.recall_score(y, yhat))
    assert auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-9)
    assert mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p))
    assert rmse(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert set(CLASSIFIER_METRICS) == {"accuracy", "precision", "recall", "auc", "log_loss", "ece"}
    assert set(REGRESSOR_METRICS) == {"mae", "rmse"}


def test_hand_computed_ece_auc_ties_and_undefined() -> None:
    # bin [0.2, 0.3): scores .2 .2, labels 1 0 -> |0.5 - 0.2| ; bin [0.9, 1]: 1.0, label 1 -> 0
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([0.2, 0.2, 1.0])
    assert expected_calibration_error(y, p) == pytest.approx((2 / 3) * 0.3)
    assert auc(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == 0.5  # a tie counts one half
    assert np.isnan(auc(np.ones(3), np.array([0.1, 0.2, 0.3])))
    assert np.isnan(precision(np.ones(2), np.zeros(2)))  # nothing predicted positive
    with pytest.raises(ValueError, match="equal 1-D"):
        accuracy(np.ones(2), np.ones(3))


@pytest.fixture()
def world():
    """4 hourly windows of 1000 calibrated predictions; labels come 2 h after prediction,
    except window 2 where only half of them ever arrive."""
    rng = np.random.default_rng(1)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), bucket=timedelta(hours=1), clock=FakeClock(T0))
    start = to_epoch_ms(T0)
    truth = {}
    for w in range(4):
        p = rng.uniform(0, 1, 1000)
        y = (rng.uniform(0, 1, 1000) < p).astype(float)
        ts = start + w * H + np.sort(rng.integers(0, H, 1000))
        ids = [f"w{w}-{i}" for i in range(1000)]
        mon.log_batch(
            model="churn",
            version="v1",
            features={},
            score=p,
            latency_ms=np.ones(1000),
            ts_ms=ts,
            request_ids=ids,
        )
        for i in range(1000):
            if w != 2 or i % 2 == 0:
                mon.log_outcome(model="churn", request_id=ids[i], label=y[i], ts=int(ts[i] + 2 * H))
        truth[w] = (y, p)
    mon.flush()
    return store, truth


def test_windows_are_scored_only_once_labels_are_in(world) -> None:
    store, truth = world
    scope = Scope("churn", to_epoch_ms(T0), to_epoch_ms(T0) + 4 * H)
    now = T0 + timedelta(hours=5)
    t = performance_table(store, scope, H, now=now, label_delay=timedelta(hours=1.5))
    assert t.status.tolist() == ["scored", "scored", "insufficient_labels", "waiting"]
    assert t.coverage.iloc[2] == pytest.approx(0.5)
    y, p = truth[0]
    assert t.auc.iloc[0] == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert t.accuracy.iloc[1] == pytest.approx(skm.accuracy_score(truth[1][0], truth[1][1] >= 0.5))
    assert t.ece.iloc[0] < 0.08  # calibrated by construction
    assert t.loc[t.status != "scored", "auc"].isna().all()
    # a backtest at an earlier "now" sees only labels that had arrived by then
    early = performance_table(store, scope, H, now=T0 + timedelta(hours=2.5))
    assert early.status.iloc[0] == "insufficient_labels"
    assert 0.3 < early.coverage.iloc[0] < 0.7
    with pytest.raises(ValueError, match="task"):
        performance_table(store, scope, H, now=now, task="ranking")


def test_regression_task(world) -> None:
    store, truth = world
    scope = Scope("churn", to_epoch_ms(T0), to_epoch_ms(T0) + H)
    t = performance_table(store, scope, H, now=T0 + timedelta(hours=9), task="regression")
    y, p = truth[0]
    assert t.mae.iloc[0] == pytest.approx(mae(y, p)) and t.rmse.iloc[0] == pytest.approx(rmse(y, p))
    assert "auc" not in t.columns


def test_cbpe_hand_computed_and_close_to_realised(world) -> None:
    cm = expected_confusion(np.array([0.9, 0.6, 0.2]), 0.5)
    assert cm.tolist() == pytest.approx([1.5, 0.5, 0.2, 0.8])
    est = estimate_from_confusion(cm)
    assert est["est_accuracy"] == pytest.approx(2.3 / 3)
    assert est["est_precision"] == pytest.approx(0.75)
    store, truth = world
    scope = Scope("churn", to_epoch_ms(T0), to_epoch_ms(T0) + 4 * H)
    e = estimate_performance(store, scope, H)
    assert e.estimated.all() and len(e) == 4
    for w in range(4):
        y, p = truth[w]
        direct = estimate_from_confusion(expected_confusion(p, 0.5))["est_accuracy"]
        assert e.est_accuracy.iloc[w] == pytest.approx(direct, abs=0.003)  # histogram centres
        assert e.est_accuracy.iloc[w] == pytest.approx(accuracy(y, p), abs=0.05)  # sampling

"""Rules on real-world quality: ``performance.*`` metrics on late-arriving labels.

A fraud model scores a request a minute for six hours; each label arrives two hours after
its prediction. The model is right 95% of the time for four hours, then 50%: an accuracy
rule with ``label_delay: 2h`` must page once the bad hours' labels are in, and not before.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion import Monitor
from modelhealth.rules.backtest import backtest
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.types import AlertState
from tests.conftest import T0

START = T0 - timedelta(hours=8)
DECAY = START + timedelta(hours=4)
LABEL_DELAY = timedelta(hours=2)
RULES = """
model: fraud
rules:
  - name: accuracy-drop
    metric: performance.accuracy
    window: 1h
    label_delay: 2h
    detector: {type: threshold, below: 0.8}
    severity: critical
  - name: labels-stopped
    metric: performance.labels
    window: 1h
    label_delay: 2h
    detector: {type: threshold, below: 30}
"""


@pytest.fixture(scope="module")
def labelled_store():
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T0))
    rng = np.random.default_rng(3)
    n = 6 * 60
    ts = to_epoch_ms(START) + np.arange(n, dtype=np.int64) * 60_000
    truth = rng.random(n) < 0.3
    right = np.where(ts < to_epoch_ms(DECAY), rng.random(n) < 0.95, rng.random(n) < 0.5)
    predicted = np.where(right, truth, ~truth)
    score = np.where(predicted, 0.8, 0.2)
    ids = [f"req-{i}" for i in range(n)]
    mon.log_batch(model="fraud", version="v1", features={"amount": rng.random(n)},
                  score=score, latency_ms=np.ones(n), ts_ms=ts, request_ids=ids)  # fmt: skip
    delay_ms = int(LABEL_DELAY.total_seconds() * 1000)
    for rid, t, y in zip(ids, ts, truth, strict=True):
        mon.log_outcome(model="fraud", request_id=rid, label=float(y), ts=(t + delay_ms) / 1000)
    mon.flush()
    yield store, ts, truth, predicted
    store.close()


def _rules():
    return load_rules_text(RULES, "quality.yaml").rules


def test_accuracy_of_the_window_whose_labels_are_in(labelled_store) -> None:
    store, ts, truth, predicted = labelled_store
    tick = DECAY + timedelta(hours=3)  # judges [DECAY, DECAY + 1h): the bad hour, labels in
    ev = Evaluator(_rules(), store, notify=lambda a, now: None)
    report = ev.tick(tick)
    assert not report.errors and not report.unmatched
    (alert,) = [a for a in ev.state.alerts.values() if a.labels["alertname"] == "accuracy-drop"]
    lo, hi = to_epoch_ms(DECAY), to_epoch_ms(DECAY + timedelta(hours=1))
    inside = (ts >= lo) & (ts < hi)
    assert alert.value == pytest.approx(float(np.mean(truth[inside] == predicted[inside])))
    assert alert.state is AlertState.FIRING and alert.labels["severity"] == "critical"
    # the judged hour, for the notification's link into the dashboard
    assert alert.annotations["judged_from"] == DECAY.isoformat()
    assert alert.annotations["judged_to"] == (DECAY + timedelta(hours=1)).isoformat()
    healthy = Evaluator(_rules(), store, notify=lambda a, now: None)
    healthy.tick(DECAY + timedelta(hours=1))  # judges [DECAY - 2h, DECAY - 1h): 95 % right
    assert not [a for a in healthy.state.alerts.values() if a.state is AlertState.FIRING]


def test_labels_that_arrive_after_the_tick_are_not_seen(labelled_store) -> None:
    """Without the delay the window's labels are not in yet: nothing to judge, and the label
    count rule sees only the labels that had arrived by the tick (as in production)."""
    store, *_ = labelled_store
    text = RULES.replace("label_delay: 2h", "label_delay: 90m").replace("below: 30", "below: 45")
    rules = load_rules_text(text, "quality.yaml").rules
    ev = Evaluator(rules, store, notify=lambda a, now: None)
    ev.tick(DECAY + timedelta(hours=3))  # window [DECAY + 30m, DECAY + 90m): half labelled
    (count,) = [a for a in ev.state.alerts.values() if a.labels["alertname"] == "labels-stopped"]
    assert count.value == 30.0  # predictions of the first 30 minutes; the rest are not in


def test_a_backtest_pages_once_the_bad_hours_labels_arrive(labelled_store) -> None:
    store, *_ = labelled_store
    result = backtest(_rules(), store, START, T0, step=timedelta(minutes=10))
    fired = [f for f in result.firings if f.labels["alertname"] == "accuracy-drop"]
    assert len(fired) == 1
    # between the first bad minute's label and the whole bad hour's
    assert DECAY + LABEL_DELAY < fired[0].fired_at <= DECAY + timedelta(hours=1) + LABEL_DELAY


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("metric: latency.p99\n    label_delay: 2h", "only performance.* metrics wait for labels"),
        ("metric: performance.auc\n    group_by: [version]", "performance metrics"),
        ("metric: performance.auc\n    baseline: {reference: true}", "reference profile has no"),
        ("metric: performance.acuracy", "did you mean 'performance.accuracy'"),
    ],
)
def test_quality_rule_mistakes_are_config_errors(rule: str, message: str) -> None:
    text = f"""
model: fraud
rules:
  - name: q
    {rule}
    window: 1h
    detector: {{type: threshold, below: 0.8}}
"""
    loaded = load_rules_text(text, "q.yaml")
    assert not loaded.rules
    assert any(message in str(i) for i in loaded.issues), [str(i) for i in loaded.issues]


def test_adding_label_delay_to_the_spec_kept_every_other_rules_id() -> None:
    """Alert state is keyed by rule id: a new field must not re-key every existing rule."""
    (rule,) = load_rules_text(
        "model: m\nrules:\n  - {name: a, metric: count, window: 5m, "
        "detector: {type: threshold, below: 1}}\n",
        "ids.yaml",
    ).rules
    assert rule.rule_id == "cbc31e608dce"  # its id before label_delay existed


def _store_with_labels(labelled_ids: int, corrected: int = 0) -> tuple[DuckDBStore, np.ndarray]:
    """60 predictions a minute apart from START; the first ``labelled_ids`` get label 1 a
    minute later, and the first ``corrected`` of those a corrected label 0 five minutes after."""
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T0))
    ts = to_epoch_ms(START) + np.arange(60, dtype=np.int64) * 60_000
    ids = [f"q-{i}" for i in range(60)]
    mon.log_batch(model="fraud", version="v1", features={"amount": np.ones(60)},
                  score=np.full(60, 0.9), latency_ms=np.ones(60), ts_ms=ts,
                  request_ids=ids)  # fmt: skip
    for i in range(labelled_ids):
        mon.log_outcome(model="fraud", request_id=ids[i], label=1.0, ts=(ts[i] + 60_000) / 1000)
    for i in range(corrected):
        mon.log_outcome(model="fraud", request_id=ids[i], label=0.0, ts=(ts[i] + 300_000) / 1000)
    mon.flush()
    return store, ts


def _values_at(store: DuckDBStore, tick, text: str = RULES) -> dict[str, float]:
    ev = Evaluator(load_rules_text(text, "q.yaml").rules, store, notify=lambda a, now: None)
    ev.tick(tick)
    return {a.labels["alertname"]: a.value for a in ev.state.alerts.values()}


def test_a_corrected_label_replaces_the_first_instead_of_counting_twice() -> None:
    """Every label of an id joined every prediction of it: 40 ids with a corrected label read
    as 100 labels for 60 predictions, half of them contradicting each other."""
    store, _ = _store_with_labels(60, corrected=40)
    text = RULES.replace("below: 0.8", "below: 1.01").replace("below: 30", "below: 1000")
    values = _values_at(store, START + timedelta(hours=3), text)
    assert values["labels-stopped"] == 60.0  # one label per prediction
    assert values["accuracy-drop"] == pytest.approx(20 / 60)  # the 40 corrected labels say 0


def test_labels_that_stop_altogether_read_zero_and_page() -> None:
    """The join of predictions to labels is empty then: the rule had no value and never fired."""
    store, _ = _store_with_labels(0)
    values = _values_at(store, START + timedelta(hours=3))
    assert values == {"labels-stopped": 0.0}  # accuracy: nothing to judge; labels: 0


@pytest.mark.parametrize("metric", ["performance.accuracy", "latency.p99"])
def test_a_window_baseline_keeps_the_rules_version(metric: str) -> None:
    """A `version: v2` rule with `baseline: {from:, to:}` was compared with every version."""
    from modelhealth.rules.series import plan_rule

    text = f"""
model: fraud
rules:
  - name: q
    metric: {metric}
    version: v2
    window: 1h
    baseline: {{from: 2026-11-01T00:00:00Z, to: 2026-11-02T00:00:00Z}}
    detector: {{type: change, pct: 10}}
"""
    (rule,) = load_rules_text(text, "q.yaml").rules
    plan = plan_rule(rule, timedelta(0), to_epoch_ms(T0), None)
    assert plan.current.version == plan.baseline.version == "v2"

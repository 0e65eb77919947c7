"""The alert state machine with a fake clock: for:, resolve, restart without re-firing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.demo.fleet import fleet, training_sample
from modelhealth.demo.traffic import emit
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore, load_history, step
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.types import AlertState

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LABELS = {"alertname": "r", "model": "m", "severity": "warning"}


def test_step_pending_then_firing_only_after_hold_for():
    hold = timedelta(minutes=5)
    a = step(None, True, 1.0, T, hold, LABELS, {})
    assert a is not None and a.state == AlertState.PENDING
    a = step(a, True, 1.0, T + timedelta(minutes=4), hold, LABELS, {})
    assert a.state == AlertState.PENDING and a.fired_at is None
    a = step(a, True, 1.0, T + timedelta(minutes=5), hold, LABELS, {})
    assert a.state == AlertState.FIRING and a.fired_at == T + timedelta(minutes=5)
    r = step(a, False, 0.0, T + timedelta(minutes=6), hold, LABELS, {})
    assert r.is_resolved and r.resolved_at == T + timedelta(minutes=6)


def test_pending_that_clears_is_forgotten():
    a = step(None, True, 1.0, T, timedelta(minutes=5), LABELS, {})
    assert step(a, False, 0.0, T + timedelta(minutes=1), timedelta(minutes=5), LABELS, {}) is None


RULE = """
model: fraud
rules:
  - name: slow
    metric: latency.p50
    window: 10m
    detector: {type: threshold, above: 30}
    for: 3m
"""


@pytest.fixture()
def slow_store():
    """fraud traffic whose latency jumps x10 from T on (a real in-memory DuckDB)."""
    import numpy as np

    store = DuckDBStore()
    model = fleet()["fraud"]
    refs = {"fraud": build_reference("fraud", *training_sample(model, n=2000))}
    mon = Monitor(DuckDBSink(store), refs, clock=FakeClock(T))
    rng = np.random.default_rng(0)
    t0 = to_epoch_ms(T)
    emit(mon, model, t0 - 3_600_000, t0, t0, rng, incidents=())
    slow = model.__class__(
        **{**model.__dict__, "latency_ms": lambda r, n: 10 * (8 + r.gamma(4, 2, n))}
    )
    emit(mon, slow, t0, t0 + 3_600_000, t0, rng, incidents=())
    emit(mon, model, t0 + 3_600_000, t0 + 7_200_000, t0, rng, incidents=())
    mon.flush()
    yield store
    store.close()


def test_evaluator_fires_after_for_and_restart_does_not_refire(slow_store, tmp_path):
    rules = load_rules_text(RULE, "r.yaml").rules
    clock = FakeClock(T)
    path = tmp_path / "alerts.json"
    ev = Evaluator(rules, slow_store, state=AlertStateStore(path), clock=clock)
    states = []
    for minute in range(0, 12):
        rep = ev.tick(T + timedelta(minutes=minute))
        states.append([a.state for a in rep.firing])
    # the 10m window's median crosses 30ms after ~5 minutes; firing needs 3 more minutes
    first_firing = next(i for i, s in enumerate(states) if s)
    history = load_history(tmp_path / "history.jsonl")
    pending = [h for h in history if h["state"] == "pending"]
    firing = [h for h in history if h["state"] == "firing"]
    assert len(pending) == 1 and len(firing) == 1
    active = datetime.fromisoformat(pending[0]["active_at"])
    fired = datetime.fromisoformat(firing[0]["fired_at"])
    assert fired - active >= timedelta(minutes=3)
    assert fired == T + timedelta(minutes=first_firing)

    # restart: a new evaluator over the same state file keeps fired_at and records nothing
    ev2 = Evaluator(rules, slow_store, state=AlertStateStore(path), clock=clock)
    rep = ev2.tick(T + timedelta(minutes=13))
    assert [a.fired_at for a in rep.firing] == [fired]
    assert rep.changed == []
    assert len(load_history(tmp_path / "history.jsonl")) == len(history)


def test_resolves_when_condition_clears(slow_store):
    rules = load_rules_text(RULE, "r.yaml").rules
    ev = Evaluator(rules, slow_store, state=AlertStateStore())
    for minute in range(0, 12):
        ev.tick(T + timedelta(minutes=minute))
    assert ev.state.alerts
    # latency is back to normal from T + 1h on: the alert resolves
    back = T + timedelta(hours=1, minutes=30)
    rep = ev.tick(back)
    assert len(rep.resolved) == 1 and rep.resolved[0].resolved_at == back
    assert not ev.state.alerts


def _firing_evaluator(store, path):
    rules = load_rules_text(RULE, "r.yaml").rules
    ev = Evaluator(rules, store, state=AlertStateStore(path))
    for minute in range(0, 12):
        ev.tick(T + timedelta(minutes=minute))
    assert [a.state for a in ev.state.alerts.values()] == [AlertState.FIRING]
    return ev


def test_an_edited_rule_takes_over_its_alert_and_resolves_it(slow_store, tmp_path):
    """Editing a firing rule gives it a new id: its alert must move to the edited rule (and
    resolve when that no longer fires), not be re-reported as firing for ever."""
    path = tmp_path / "alerts.json"
    _firing_evaluator(slow_store, path).state.save()
    edited = load_rules_text(RULE.replace("above: 30", "above: 100000"), "r.yaml").rules
    ev = Evaluator(edited, slow_store, state=AlertStateStore(path))
    rep = ev.tick(T + timedelta(minutes=13))
    assert rep.firing == [] and len(rep.resolved) == 1
    assert rep.resolved[0].labels["alertname"] == "slow"
    assert not ev.state.alerts
    # the resolve is written under the edited rule's id: the dashboard still closes the
    # episode (it grouped rows by rule id, and showed this one firing for ever)
    from modelhealth.dashboard.sources import history_frame, incidents

    rows = load_history(path.with_name("history.jsonl"))
    assert len({r["rule_id"] for r in rows}) == 2
    episodes = incidents(history_frame(rows), T + timedelta(minutes=13))
    assert episodes["state"].tolist() == ["resolved"]


def test_an_edit_that_still_fires_keeps_the_alert_without_re_firing(slow_store, tmp_path):
    path = tmp_path / "alerts.json"
    ev = _firing_evaluator(slow_store, path)
    ev.state.save()
    fired_at = next(iter(ev.state.alerts.values())).fired_at
    edited = load_rules_text(RULE.replace("above: 30", "above: 31"), "r.yaml").rules
    rep = Evaluator(edited, slow_store, state=AlertStateStore(path)).tick(T + timedelta(minutes=13))
    assert [a.fired_at for a in rep.firing] == [fired_at] and rep.changed == []


@pytest.mark.parametrize(
    "edit",
    [
        ("detector:", "severity: critical\n    detector:"),
        ("detector:", "labels: {team: payments}\n    detector:"),
    ],
    ids=["severity", "labels"],
)
def test_an_edit_of_severity_or_labels_continues_the_firing_alert(slow_store, tmp_path, edit):
    """Severity and labels are part of an alert's fingerprint: after such an edit the alert
    resolved while latency was still high, and its successor waited out ``for:`` again. Now
    it goes on firing under the new labels, and the old fingerprint is resolved, saying why
    (left open, a QA pass found the old page never closed and the old critical kept muting
    the model's warnings)."""
    path = tmp_path / "alerts.json"
    ev = _firing_evaluator(slow_store, path)
    ev.state.save()
    before = next(iter(ev.state.alerts.values()))
    fired_at = before.fired_at
    assert before.labels["severity"] == "warning"  # the default
    edited = load_rules_text(RULE.replace(*edit), "r.yaml").rules
    ev = Evaluator(edited, slow_store, state=AlertStateStore(path))
    rep = ev.tick(T + timedelta(minutes=13))
    assert [a.fired_at for a in rep.firing] == [fired_at]  # no new for: wait
    (alert,) = rep.firing
    assert alert.labels["severity"] == ("critical" if "severity" in edit[1] else "warning")
    assert alert.labels.get("team") == ("payments" if "labels" in edit[1] else None)
    (old,) = rep.resolved  # the old fingerprint is closed downstream, not left open
    assert old.labels == before.labels and old.fingerprint != alert.fingerprint
    assert "its rule was edited" in old.annotations["detail"]
    assert old.annotations["summary"].startswith("resolved: its rule was edited")
    assert rep.incidents and {a.fingerprint for a in rep.incidents} >= {old.fingerprint}
    rows = load_history(path.with_name("history.jsonl"))
    assert [r["state"] for r in rows[-2:]] == ["inactive", "firing"]  # old ends, new goes on
    assert [r["fingerprint"] for r in rows[-2:]] == [old.fingerprint, alert.fingerprint]
    # and the dashboard reads exactly two episodes: the old one closed, the new one firing
    from modelhealth.dashboard.sources import history_frame, incidents

    episodes = incidents(history_frame(rows), T + timedelta(minutes=13))
    states = dict(zip(episodes["fingerprint"], episodes["state"], strict=True))
    assert states == {old.fingerprint: "resolved", alert.fingerprint: "firing"}
    again = ev.tick(T + timedelta(minutes=14))
    assert again.resolved == [] and [a.fingerprint for a in again.firing] == [alert.fingerprint]


def test_a_deleted_rule_resolves_its_alert_unless_files_failed_to_load(slow_store, tmp_path):
    path = tmp_path / "alerts.json"
    _firing_evaluator(slow_store, path).state.save()
    other = load_rules_text(RULE.replace("name: slow", "name: other"), "r.yaml").rules
    # a config file was skipped for errors: its rules' alerts are kept, still reported
    kept = Evaluator(other, slow_store, state=AlertStateStore(path), retire_orphans=False)
    rep = kept.tick(T + timedelta(minutes=13))
    assert [a.labels["alertname"] for a in rep.firing] == ["slow"]
    # every file loaded and the rule is gone: the alert resolves once, and stays gone
    ev = Evaluator(other, slow_store, state=AlertStateStore(path))
    rep = ev.tick(T + timedelta(minutes=14))
    assert [a.labels["alertname"] for a in rep.resolved] == ["slow"]
    assert "removed" in rep.resolved[0].annotations["detail"]
    rep = ev.tick(T + timedelta(minutes=15))
    assert not any(a.labels["alertname"] == "slow" for a in rep.firing + rep.resolved)


def test_the_history_log_creates_its_folder(tmp_path):
    store = AlertStateStore(tmp_path / "new" / "alerts.json")
    alert = step(None, True, 1.0, T, timedelta(0), LABELS, {})
    store.record("r", alert, T)  # before any save() made the folder
    assert len(load_history(tmp_path / "new" / "history.jsonl")) == 1

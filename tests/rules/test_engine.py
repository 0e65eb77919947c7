"""Grouping, backtest on the seeded demo history, and the monitoring-blind meta-alert."""

from __future__ import annotations

from datetime import timedelta

from modelhealth.demo.incidents import INCIDENTS
from modelhealth.rules.backtest import backtest
from modelhealth.rules.config import load_rules, load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.grouping import group_alerts
from modelhealth.store.duckdb import DuckDBStore
from modelhealth.types import Alert, AlertState
from tests.conftest import T0


def _alert(feature: str, score: float, model: str = "churn") -> Alert:
    return Alert(
        labels={"alertname": "feature-drift", "model": model, "feature": feature},
        annotations={"score": str(score)},
        state=AlertState.FIRING,
        value=score,
        active_at=T0,
        fired_at=T0,
    )


def test_many_drifting_features_become_one_incident_ranked_by_severity():
    grouped = group_alerts(
        [_alert("a", 0.3), _alert("b", 2.0), _alert("c", 0.9), _alert("x", 1.0, model="fraud")]
    )
    assert len(grouped) == 2
    churn = next(g for g in grouped if g.labels["model"] == "churn")
    assert "feature" not in churn.labels
    assert churn.annotations["features"] == "b=2, c=0.9, a=0.3"
    assert churn.annotations["feature_count"] == "3" and churn.annotations["top_feature"] == "b"


def test_group_resolves_only_when_its_last_feature_resolves():
    still = _alert("a", 1.0)
    gone = Alert(**{**_alert("b", 1.0).__dict__, "resolved_at": T0, "state": AlertState.INACTIVE})
    assert [g.is_resolved for g in group_alerts([still], [gone])] == [False]
    assert [g.is_resolved for g in group_alerts([], [gone])] == [True]


def test_evaluator_notifies_one_incident_per_rule_and_model(seeded_store, fleet_refs):
    rules = load_rules(["examples/rules"]).rules
    sent: list[list[Alert]] = []
    ev = Evaluator(
        rules,
        seeded_store,
        references=fleet_refs,
        notify=lambda alerts, now: sent.append(list(alerts)),
    )
    for minute in range(15, -1, -1):
        report = ev.tick(T0 - timedelta(minutes=minute))
    keys = [(a.labels["alertname"], a.labels["model"], a.labels.get("version")) for a in sent[-1]]
    assert len(keys) == len(set(keys)), keys
    assert all("feature" not in a.labels for a in sent[-1])
    assert report.queries < report.instances, (report.queries, report.instances)


def _matches(labels, inc) -> bool:
    return labels["model"] == inc.model and (
        labels.get("feature") == inc.feature
        or (inc.feature is None and labels.get("version") in (None, inc.version))
        or (inc.version is not None and labels.get("version") == inc.version)
    )


def test_backtest_reports_exactly_the_known_incidents(seeded_store, fleet_refs):
    rules = load_rules(["examples/rules"]).rules
    start = T0 - timedelta(hours=12)
    result = backtest(rules, seeded_store, start, T0, timedelta(minutes=10), references=fleet_refs)
    assert not result.errors, result.errors
    assert result.firings, "nothing fired"
    for f in result.firings:
        causes = [inc for inc in INCIDENTS if _matches(f.labels, inc)]
        assert causes, f"false alarm: {f.describe()}"
        assert any(f.fired_at >= T0 + inc.start for inc in causes), f.describe()
    for inc in INCIDENTS:
        hits = [
            f
            for f in result.firings
            if f.labels["alertname"] == inc.expected_rule and _matches(f.labels, inc)
        ]
        assert hits, f"backtest missed {inc.key}"


BLIND = """
model: fraud
rules:
  - name: slow
    metric: latency.p50
    window: 10m
    detector: {type: threshold, above: 1000}
"""


def test_unreachable_store_raises_monitoring_blind(tmp_path):
    db = tmp_path / "s.duckdb"
    store = DuckDBStore(db)
    store.close()  # every query now fails like a store that went away
    rules = load_rules_text(BLIND, "b.yaml").rules
    ev = Evaluator(rules, store, references={}, blind_after=3, retries=1)
    reports = [ev.tick(T0 + timedelta(minutes=i)) for i in range(4)]
    assert all(r.store_failed for r in reports)
    assert [len(r.firing) for r in reports] == [0, 0, 1, 1]
    blind = reports[2].firing[0]
    assert blind.labels["alertname"] == "MonitoringBlind" and blind.labels["severity"] == "critical"
    assert reports[0].queries == 2  # one try plus one retry

    ev.store = DuckDBStore(db)  # the store is back: the meta-alert resolves
    back = ev.tick(T0 + timedelta(minutes=5))
    assert not back.store_failed
    assert [a.labels["alertname"] for a in back.resolved] == ["MonitoringBlind"]
    # the resolve says it is over, not "cannot query the store (0 ticks in a row)"
    assert (
        back.resolved[0].annotations["summary"] == "rules reach the store again: monitoring is back"
    )


def test_the_first_rule_the_store_fails_stops_the_tick(tmp_path):
    """A broker that accepts connections and never answers cost every rule its retries and
    timeouts: one tick of 17 rules ran for minutes without a line of output."""
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.close()
    many = [
        r
        for i in range(5)
        for r in load_rules_text(BLIND.replace("name: slow", f"name: s{i}"), "b.yaml").rules
    ]
    report = Evaluator(many, store, references={}, retries=1).tick(T0)
    assert report.queries == 2 and report.store_failed and len(report.errors) == 5
    skipped = [e for e in report.errors.values() if "not evaluated: the store failed" in e]
    assert len(skipped) == 4

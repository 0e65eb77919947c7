"""Each injected demo incident is caught by the rule written for it; the quiet model is silent."""

from __future__ import annotations

from datetime import timedelta

from modelhealth.demo.incidents import INCIDENTS
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from tests.conftest import T0


def _run(store, refs, at):
    rules = load_rules(["examples/rules"])
    assert rules.ok, rules.issues
    sent = []
    ev = Evaluator(rules.rules, store, references=refs, notify=lambda a, now: sent.append(a))
    report = None
    for minute in range(15, -1, -1):  # 15 one-minute ticks, so `for:` durations elapse
        report = ev.tick(at - timedelta(minutes=minute))
    assert report is not None and not report.errors, report.errors
    return report, sent


def test_every_incident_fires_its_rule(seeded_store, fleet_refs):
    report, sent = _run(seeded_store, fleet_refs, T0)
    firing = {
        (a.labels["model"], a.labels["alertname"], a.labels.get("feature"), a.labels.get("version"))
        for a in report.firing
    }
    for inc in INCIDENTS:
        hits = [
            f
            for f in firing
            if f[0] == inc.model
            and f[1] == inc.expected_rule
            and (inc.feature is None or f[2] == inc.feature)
            and (inc.version is None or f[3] in (None, inc.version))
        ]
        assert hits, f"incident {inc.key} not detected; firing: {sorted(firing, key=str)}"
    assert sent, "notify was never called"


def test_quiet_model_raises_nothing(seeded_store, fleet_refs):
    report, _ = _run(seeded_store, fleet_refs, T0)
    assert [a for a in report.firing if a.labels["model"] == "search"] == []
    # and the healthy versions of incident models stay quiet on latency
    assert not [
        a
        for a in report.firing
        if a.labels["alertname"] == "p99-latency" and a.labels.get("version") != "v3"
    ]


def test_nothing_fires_before_the_incidents(seeded_store, fleet_refs):
    report, _ = _run(seeded_store, fleet_refs, T0 - timedelta(hours=8))
    assert report.firing == [], [a.labels for a in report.firing]

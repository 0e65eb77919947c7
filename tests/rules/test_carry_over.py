"""Firing alerts of rules not evaluated this tick are re-reported, so they do not time out."""

from __future__ import annotations

from datetime import timedelta

from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from tests.conftest import T0

RULES = """
model: fraud
rules:
  - name: hourly-p99
    metric: latency.p99
    window: 30m
    group_by: [version]
    schedule: "0 * * * *"
    detector: {type: threshold, above: 100}
"""


def test_off_schedule_ticks_keep_reporting_the_firing_alert(seeded_store, fleet_refs) -> None:
    loaded = load_rules_text(RULES, "hourly.yaml")
    assert loaded.ok, loaded.issues
    seen = []
    ev = Evaluator(
        loaded.rules,
        seeded_store,
        references=fleet_refs,
        notify=lambda alerts, now: seen.append((now, list(alerts))),
    )
    first = ev.tick(T0)
    assert [a.labels["version"] for a in first.firing] == ["v3"]
    later = ev.tick(T0 + timedelta(minutes=1))  # not due: the cron slot has not come round
    assert later.skipped == 1 and later.evaluated == 0
    assert [a.labels["version"] for a in later.firing] == ["v3"]
    assert later.resolved == []
    assert len(seen) == 2 and seen[1][1], "the alerting layer heard about it on both ticks"

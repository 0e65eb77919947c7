"""A model that stops serving: ``count`` and ``qps`` read its silent windows as 0."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import to_epoch_ms
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.frames import FrameKey
from modelhealth.rules.silence import with_zeros
from modelhealth.store.duckdb import DuckDBStore
from modelhealth.types import AlertState
from tests.conftest import T0

RULES = """
model: fraud
rules:
  - name: traffic-stopped
    metric: count
    window: 5m
    detector: {type: threshold, below: 1}
  - name: version-stopped
    metric: qps
    window: 5m
    group_by: [version]
    detector: {type: zscore, z: 3, lookback: 4h}
  - name: latency
    metric: latency.p99
    window: 5m
    detector: {type: threshold, above: 1000000}
"""


def _firing(ev: Evaluator) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for a in ev.state.alerts.values():
        if a.state is AlertState.FIRING:
            out.setdefault(a.labels["alertname"], []).append(dict(a.labels))
    return out


def test_a_model_that_stops_serving_fires_its_traffic_rules(seeded_store: DuckDBStore, fleet_refs):
    """The seeded store's traffic ends at T0. Before round 15 every instance of these rules
    vanished with the traffic: nothing fired."""
    rules = load_rules_text(RULES, "silence.yaml").rules
    ev = Evaluator(rules, seeded_store, references=fleet_refs, notify=lambda a, now: None)
    serving = ev.tick(T0)
    assert serving.instances >= 3 and _firing(ev) == {}
    silent = ev.tick(T0 + timedelta(minutes=10))
    firing = _firing(ev)
    assert [a["model"] for a in firing["traffic-stopped"]] == ["fraud"]
    versions = set(seeded_store.versions("fraud"))
    assert {a["version"] for a in firing["version-stopped"]} == versions
    assert "latency" not in firing  # no requests, no p99: that instance is not judged
    assert silent.instances == 1 + len(versions)
    assert ev.state.alerts and all(
        a.value == 0.0 for a in ev.state.alerts.values() if a.labels["alertname"] != "latency"
    )


def _key(start_ms: int, end_ms: int, step_ms: int | None = None) -> FrameKey:
    return FrameKey("latency", start_ms, end_ms, step_ms, by_version=True)


def test_silent_buckets_after_an_instance_first_appears_are_zero():
    hist = pd.DataFrame(
        {"ts": [200, 400, 300, 500], "version": ["a", "a", "b", "b"], "value": [5.0, 7.0, 3, 4]}
    )
    cur = pd.DataFrame({"version": ["a"], "value": [6.0]})
    cur2, hist2 = with_zeros("qps", cur, hist, _key(600, 700), _key(0, 600, 100))
    assert cur2.sort_values("version").to_dict("list") == {"version": ["a", "b"], "value": [6, 0]}
    a = hist2[hist2["version"] == "a"]
    b = hist2[hist2["version"] == "b"]
    assert a["ts"].tolist() == [200, 300, 400, 500] and a["value"].tolist() == [5, 0, 7, 0]
    assert b["ts"].tolist() == [300, 400, 500] and b["value"].tolist() == [3, 0, 4]


def test_a_version_not_in_the_fetched_history_is_forgotten():
    cur = pd.DataFrame(columns=["version", "value"])
    cur2, hist2 = with_zeros("count", cur, None, _key(500, 600), None)
    assert cur2.empty and hist2 is None


def test_a_model_level_rule_always_has_its_one_instance():
    model_level = FrameKey("latency", 500, 600)
    cur2, _ = with_zeros("count", pd.DataFrame(columns=["value"]), None, model_level, None)
    assert cur2["value"].tolist() == [0.0]


@pytest.mark.parametrize("metric", ["latency.p99", "error_rate", "feature.null_rate"])
def test_other_metrics_keep_silent_windows_missing(metric):
    cur = pd.DataFrame(columns=["value"])
    hist = pd.DataFrame({"ts": [0, 200], "value": [1.0, 2.0]})
    cur2, hist2 = with_zeros(metric, cur, hist, _key(300, 400), _key(0, 300, 100))
    assert cur2.empty and hist2 is hist
    assert np.array_equal(hist2["ts"], [0, 200])


def test_an_empty_answer_without_key_columns_still_zeroes_each_version():
    hist = pd.DataFrame({"ts": [0, 100], "version": ["a", "b"], "value": [5.0, 3.0]})
    cur2, _ = with_zeros("count", pd.DataFrame(), hist, _key(200, 300), _key(0, 200, 100))
    assert cur2.sort_values("version").to_dict("list") == {"version": ["a", "b"], "value": [0, 0]}


def test_a_change_rule_says_its_baseline_is_older_than_the_data(seeded_store: DuckDBStore):
    """The seeded day starts at T0 - 1d, so at T0 - 1h yesterday's window holds no request.

    The rule was skipped as "no data in its window", though today's window had thousands;
    then (round 15) it read that window as 0 requests and paged "+inf%", though the model
    was not live yet (round 22b: a 0 only while the model was live, see
    ``test_baseline_before_data_s22b.py``). It is not judged, saying why."""
    text = """
model: fraud
rules:
  - name: traffic-vs-yesterday
    metric: count
    window: 5m
    baseline: {shift: 1d}
    detector: {type: change, pct: 50, direction: up}
"""
    rules = load_rules_text(text, "change.yaml").rules
    ev = Evaluator(rules, seeded_store, notify=lambda a, now: None)
    report = ev.tick(T0 - timedelta(hours=1))
    assert report.instances == 0 and not report.unmatched and not ev.state.alerts
    assert "before the first data of model fraud" in report.not_judged["fraud/traffic-vs-yesterday"]


def test_a_new_data_rule_fires_in_a_backtest_as_it_would_live(seeded_store: DuckDBStore):
    """Each replayed tick must see the data up to it: the store's newest row (at T0) made
    ``trigger: new_data`` skip every tick after the first, so it never fired."""
    from modelhealth.rules.backtest import backtest

    text = """
model: fraud
rules:
  - name: busy
    metric: count
    window: 5m
    detector: {type: threshold, above: 0}
    for: 10m
  - name: busy-on-new-data
    metric: count
    window: 5m
    detector: {type: threshold, above: 0}
    for: 10m
    trigger: new_data
"""
    rules = load_rules_text(text, "new_data.yaml").rules
    start = T0 - timedelta(hours=2)
    result = backtest(rules, seeded_store, start, T0 - timedelta(hours=1))
    fired = {f.labels["alertname"]: f.fired_at for f in result.firings}
    assert fired["busy"] == fired["busy-on-new-data"] == start + timedelta(minutes=10)
    seen = seeded_store.last_seen(to_epoch_ms(start))
    assert int(seen.set_index("model").loc["fraud", "last_ts"]) < to_epoch_ms(start)


def test_histogram_metrics_of_a_feature_without_a_profile_are_not_judged(seeded_store):
    """Without a profile every value of a feature lands in ``__other__``: uniform_share read
    1.0 ("constant") and distinct 1 for a feature of many strings, and a rule paged on it."""
    text = """
model: fraud
rules:
  - name: looks-constant
    metric: feature.uniform_share
    window: 1h
    detector: {type: threshold, above: 0.99}
"""
    rules = load_rules_text(text, "u.yaml").rules
    without = Evaluator(rules, seeded_store, references={}, notify=lambda a, now: None)
    report = without.tick(T0)
    assert report.instances == 0 and report.unmatched == ["fraud/looks-constant"]

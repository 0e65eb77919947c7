"""A learned rule (``detector: {type: learned, model: PATH}``) inside the real scheduler.

The YAML goes through the rules loader, the Evaluator queries the seeded demo store, and the
learned detector judges fraud's p99 latency per version: quiet on the healthy v2 and before
the incident, firing on v3 once its slow tail starts (T0 - 3h, see modelhealth.demo.incidents).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from modelhealth.anomaly.detector import LearnedDetector
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator, TickReport
from tests.conftest import T0

INCIDENT_AT = T0 - timedelta(hours=3)


def _rules(
    tmp_path: Path, model_dir: Path, extra: str = "", window: str = "5m", lookback: str = "4d"
) -> Path:
    path = tmp_path / "fraud-learned.yaml"
    history = f", lookback: {lookback}" if lookback else ""
    path.write_text(
        "model: fraud\n"
        "rules:\n"
        "  - name: p99-learned\n"
        "    metric: latency.p99\n"
        f"    window: {window}\n"
        "    group_by: [version]\n"
        f"    detector: {{type: learned, model: {model_dir}{history}{extra}}}\n"
        "    for: 0m\n"
        "    severity: warning\n"
    )
    return path


def _ticks(store, path: Path, ends: list[datetime]) -> tuple[Evaluator, list[TickReport]]:
    loaded = load_rules([path])
    assert loaded.ok, loaded.issues
    ev = Evaluator(loaded.rules, store)
    return ev, [ev.tick(at) for at in ends]


def _firing_versions(report: TickReport) -> set[str]:
    return {a.labels.get("version", "") for a in report.firing}


def test_learned_rule_is_consulted_and_quiet_before_incident(seeded_store, model_dir, tmp_path):
    ends = [INCIDENT_AT - timedelta(hours=2) + timedelta(minutes=5 * i) for i in range(6)]
    ev, reports = _ticks(seeded_store, _rules(tmp_path, model_dir), ends)
    (det,) = ev._detectors.values()
    assert isinstance(det, LearnedDetector)
    assert det.lookback == timedelta(days=4)  # at least min_lookback_for (3d10h40m here)
    for r in reports:
        assert not r.errors, r.errors
        assert r.instances == 2  # one per version: v2 and v3
        assert r.firing == [], [a.annotations for a in r.firing]


def test_learned_rule_fires_on_fraud_v3_after_incident_only(seeded_store, model_dir, tmp_path):
    ends = [INCIDENT_AT + timedelta(minutes=5 * i) for i in range(1, 7)]
    _, reports = _ticks(seeded_store, _rules(tmp_path, model_dir), ends)
    fired = set().union(*(_firing_versions(r) for r in reports))
    assert fired == {"v3"}, [(r.at, _firing_versions(r)) for r in reports]
    alert = next(a for r in reports for a in r.firing)
    assert alert.value > 100  # ms: the slow tail, far above fraud's usual ~20 ms p99


@pytest.mark.parametrize(("window", "per_day"), [("5m", 288), ("1h", 24)])
def test_a_rule_without_lookback_plans_the_buckets_of_its_window(
    seeded_store, model_dir, tmp_path, window, per_day
):
    """The evaluator fetches ``history_points`` buckets of the rule's own window, and the
    tick still judges both versions with that history."""
    ev, (report,) = _ticks(
        seeded_store, _rules(tmp_path, model_dir, window=window, lookback=""), [INCIDENT_AT]
    )
    (det,) = ev._detectors.values()
    (rid,) = ev._lookback
    bucket = timedelta(hours=1) if window == "1h" else timedelta(minutes=5)
    assert ev._lookback[rid] == bucket * det.history_points(per_day)
    assert not report.errors, report.errors
    assert report.instances == 2


def test_yaml_threshold_override_reaches_the_detector(seeded_store, model_dir, tmp_path):
    path = _rules(tmp_path, model_dir, ", threshold: 1.0, novelty: 12")
    ends = [INCIDENT_AT + timedelta(minutes=5 * i) for i in range(1, 7)]
    ev, reports = _ticks(seeded_store, path, ends)
    (det,) = ev._detectors.values()
    assert det.model.post.threshold == 1.0 and det.model.post.novelty == 12
    # p never reaches 1.0 exactly, so the same incident no longer fires
    assert all(r.firing == [] for r in reports)


def test_unknown_or_bad_params_are_config_errors(model_dir, tmp_path):
    loaded = load_rules([_rules(tmp_path, model_dir, ", treshold: 0.9")])
    assert not loaded.ok
    text = "\n".join(str(i) for i in loaded.issues)
    assert "treshold" in text and "threshold" in text and "fraud-learned.yaml" in text
    loaded = load_rules([_rules(tmp_path, model_dir, ", threshold: 2")])
    assert not loaded.ok
    assert "threshold must be a number in [0, 1]" in "\n".join(str(i) for i in loaded.issues)


@pytest.mark.parametrize("value", ["high", True])
def test_override_type_errors_are_clear(model_dir, value):
    with pytest.raises(ValueError, match="novelty must be an integer"):
        LearnedDetector(model_dir, novelty=value)


def test_the_shipped_training_on_the_simulated_fleet_pages_only_the_demo_latency_incident(
    seeded_store, tmp_path
):
    """End to end with nothing hand-set: ``train`` with its defaults on the simulated fleet
    (``anomaly.fleet``, not the demo's traffic), saved, loaded by four YAML rules (p99
    latency per version of every demo model, default lookback), backtested through the live
    evaluator at every 5 minutes of the demo's last day. The one latency incident that day
    (fraud v3, from T0 - 3h) must fire within 10 minutes of its onset, and nothing else may:
    the other incidents (drift, a stuck feature, nulls) leave latency alone."""
    from modelhealth.anomaly.fleet import generate_fleet
    from modelhealth.anomaly.train import train
    from modelhealth.rules.backtest import backtest

    model_dir = train(generate_fleet(seed=1), seed=0).save(tmp_path / "model")
    for name in ("fraud", "search", "churn", "ranker"):
        (tmp_path / f"{name}.yaml").write_text(
            f"model: {name}\nrules:\n  - name: p99-learned\n    metric: latency.p99\n"
            f"    window: 5m\n    group_by: [version]\n"
            f"    detector: {{type: learned, model: {model_dir}}}\n    severity: warning\n"
        )
    loaded = load_rules([tmp_path])
    assert loaded.ok and len(loaded.rules) == 4, loaded.issues
    result = backtest(loaded.rules, seeded_store, T0 - timedelta(hours=23), T0)
    assert not result.errors, result.errors
    assert result.ticks == 23 * 12 + 1
    fired = [(f.labels["model"], f.labels.get("version"), f.fired_at) for f in result.firings]
    assert [(m, v) for m, v, _ in fired] == [("fraud", "v3")], fired
    assert INCIDENT_AT < fired[0][2] <= INCIDENT_AT + timedelta(minutes=10), fired


def test_a_business_hours_model_gets_the_history_its_verdict_needs(model_dir, tmp_path):
    """No buckets at night or at weekends: the default lookback (buckets x window) holds a
    third of the points the verdict reads. The first tick finds that out and from the next
    tick on the rule fetches the time that holds them (verdicts then equal a whole-series
    scan; see ``LearnedDetector.lookback_needed``)."""
    import numpy as np

    from modelhealth.anomaly.features import infer_period
    from modelhealth.clock import FakeClock, to_epoch_ms
    from modelhealth.ingestion import Monitor
    from modelhealth.rules.frames import FrameSource
    from modelhealth.rules.series import instances, plan_rule
    from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

    end = datetime(2026, 3, 6, 11, 0, tzinfo=T0.tzinfo)  # a Friday, 11:00
    step = 300_000
    t = to_epoch_ms(end) - step * np.arange(80 * 288, 0, -1)
    hour, weekday = (t // 3_600_000) % 24, ((t // 86_400_000) + 3) % 7  # 0 = Monday
    t = t[(hour >= 8) & (hour < 18) & (weekday < 5)]
    rng = np.random.default_rng(0)
    store = DuckDBStore()
    mon = Monitor(DuckDBSink(store), clock=FakeClock(end))
    ts = np.repeat(t, 3) + np.tile([0, 100_000, 200_000], len(t))
    mon.log_batch(
        model="fraud",
        version="v1",
        ts_ms=ts,
        features={},
        score=rng.random(len(ts)),
        latency_ms=rng.gamma(4, 10, len(ts)),
    )
    mon.flush()
    loaded = load_rules([_rules(tmp_path, model_dir, lookback="")])
    (rule,) = loaded.rules
    ev = Evaluator(loaded.rules, store)
    det = ev._detectors[rule.rule_id]
    default = det.lookback_for(rule.window)

    def fetched(lookback: timedelta) -> int:
        plan = plan_rule(rule, lookback, to_epoch_ms(end), None)
        (inst,) = instances(rule, plan, FrameSource(store), None)
        return len(inst.series), det.history_points(infer_period(inst.series.timestamps))

    have, need = fetched(default)
    assert have < need / 2  # the default holds too few points
    ev.tick(end)
    grown = ev._lookback[rule.rule_id]
    assert default * 2 < grown <= default * 4
    have, need = fetched(grown)
    assert have >= need
    ev.tick(end + timedelta(minutes=5))
    assert ev._lookback[rule.rule_id] == grown  # found once: it does not grow tick after tick

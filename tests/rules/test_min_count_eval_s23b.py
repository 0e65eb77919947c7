"""A drift rule judges a window only when it holds ``min_count`` valid values.

The distances do not account for the window's size (tests/drift/test_small_windows_s23.py):
a PSI rule on a 1-hour window paged at night, when the model got 1-50 requests. A window (or
a stored baseline) with fewer values than the rule's ``min_count`` (default 100 for the
distances, none for the chi-square ones) is now not judged, as a window without data: no
alert, and ``rules eval``/``rules run`` say why. ``min_count: 0`` judges any window again.
The backtests replay the same engine, so they agree with the scheduler.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.dashboard.backtest import replay
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.backtest import backtest
from modelhealth.rules.cli import rules_main
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.detectors import lookback_of
from modelhealth.rules.evaluator import Evaluator, TickReport
from modelhealth.rules.frames import FrameSource
from modelhealth.rules.series import instances, plan_rule
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0

HOUR = timedelta(hours=1)


def _reference() -> ModelReference:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"amount": rng.normal(0, 1, 5000)})
    return build_reference("fraud", frame, score=rng.uniform(0, 1, 5000))


def _log(store: DuckDBStore, ref: ModelReference, batches: list[tuple]) -> None:
    """``(version, n, shift, end)``: n values of amount ~ N(shift, 1), and scores shifted
    alike, spread over the hour before ``end``."""
    rng = np.random.default_rng(1)
    mon = Monitor(DuckDBSink(store), {"fraud": ref}, clock=FakeClock(T0))
    for version, n, shift, end in batches:
        start = to_epoch_ms(end - HOUR)
        mon.log_batch(
            model="fraud",
            version=version,
            features={"amount": rng.normal(shift, 1, n)},
            score=np.clip(rng.uniform(0, 1, n) + shift / 10, 0, 1),
            latency_ms=np.ones(n),
            ts_ms=start + np.linspace(0, 3_599_000, n).astype(np.int64),
        )
    mon.close()


def _rule(min_count: str | None = None, metric: str = "feature.drift.psi", extra: str = "") -> str:
    """One rule ``drift`` that fires on drift (a p-value below 0.05, a distance above 0.2)."""
    own = f"    min_count: {min_count}\n" if min_count is not None else ""
    fires = "below: 0.05" if metric.endswith("pvalue") else "above: 0.2"
    return (
        f"  - name: drift\n    metric: {metric}\n    window: 1h\n{own}{extra}"
        f"    detector: {{type: threshold, {fires}}}\n"
    )


def _rules(body: str, reference: Path) -> list:
    loaded = load_rules_text(f"model: fraud\nreference: {reference}\nrules:\n{body}", "f.yaml")
    assert loaded.ok, [str(i) for i in loaded.issues]
    return loaded.rules


@pytest.fixture()
def ref_path(tmp_path: Path) -> Path:
    path = tmp_path / "fraud.json"
    _reference().save(path)
    return path


def _tick(store: DuckDBStore, rules: list, at=T0) -> tuple[TickReport, Evaluator]:
    ev = Evaluator(rules, store, notify=lambda alerts, now: None)
    report = ev.tick(at)
    assert not report.errors, report.errors
    return report, ev


def _firing(report: TickReport) -> dict[str, float]:
    return {a.labels.get("feature", "score"): a.value for a in report.firing}


def test_a_low_traffic_window_is_not_judged_and_says_why(ref_path: Path) -> None:
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 37, 3.0, T0)])  # drifted by 3 sd: PSI far above 0.2
    report, ev = _tick(store, _rules(_rule("100"), ref_path))
    assert report.firing == [] and ev.state.alerts == {}, _firing(report)
    assert report.not_judged == {
        "fraud/drift": "feature=amount: 37 values in the window, fewer than min_count 100"
    }, report.not_judged
    assert report.unmatched == []


def test_the_same_rule_with_enough_values_fires(ref_path: Path) -> None:
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 500, 3.0, T0)])
    report, _ = _tick(store, _rules(_rule("100"), ref_path))
    assert _firing(report).get("amount", 0) > 0.2, report.not_judged
    assert report.not_judged == {}


def test_min_count_0_judges_any_window_as_before(ref_path: Path) -> None:
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 37, 3.0, T0)])
    report, _ = _tick(store, _rules(_rule("0"), ref_path))
    assert _firing(report).get("amount", 0) > 0.2, report.not_judged
    assert report.not_judged == {}


def test_the_default_applies_to_the_distances(ref_path: Path) -> None:
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 37, 0.0, T0)])  # no drift at all: sampling noise only
    psi = _rules(_rule(), ref_path)
    report, _ = _tick(store, psi)
    assert report.firing == [], _firing(report)
    assert report.not_judged == {
        "fraud/drift": "feature=amount: 37 values in the window, fewer than min_count 100 "
        "(the default for feature.drift.psi rules)"
    }, report.not_judged
    for metric in ("feature.drift.js", "feature.drift.linf", "feature.drift.ks",
                   "feature.drift.wasserstein", "feature.drift.hellinger"):  # fmt: skip
        report, _ = _tick(store, _rules(_rule(metric=metric), ref_path))
        assert list(report.not_judged) == ["fraud/drift"], (metric, report.not_judged)


def test_the_default_applies_to_score_drift(ref_path: Path) -> None:
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 37, 3.0, T0)])
    report, _ = _tick(store, _rules(_rule(metric="score.drift.psi"), ref_path))
    assert report.firing == [], _firing(report)
    assert report.not_judged == {
        "fraud/drift": "37 values in the window, fewer than min_count 100 "
        "(the default for score.drift.psi rules)"
    }, report.not_judged


def test_the_chisquare_pvalue_has_no_default_floor(ref_path: Path) -> None:
    """It accounts for the window's size already: 37 drifted values are evidence enough."""
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 37, 3.0, T0)])
    report, _ = _tick(store, _rules(_rule(metric="feature.drift.chisquare_pvalue"), ref_path))
    assert "amount" in _firing(report), report.not_judged
    assert report.not_judged == {}


def test_each_version_is_judged_on_its_own_values(ref_path: Path) -> None:
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 500, 3.0, T0), ("v2", 37, 3.0, T0)])
    rules = _rules(_rule("100", extra="    group_by: [version]\n"), ref_path)
    report, _ = _tick(store, rules)
    assert {a.labels["version"] for a in report.firing} == {"v1"}
    assert report.not_judged == {
        "fraud/drift": "version=v2, feature=amount: 37 values in the window, fewer than "
        "min_count 100"
    }, report.not_judged


def test_a_stored_baseline_with_too_few_values_is_not_judged(ref_path: Path) -> None:
    """A baseline of 12 values is as noisy as a window of 12."""
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 12, 0.0, T0 - timedelta(days=1)), ("v1", 500, 3.0, T0)])
    rules = _rules(_rule("100", extra="    baseline: {shift: 1d}\n"), ref_path)
    report, _ = _tick(store, rules)
    assert report.firing == [], _firing(report)
    assert report.not_judged == {
        "fraud/drift": "feature=amount: 12 values in the baseline (the same window 1d "
        "earlier), fewer than min_count 100"
    }, report.not_judged


def test_a_firing_alert_resolves_as_not_judged_when_traffic_drops(ref_path: Path) -> None:
    """With ``when_not_judged: resolve``, as with a window without data (resolved as not
    judged, as in Prometheus); by default it stays firing
    (tests/rules/test_not_judged_keeps_state_s27i.py)."""
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 500, 3.0, T0), ("v1", 37, 3.0, T0 + HOUR)])
    rule = _rule("100", extra="    when_not_judged: resolve\n")
    ev = Evaluator(_rules(rule, ref_path), store, notify=lambda alerts, now: None)
    assert _firing(ev.tick(T0))
    report = ev.tick(T0 + HOUR)
    assert report.firing == [] and len(report.resolved) == 1
    assert report.resolved[0].annotations["detail"] == (
        "37 values in the window, fewer than min_count 100: resolved as not judged"
    )


def test_rules_eval_notes_why(ref_path: Path, tmp_path: Path, capsys) -> None:
    db = tmp_path / "health.duckdb"
    store = DuckDBStore(db)
    _log(store, _reference(), [("v1", 37, 3.0, T0)])
    store.close()
    cfg = tmp_path / "fraud.yaml"
    cfg.write_text(f"model: fraud\nreference: {ref_path}\nrules:\n{_rule('100')}")
    assert rules_main(["eval", "--db", str(db), "--at", T0.isoformat(), str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert "0 firing" in out, out
    assert (
        "note: fraud/drift: not judged: feature=amount: 37 values in the window, fewer than "
        "min_count 100"
    ) in err, err


@pytest.mark.parametrize(("min_count", "fires_at"), [("100", T0 + HOUR), ("0", T0)])
def test_the_backtests_agree_with_the_scheduler(ref_path: Path, min_count: str, fires_at) -> None:
    """A quiet drifted hour (37 values) then a busy one (500): with min_count 100 the rule
    fires at the busy hour's end only, in the scheduler, `rules backtest` and the dashboard's
    replay alike (all three tick at the hour boundaries here); with 0 at the quiet one's."""
    store = DuckDBStore()
    _log(store, _reference(), [("v1", 37, 3.0, T0), ("v1", 500, 3.0, T0 + HOUR)])
    rules = _rules(_rule(min_count), ref_path)
    ticks = [T0 - HOUR, T0, T0 + HOUR]
    ev = Evaluator(rules, store, notify=lambda alerts, now: None)
    live = [t for t in ticks if ev.tick(t).firing]
    assert live[0] == fires_at, live
    firings = backtest(rules, store, ticks[0], ticks[-1], HOUR).firings
    assert [(f.fired_at, f.resolved_at) for f in firings] == [(fires_at, None)]
    refs = {"fraud": rules[0].reference}
    spans = replay(rules, store, refs, to_epoch_ms(T0 - 2 * HOUR), to_epoch_ms(T0 + HOUR))
    assert list(spans["start"]) == [fires_at], spans


@pytest.mark.parametrize(("min_count", "buckets"), [("100", 3), ("0", 6)])
def test_history_buckets_with_too_few_values_are_left_out(
    ref_path: Path, min_count: str, buckets: int
) -> None:
    """A detector with lookback (zscore on PSI) compares the window with past buckets: a
    quiet bucket's noisy PSI is no point of that history, as a bucket without data."""
    store = DuckDBStore()
    sizes = [37, 500, 37, 500, 37, 500]  # the six hours before the judged one
    _log(store, _reference(), [("v1", n, 0.0, T0 - (6 - i) * HOUR) for i, n in enumerate(sizes)]
         + [("v1", 500, 0.0, T0)])  # fmt: skip
    extra = "    detector: {type: zscore, lookback: 6h, min_points: 2}\n"
    body = _rule(min_count).replace("    detector: {type: threshold, above: 0.2}\n", extra)
    rule = _rules(body, ref_path)[0]
    detector = rule.build_detector()
    plan = plan_rule(rule, lookback_of(detector, rule.window), to_epoch_ms(T0), rule.reference)
    (inst,) = instances(rule, plan, FrameSource(store), rule.reference)
    assert len(inst.series) == buckets + 1, inst.series.timestamps  # + the judged window
    assert inst.not_judged is None

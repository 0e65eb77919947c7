"""LearnedDetector behaves like every other Detector: quiet on normal data, loud on spikes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.anomaly.detector import LearnedDetector
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.postprocess import PostProcess
from modelhealth.errors import EmptyWindow
from modelhealth.types import Detector, DetectorResult, Series

STEP = 300


def _noisy(n: int = 600, seed: int = 1) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 100 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1.0, n)


def _holt_winters_only(tiny: LearnedModel, hw_threshold: float) -> LearnedDetector:
    """The fixture's forecaster and classifier with only the Holt-Winters rule alerting."""
    post = PostProcess(threshold=2.0, novelty=360, hw_threshold=hw_threshold)
    return LearnedDetector.from_model(LearnedModel(tiny.forecaster, tiny.classifier, post))


def test_is_a_detector_named_learned(model_dir: Path):
    det = LearnedDetector(model_dir)
    assert isinstance(det, Detector)
    assert det.name == "learned"


def test_flat_series_does_not_trigger(tiny_model: LearnedModel):
    det = LearnedDetector.from_model(tiny_model)
    flat = Series.from_values(np.full(500, 42.0), step_s=STEP)
    assert det.evaluate(flat).anomalous is False
    assert not det.scan(flat).any()


def test_normal_noise_does_not_trigger_but_spike_does(tiny_model: LearnedModel):
    det = LearnedDetector.from_model(tiny_model)
    values = _noisy()
    normal = det.evaluate(Series.from_values(values, step_s=STEP))
    assert normal.anomalous is False
    assert normal.lower is not None and normal.upper is not None
    assert normal.lower <= values[-1] <= normal.upper
    spiked = values.copy()
    spiked[-1] += 80.0
    res = det.evaluate(Series.from_values(spiked, step_s=STEP))
    assert res.anomalous is True
    assert res.score > 1.0
    assert res.value == pytest.approx(spiked[-1])


def test_results_are_deterministic(model_dir: Path):
    values = _noisy(seed=4)
    values[-1] += 60
    series = Series.from_values(values, step_s=STEP)
    a = LearnedDetector(model_dir).evaluate(series)
    b = LearnedDetector(model_dir).evaluate(series)
    assert a == b
    assert np.array_equal(
        LearnedDetector(model_dir).scores(series), LearnedDetector(model_dir).scores(series)
    )


def test_newest_point_verdict_matches_scan(tiny_model: LearnedModel):
    det = LearnedDetector.from_model(tiny_model)
    values = _noisy(seed=7)
    values[-1] -= 70
    series = Series.from_values(values, step_s=STEP)
    assert det.evaluate(series).anomalous == bool(det.scan(series)[-1]) is True


def test_empty_or_all_nan_raises_empty_window(tiny_model: LearnedModel):
    det = LearnedDetector.from_model(tiny_model)
    with pytest.raises(EmptyWindow):
        det.evaluate(Series.from_values([]))
    with pytest.raises(EmptyWindow):
        det.evaluate(Series.from_values([np.nan, np.nan, np.nan]))
    with pytest.raises(EmptyWindow):
        det.scan(Series.from_values([]))


def test_short_history_is_not_judged(tiny_model: LearnedModel):
    res = LearnedDetector.from_model(tiny_model).evaluate(Series.from_values([1.0, 2.0, 500.0]))
    assert res.anomalous is False
    assert "not enough" in res.detail


def test_baseline_is_used_as_history(tiny_model: LearnedModel):
    det = LearnedDetector.from_model(tiny_model)
    values = _noisy(seed=9)
    values[-1] += 80
    full = Series.from_values(values, step_s=STEP)
    baseline, current = Series(full.timestamps[:-3], full.values[:-3]), full.tail(3)
    assert det.evaluate(current).anomalous is False  # three points: too short alone
    assert det.evaluate(current, baseline) == det.evaluate(full)


def test_result_round_trips_through_json(tiny_model: LearnedModel):
    values = _noisy(seed=2)
    values[-1] += 80
    res = LearnedDetector.from_model(tiny_model).evaluate(Series.from_values(values, step_s=STEP))
    back = DetectorResult(**json.loads(res.to_json()))
    assert back == res


def test_a_new_series_does_not_page_at_the_start_of_its_second_day(tiny_model: LearnedModel):
    """The Holt-Winters rule alone, as tuned on NAB: before round 11 its score over the first
    season's structural zeros hit the clip at point 288 of every new series."""
    det = _holt_winters_only(tiny_model, hw_threshold=8.0)
    values = _noisy(n=288 * 3, seed=5)
    assert not det.scan(Series.from_values(values, step_s=STEP)).any()
    values[288 * 2 + 100] += 40.0  # a real spike on day three still pages
    assert det.scan(Series.from_values(values, step_s=STEP))[288 * 2 + 100]


def test_a_rule_without_lookback_fetches_the_buckets_its_verdict_needs(model_dir: Path):
    """Counted in buckets of the rule's window: hourly buckets need 12x the days of
    5-minute ones (a fixed 19 days gave them a twelfth of the Holt-Winters scale's history)."""
    from modelhealth.rules.detectors import learned, lookback_of

    det = learned(model=str(model_dir))
    five, hour = timedelta(minutes=5), timedelta(hours=1)
    assert lookback_of(det, five) == five * det.history_points(288)
    assert lookback_of(det) == lookback_of(det, five)  # no window known: 5-minute buckets
    assert lookback_of(det, hour) == hour * det.history_points(24)
    assert lookback_of(det, hour) > 10 * lookback_of(det, five)
    fixed = learned(model=str(model_dir), lookback="40d")  # >= min_lookback_for(hour)
    assert lookback_of(fixed, five) == lookback_of(fixed, hour) == timedelta(days=40)
    with pytest.raises(ValueError, match="bucket must be positive"):
        det.lookback_for(timedelta(0))


def test_verdicts_over_the_needed_tail_equal_the_whole_series_scan(tiny_model: LearnedModel):
    """The scheduler judges the newest point of a tail; a backtest scans everything. Noisy
    early days stay in the Holt-Winters scale's two weeks, so a tail of one week (the old
    default lookback) alerts on a middling spike that the whole scan calls noise."""
    det = _holt_winters_only(tiny_model, hw_threshold=6.0)
    values = _noisy(n=288 * 24, seed=11)
    values[: 288 * 12] += np.random.default_rng(1).normal(0, 4.0, 288 * 12)
    big, middling = [288 * 23 + 250], [288 * 21 + 200]
    values[big] += 60.0
    values[middling] += 12.0
    full = Series.from_values(values, step_s=STEP)
    whole = det.scan(full)
    assert whole[big].all() and not whole[middling].any()
    for i in [*big, *middling, *range(288 * 23, 288 * 23 + 10)]:
        upto = Series(full.timestamps[: i + 1], full.values[: i + 1])
        assert det.evaluate(upto).anomalous == bool(whole[i]), f"point {i}"


def test_an_alert_names_the_rule_that_raised_it(tiny_model: LearnedModel):
    """On-call reads the alert's detail: it must name the rule, its score and the threshold
    it beat, and a quiet verdict names none."""
    det = _holt_winters_only(tiny_model, hw_threshold=8.0)
    values = _noisy(n=288 * 3, seed=5)
    spike = 288 * 2 + 100
    values[spike] += 40.0
    series = Series.from_values(values[: spike + 1], step_s=STEP)
    res = det.evaluate(series)
    assert res.anomalous
    scan = det.model.scan(series.timestamps, series.values)
    hw, k = scan.rule_scores["holt_winters"][-1], scan.rule_thresholds["holt_winters"]
    assert hw >= k == 8.0  # no burst scaling in this post-processing
    assert f"holt_winters {hw:.2f} >= 8.00" in res.detail
    assert "classifier" not in res.detail and "discord" not in res.detail
    quiet = det.evaluate(Series.from_values(values[:spike], step_s=STEP))
    assert not quiet.anomalous and ">=" not in quiet.detail


def test_rule_alerts_are_the_rules_alone_and_their_union_is_the_verdict():
    n = 40
    prob, hw, discord = np.zeros(n), np.zeros(n), np.zeros(n)
    prob[5], hw[15], discord[25] = 0.99, 9.0, 9.0
    args = (prob, np.full(n, 5.0), np.ones(n, bool), np.zeros(n))
    post = PostProcess(threshold=0.9, hw_threshold=8.0, discord_threshold=8.0)
    masks = post.rule_alerts(*args, hw=hw, discord=discord)
    assert {r: np.flatnonzero(m).tolist() for r, m in masks.items()} == {
        "classifier": [5],
        "holt_winters": [15],
        "discord": [25],
    }
    both = post.apply(*args, hw=hw, discord=discord)
    assert np.flatnonzero(both).tolist() == [5, 15, 25]
    assert set(PostProcess(threshold=0.9).rule_alerts(*args, hw=hw)) == {"classifier"}

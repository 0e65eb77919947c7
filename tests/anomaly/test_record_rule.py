"""The discord rule's record bar (round 18): a series alerts where its last hour is more unlike
the days before it than anything in the last three days was, even where the burstiness rule
has raised the fixed threshold out of reach."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from modelhealth.anomaly.features import build_features
from modelhealth.anomaly.pipeline import score_frame
from modelhealth.anomaly.postprocess import (
    RECORD_FLOOR,
    RECORD_HISTORY,
    RECORD_MARGIN,
    RECORD_WINDOW,
    PostProcess,
    record_bar,
)

from .test_discord import _daily_shape


def test_the_bar_is_the_margin_over_the_trailing_window_after_a_day_of_scores():
    n = 300 + RECORD_HISTORY + RECORD_WINDOW + 50
    score = np.zeros(n)
    score[300:] = 1.0  # first scored point at 300
    score[400] = 4.0
    bar = record_bar(score, period=288)
    ready = 300 + RECORD_HISTORY
    assert np.isinf(bar[:ready]).all()  # no records over the first day of scores
    assert bar[ready] == pytest.approx(RECORD_MARGIN * 4.0)
    # the 4.0 at point 400 leaves the window RECORD_WINDOW points later
    assert bar[400 + RECORD_WINDOW] == pytest.approx(RECORD_MARGIN * 4.0)
    assert bar[401 + RECORD_WINDOW] == pytest.approx(RECORD_MARGIN * 1.0)


def test_the_window_and_history_are_rescaled_to_the_series_sampling():
    score = np.ones(1000)
    score[0] = 0.0
    hourly = record_bar(score, period=24)
    # a day of hourly points (24), not 288 of them
    first_ready = int(np.flatnonzero(np.isfinite(hourly))[0])
    assert first_ready == 1 + RECORD_HISTORY * 24 // 288


def test_no_scores_means_no_bar():
    assert np.isinf(record_bar(np.zeros(500), period=288)).all()


def test_the_record_lowers_the_discord_threshold_but_never_below_the_floor():
    post = PostProcess(hw_threshold=8.0, discord_threshold=8.0, burst_ref=1.2)
    bursty = np.full(4, 2.0)  # burst factor capped at 4: fixed threshold 32
    record = np.array([np.inf, 20.0, 6.0, 1.0])
    k = post.rule_threshold("discord", bursty, record)
    assert k.tolist() == [32.0, 20.0, 6.0, RECORD_FLOOR]
    # the Holt-Winters rule has no record bar, and without one the discord rule is as before
    assert float(np.max(post.rule_threshold("holt_winters", bursty, record))) == 32.0
    calm = np.zeros(4)
    assert post.rule_threshold("discord", calm, record).tolist() == [8.0, 8.0, 6.0, 5.0]
    assert np.all(post.rule_threshold("discord", calm) == 8.0)
    assert PostProcess(discord_threshold=8.0).rule_threshold("discord", None) == 8.0


def test_a_record_on_a_bursty_series_alerts_where_the_fixed_threshold_cannot():
    n = 2000
    discord = np.full(n, 2.0)
    discord[:400] = 0.0
    discord[1500] = 6.0  # 3x the last three days' highest, far below 8 x burst factor 4
    valid, prob = np.ones(n, bool), np.zeros(n)
    bursty = np.full(n, 2.0)
    args = (prob, np.zeros(n), valid, np.zeros(n))
    post = PostProcess(threshold=2.0, discord_threshold=8.0, burst_ref=1.2)
    record = record_bar(discord, period=288)
    with_record = post.apply(*args, burst=bursty, discord=discord, discord_record=record)
    assert np.flatnonzero(with_record).tolist() == [1500]
    assert not post.apply(*args, burst=bursty, discord=discord).any()
    # a rule override that switches the discord rule off switches its record bar off too
    off = PostProcess(threshold=2.0, discord_threshold=0.0, burst_ref=1.2)
    assert not off.apply(*args, burst=bursty, discord=discord, discord_record=record).any()


def test_count_series_have_no_record_bar(tiny_model):
    x = np.round(_daily_shape(9)).clip(0)  # non-negative integers: a count series
    ts = np.arange(len(x), dtype=np.int64) * 300
    counts = score_frame(tiny_model.forecaster, build_features(ts, x))
    assert np.isinf(counts.discord_record).all()
    real = score_frame(tiny_model.forecaster, build_features(ts, x + 0.5))
    assert np.isfinite(real.discord_record).any()


def test_a_record_alert_says_which_bar_it_beat(tiny_model):
    x = _daily_shape(12)
    ts = np.arange(len(x), dtype=np.int64) * 300
    start = 288 * 11 + 60
    x[start : start + 12] = 100.0  # an hour at the day's mean level: a new shape
    model = replace(tiny_model, post=PostProcess(threshold=2.0, discord_threshold=8.0))
    scan = model.scan(ts, x)
    hits = np.flatnonzero(scan.fired["discord"])
    assert len(hits), "the new shape should beat the record of the last three days"
    i = int(hits[0])
    k = scan.rule_thresholds["discord"]
    assert isinstance(k, np.ndarray) and RECORD_FLOOR <= k[i] <= 8.0
    assert f"discord {scan.rule_scores['discord'][i]:.2f} >= {k[i]:.2f}" in scan.explain(i)


def test_the_record_window_is_part_of_the_history_a_verdict_reads(model_dir):
    from modelhealth.anomaly.detector import LearnedDetector

    on = LearnedDetector(model_dir, discord_threshold=8.0)
    off = LearnedDetector(model_dir, discord_threshold=0.0)
    assert on.history_points(288) - off.history_points(288) == RECORD_WINDOW
    assert on.min_history_points(288) - off.min_history_points(288) == RECORD_WINDOW
    assert on.history_points(24) - off.history_points(24) == RECORD_WINDOW * 24 // 288


def test_newest_point_verdicts_equal_the_whole_scan_with_the_record_rule(tiny_model):
    """The scheduler judges the newest point of a tail of ``history_points``; that tail must
    hold the record window too, or a verdict would compare with a shorter past than the
    backtest's."""
    from modelhealth.anomaly.detector import LearnedDetector
    from modelhealth.anomaly.model import LearnedModel
    from modelhealth.types import Series

    post = PostProcess(threshold=2.0, novelty=360, discord_threshold=8.0)
    model = LearnedModel(tiny_model.forecaster, tiny_model.classifier, post)
    det = LearnedDetector.from_model(model)
    x = _daily_shape(27, seed=5)
    start = 288 * 26 + 60
    x[start : start + 12] = 120.0  # an hour off the day's shape, scoring just below 8
    full = Series.from_values(x, step_s=300)
    scan = model.scan(full.timestamps, full.values)
    caught = [i for i in np.flatnonzero(scan.fired["discord"]) if start <= i < start + 24]
    assert caught, "the record bar should let the new shape through"
    first = caught[0]
    assert scan.rule_scores["discord"][first] < 8.0  # below the fixed threshold: the record
    assert len(full.values) > det.history_points(288)  # the verdicts below read a tail
    for i in [*range(start - 3, start + 24), 288 * 25 + 10]:
        upto = Series(full.timestamps[: i + 1], full.values[: i + 1])
        assert det.evaluate(upto).anomalous == bool(scan.alerts[i]), f"point {i}"

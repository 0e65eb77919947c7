"""A new model or version: its series' second day must not page on noise.

A QA pass found 2-3 Holt-Winters alerts on each clean two-day series (none on the same data
with 20 days of history): the rule's two-week std still held the first season's structural
zeros (``pipeline.YOUNG_DAMPING``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from modelhealth.anomaly.features import build_features
from modelhealth.anomaly.irregularity import CLASSIFIER_FEATURES
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.pipeline import score_frame, young_damped
from modelhealth.anomaly.postprocess import PostProcess

DAY = 288


def _clean(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    ts = 1_699_920_000 + np.arange(days * DAY) * 300
    rng = np.random.default_rng(seed)
    hours = (ts % 86400) / 3600
    return ts, 10 + 2 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.2, ts.size)


def test_the_holt_winters_rule_waits_out_its_first_scored_day() -> None:
    hw = np.full(4 * DAY, 7.0)
    out = young_damped(hw, DAY)
    first = slice(DAY + 24, 2 * DAY + 24)
    assert (out[first] == 0).all() and (out[2 * DAY + 24 :] == 7.0).all()
    assert (out[: DAY + 24] == 7.0).all()  # zero there already (holt_winters_long)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_clean_two_day_series_raises_no_holt_winters_alert(
    tiny_model: LearnedModel, seed: int
) -> None:
    model = dataclasses.replace(tiny_model, post=PostProcess(threshold=2.0, hw_threshold=5.0))
    ts, x = _clean(3, seed)
    sc = score_frame(model.forecaster, build_features(ts, x))
    assert sc.hw[DAY + 24 : 2 * DAY + 24].max() == 0.0
    column = sc.feats[:, CLASSIFIER_FEATURES.index("hw_long")]  # the classifier's is undamped
    assert column[DAY + 24 : 2 * DAY + 24].max() > 0.0
    scan = model.scan(ts[: 2 * DAY], x[: 2 * DAY])
    assert not scan.alerts.any(), [scan.explain(i) for i in np.flatnonzero(scan.alerts)]


def test_a_spike_on_the_third_day_is_still_caught(tiny_model: LearnedModel) -> None:
    model = dataclasses.replace(tiny_model, post=PostProcess(threshold=2.0, hw_threshold=5.0))
    ts, x = _clean(3, 1)
    x[2 * DAY + 100] += 8.0
    scan = model.scan(ts, x)
    assert scan.alerts[2 * DAY + 100]


def _with_novelty(model: LearnedModel) -> LearnedModel:
    post = PostProcess(threshold=2.0, hw_threshold=5.0, novelty=360)
    return dataclasses.replace(model, post=post)


def test_a_spike_the_damping_hid_still_counts_as_seen(tiny_model: LearnedModel) -> None:
    """A CPU series that spikes now and then: the first spike falls in the damped day, the
    next, no bigger, on the day after. The novelty rule compares it with the undamped score
    (``Scored.hw_seen``), so it is not new; compared with the damped zeros it alerted (three
    NAB training files did, each just after its warm-up: round 20)."""
    model = _with_novelty(tiny_model)
    ts, x = _clean(3, 2)
    early, late = DAY + 200, 2 * DAY + 100  # 188 points apart: inside the novelty window
    x[early] += 8.0
    x[late] += 7.5
    sc = score_frame(model.forecaster, build_features(ts, x))
    assert sc.hw[early] == 0.0 < sc.hw_seen[early]  # damped, but seen
    assert sc.hw[late] >= 5.0  # the rule's threshold: only novelty keeps it quiet
    scan = model.scan(ts, x)
    assert not scan.alerts[late], scan.explain(late)


def test_a_bigger_spike_after_a_hidden_one_is_caught(tiny_model: LearnedModel) -> None:
    model = _with_novelty(tiny_model)
    ts, x = _clean(3, 2)
    x[DAY + 200] += 3.0
    x[2 * DAY + 100] += 6.0  # twice the hidden one (which also widened the rule's std)
    scan = model.scan(ts, x)
    assert scan.alerts[2 * DAY + 100], scan.explain(2 * DAY + 100)

"""The long discord rule (round 22): six hours unlike any six hours of the three days before.

A flat series with one short dip a day, each at a different time, then a day with two dips
half an hour apart: every hour of that day looks like an hour seen before (one dip), so the
one-hour discord stays below its threshold; the six hours around the pair hold a shape the
series has not shown, and only the long discord rule alerts there.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from modelhealth.anomaly.detector import LearnedDetector
from modelhealth.anomaly.fleet import generate_fleet
from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.postprocess import RULES, PostProcess
from modelhealth.anomaly.signals import (
    LONG_DISCORD_WINDOW,
    discord_score,
    long_discord_score,
)
from modelhealth.anomaly.tuning import (
    DISCORD_THRESHOLD,
    LONG_DISCORD_THRESHOLD,
    OFF,
    tune_postprocess,
)

PERIOD = 288
PAIR_DAY = 18
GAP = 30


def _daily_dips(days: int = 21, pair: bool = True, seed: int = 0) -> tuple[np.ndarray, int]:
    """A level of 100 with unit noise and a 3-point dip of 40 once a day at a random time;
    on :data:`PAIR_DAY` (if ``pair``) a second dip :data:`GAP` points after the first.
    Returns the series and the index of the pair's second dip (-1 without a pair)."""
    rng = np.random.default_rng(seed)
    x = 100 + rng.normal(0, 1.0, days * PERIOD)
    second = -1
    for d in range(days):
        at = d * PERIOD + 40 + int(rng.integers(0, 200))
        x[at : at + 3] -= 40.0
        if pair and d == PAIR_DAY:
            second = at + GAP
            x[second : second + 3] -= 40.0
    return x, second


def _rules(x: np.ndarray, post: PostProcess) -> dict[str, np.ndarray]:
    n = len(x)
    return post.rule_alerts(
        np.zeros(n),
        np.zeros(n),
        np.ones(n, dtype=bool),
        np.zeros(n),
        discord=discord_score(x, PERIOD),
        long_discord=long_discord_score(x, PERIOD),
    )


def test_a_pair_of_familiar_dips_is_new_only_over_six_hours():
    clean, _ = _daily_dips(pair=False)
    x, second = _daily_dips()
    near = slice(second, second + LONG_DISCORD_WINDOW)
    assert long_discord_score(clean, PERIOD)[PERIOD * 8 :].max() < 4.0
    assert long_discord_score(x, PERIOD)[near].max() >= 4 * LONG_DISCORD_THRESHOLD
    assert discord_score(x, PERIOD)[near].max() < DISCORD_THRESHOLD  # each hour seen before


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_only_the_long_discord_rule_alerts_on_the_pair(seed: int):
    x, second = _daily_dips(seed=seed)
    both = PostProcess(
        threshold=OFF,
        novelty=360,
        discord_threshold=DISCORD_THRESHOLD,
        long_discord_threshold=LONG_DISCORD_THRESHOLD,
    )
    masks = _rules(x, both)
    fired = np.flatnonzero(masks["long_discord"])
    assert len(fired) and all(second <= i < second + 12 for i in fired)
    assert not masks["discord"][second - GAP :].any()
    without = _rules(x, replace(both, long_discord_threshold=0.0))
    assert "long_discord" not in without
    assert not np.logical_or.reduce(list(without.values()))[second - GAP :].any()


def test_the_long_discord_score_is_causal():
    x, second = _daily_dips()
    full = long_discord_score(x, PERIOD)
    cut = second + 5
    assert np.array_equal(long_discord_score(x[:cut], PERIOD), full[:cut])


def test_a_scan_names_the_long_discord_rule(tiny_model: LearnedModel):
    x, second = _daily_dips()
    ts = np.arange(len(x)) * 300
    post = PostProcess(threshold=OFF, novelty=360, long_discord_threshold=LONG_DISCORD_THRESHOLD)
    on = replace(tiny_model, post=post).scan(ts, x)
    hits = np.flatnonzero(on.alerts)
    assert len(hits) and all(second <= i < second + 12 for i in hits)
    assert on.explain(int(hits[0])).startswith("long_discord ")
    assert "long_discord" in RULES
    off = replace(tiny_model, post=replace(post, long_discord_threshold=0.0)).scan(ts, x)
    assert not off.alerts.any()


def test_the_threshold_survives_save_load_and_is_a_rule_override(tiny_model, tmp_path):
    post = replace(tiny_model.post, long_discord_threshold=5.5)
    path = replace(tiny_model, post=post).save(tmp_path / "model")
    assert LearnedModel.load(path).post.long_discord_threshold == 5.5
    det = LearnedDetector(path, long_discord_threshold=0.0)
    assert det.model.post.long_discord_threshold == 0.0


def test_tuning_keeps_the_long_discord_rule_on(tiny_model: LearnedModel):
    fleet = generate_fleet(models=1, points=700, seed=5)
    post, _ = tune_postprocess(tiny_model, fleet)
    assert post.long_discord_threshold == LONG_DISCORD_THRESHOLD

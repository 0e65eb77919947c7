"""Event-level P/R/F1 with hand-computed expectations, and the post-processing helpers."""

from __future__ import annotations

import numpy as np
import pytest

from modelhealth.anomaly.evaluation import EventCounts, event_counts, paired_bootstrap
from modelhealth.anomaly.postprocess import Incident, group_incidents, novel, run_at_least


def _mask(n: int, on: list[int]) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[on] = True
    return m


def test_event_counts_by_hand():
    # windows [10, 19] (caught at 12 and 15) and [40, 49] (missed);
    # outside alerts at 25, 30 (gap 5 <= 12: one event) and 60 (gap 30: second event).
    alerts = _mask(100, [12, 15, 25, 30, 60])
    c = event_counts(alerts, [(10, 19), (40, 49)], merge_gap=12)
    assert (c.tp, c.fn, c.fp) == (1, 1, 2)
    assert c.precision == pytest.approx(1 / 3)
    assert c.recall == pytest.approx(1 / 2)
    assert c.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))  # 0.4


def test_merge_gap_boundary_and_warmup():
    alerts = _mask(100, [2, 50, 62, 75])
    # 62-50 = 12 merges; 75-62 = 13 splits; alert at 2 is in the warm-up and ignored;
    # the window [0, 5] ends inside the warm-up so it is not scored at all.
    c = event_counts(alerts, [(0, 5)], merge_gap=12, warmup=10)
    assert (c.tp, c.fn, c.fp) == (0, 0, 2)
    assert c.f1 == 0.0


def test_counts_sum_over_files():
    total = EventCounts(2, 1, 1) + EventCounts(1, 0, 3)
    assert (total.tp, total.fn, total.fp) == (3, 1, 4)
    assert total.precision == pytest.approx(3 / 7)
    assert total.recall == pytest.approx(3 / 4)
    assert EventCounts().f1 == 0.0


def test_run_at_least_and_novelty():
    m = np.array([1, 1, 0, 1, 1, 1, 0], bool)
    assert run_at_least(m, 2).tolist() == [False, True, False, False, True, True, False]
    assert run_at_least(m, 1).tolist() == m.tolist()
    score = np.array([1.0, 3.0, 2.0, 2.5, 4.0])
    assert novel(score, 2).tolist() == [True, True, False, False, True]


def test_group_incidents_merges_features_of_one_model():
    ts = 60 * np.arange(10)
    masks = {
        "latency": _mask(10, [2, 3]),
        "null_rate": _mask(10, [4]),
        "psi_age": _mask(10, [9]),
    }
    got = group_incidents(masks, ts, gap_s=60)
    assert got == [
        Incident(120, 240, ("latency", "null_rate")),
        Incident(540, 540, ("psi_age",)),
    ]


def test_holt_winters_rule_is_or_ed_under_the_same_novelty():
    from modelhealth.anomaly.postprocess import PostProcess

    prob = np.array([0.0, 0.9, 0.0, 0.0, 0.0])
    hw = np.array([0.0, 0.0, 9.0, 9.0, 12.0])
    valid = np.ones(5, dtype=bool)
    signed = np.zeros(5)
    score = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    off = PostProcess(threshold=0.5, novelty=0)
    assert off.apply(prob, signed, valid, score, hw).tolist() == [0, 1, 0, 0, 0]
    on = PostProcess(threshold=0.5, novelty=0, hw_threshold=8.0)
    assert on.apply(prob, signed, valid, score, hw).tolist() == [0, 1, 1, 1, 1]
    fresh = PostProcess(threshold=0.5, novelty=10, hw_threshold=8.0)
    # 9.0 at index 3 does not beat the 9.0 before it; 12.0 does
    assert fresh.apply(prob, signed, valid, score, hw).tolist() == [0, 1, 1, 0, 1]


def test_paired_bootstrap_of_identical_detectors_is_zero() -> None:
    per = [EventCounts(1, 1, 2), EventCounts(2, 0, 1), EventCounts(0, 1, 0)]
    assert paired_bootstrap([per, per], per, reps=200) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_is_sure_when_ours_wins_on_every_file() -> None:
    ours = [EventCounts(2, 0, 0) for _ in range(10)]
    theirs = [EventCounts(1, 1, 3) for _ in range(10)]
    lo, hi, share = paired_bootstrap([ours], theirs, reps=500)
    assert 0 < lo <= hi and share == 1.0


def test_paired_bootstrap_of_a_one_file_lead_straddles_zero() -> None:
    """Ten files alike and one where ours catches a window theirs misses: ahead on the
    full set, but resamples that leave that file out tie, so the interval reaches 0."""
    same = [EventCounts(1, 1, 1) for _ in range(10)]
    ours = [*same, EventCounts(1, 0, 0)]
    theirs = [*same, EventCounts(0, 1, 0)]
    lo, hi, share = paired_bootstrap([ours], theirs, reps=2000)
    assert lo == 0.0 < hi
    assert 0.5 < share < 1.0

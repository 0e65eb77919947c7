"""How the post-processing search ranks settings from out-of-fold group counts."""

from __future__ import annotations

from modelhealth.anomaly.evaluation import EventCounts
from modelhealth.anomaly.tuning import selection_key


def test_steady_setting_beats_one_lucky_group():
    # Pooled, the lucky setting wins (F1 0.6 vs 0.5): all its hits are in one group.
    lucky = [EventCounts(tp=6, fn=0, fp=2), EventCounts(tp=0, fn=6, fp=0)]
    steady = [EventCounts(tp=3, fn=3, fp=3), EventCounts(tp=3, fn=3, fp=3)]
    assert sum(lucky, EventCounts()).f1 > sum(steady, EventCounts()).f1
    assert selection_key(steady) > selection_key(lucky)


def test_more_false_positives_rank_lower_at_equal_recall():
    quiet = [EventCounts(tp=2, fn=2, fp=1), EventCounts(tp=2, fn=2, fp=1)]
    loud = [EventCounts(tp=2, fn=2, fp=3), EventCounts(tp=2, fn=2, fp=3)]
    assert selection_key(quiet) > selection_key(loud)
    assert selection_key(quiet)[1] == -2.0  # the tie-break entry counts false positives

"""Event-level precision/recall/F1 of an alert mask against labelled anomaly windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WARMUP_FRACTION = 0.15
"""NAB's probationary period: the first 15% of each file is history, never judged."""
MERGE_GAP = 12
"""Alerts outside windows at most this many points apart count as one false-positive event."""


def rule_text(merge_gap: int = MERGE_GAP, warmup: float = WARMUP_FRACTION) -> str:
    """The scoring rule, printed verbatim by the harness."""
    return (
        f"Event rule: the first {warmup:.0%} of every file is warm-up (alerts there are ignored;"
        f" windows ending there are not scored). A window is caught (TP) if >= 1 alert falls"
        f" inside it, else missed (FN). Alert points outside every window are sorted and split"
        f" into FP events wherever two consecutive ones are more than {merge_gap} points apart"
        f" (so alerts <= {merge_gap} points apart are one FP). Counts are summed over files:"
        f" P = TP/(TP+FP), R = TP/(TP+FN), F1 = 2PR/(P+R) (0 when undefined)."
    )


@dataclass
class EventCounts:
    """Summable TP/FN/FP counts of one or many files."""

    tp: int = 0
    fn: int = 0
    fp: int = 0

    def __add__(self, other: EventCounts) -> EventCounts:
        return EventCounts(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def event_counts(
    alerts: np.ndarray,
    windows: list[tuple[int, int]],
    merge_gap: int = MERGE_GAP,
    warmup: int = 0,
) -> EventCounts:
    """Score one file: ``windows`` are inclusive index ranges, ``warmup`` points are skipped.

    >>> event_counts(np.array([0, 1, 0, 0, 1, 1], bool), [(0, 2)]).tp
    1
    """
    mask = np.asarray(alerts, dtype=bool).copy()
    mask[:warmup] = False
    inside = np.zeros(len(mask), dtype=bool)
    counts = EventCounts()
    for a, b in windows:
        inside[a : b + 1] = True
        if b < warmup:
            continue
        if mask[a : b + 1].any():
            counts.tp += 1
        else:
            counts.fn += 1
    outside = np.flatnonzero(mask & ~inside)
    if len(outside):
        counts.fp = 1 + int(np.sum(np.diff(outside) > merge_gap))
    return counts


def warmup_points(n: int, fraction: float = WARMUP_FRACTION) -> int:
    return int(n * fraction)


def _f1(tp: np.ndarray, fn: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Event F1 of summed counts, vectorised (0 where undefined): 2TP / (2TP + FN + FP)."""
    den = 2 * tp + fn + fp
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)


def paired_bootstrap(
    ours: list[list[EventCounts]],
    theirs: list[EventCounts],
    reps: int = 5000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """How sure is "ours beats theirs"? Resample the files with replacement, ``reps`` times.

    ``ours`` holds per-file counts for each training seed (their mean F1 is compared),
    ``theirs`` per-file counts of one baseline on the same files. A difference of a couple
    of events on a few dozen windows is often inside the noise of which files happened to be
    held out; this says how far. Returns the 5th and 95th percentile of F1(ours) - F1(theirs)
    and the share of resamples in which ours is strictly higher.
    """
    n = len(theirs)
    if n == 0 or not ours:
        return 0.0, 0.0, 0.0
    idx = np.random.default_rng(seed).integers(0, n, size=(reps, n))

    def f1_of(per: list[EventCounts]) -> np.ndarray:
        tp, fn, fp = (
            np.array([getattr(c, k) for c in per])[idx].sum(axis=1) for k in ("tp", "fn", "fp")
        )
        return _f1(tp, fn, fp)

    diff = np.mean([f1_of(per) for per in ours], axis=0) - f1_of(theirs)
    lo, hi = np.percentile(diff, [5, 95])
    return float(lo), float(hi), float(np.mean(diff > 0))

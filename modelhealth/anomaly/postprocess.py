"""Filters that turn per-point probabilities into alerts, and grouping across features.

All filters are causal (they look only at the current and earlier points), so the verdict
on the newest point equals what a backtest scan says about that point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modelhealth.anomaly.signals import burst_factor

RULES: tuple[str, ...] = ("classifier", "holt_winters", "discord", "long_discord")
"""The alert rules of :class:`PostProcess`, in the order an alert's explanation names them."""


@dataclass(frozen=True)
class PostProcess:
    """Alert when ``prob >= threshold`` for ``min_duration`` consecutive points and the
    value is at least ``min_magnitude`` band-widths from the forecast median.

    ``novelty`` > 0 also requires the irregularity to beat every irregularity of the
    previous ``novelty`` points: a series that is noisy all day alerts once, when it first
    gets noisy, instead of every few minutes. It is a function of the trailing window
    only (no hidden state), so the newest-point verdict equals the backtest's. It is counted
    in 5-minute points (288 = a day) and rescaled to the series' own sampling when its
    ``period`` (points per day) is known, see :func:`novelty_points`.

    ``hw_threshold`` > 0 also alerts, under the same novelty rule, where the Holt-Winters
    error (``signals.holt_winters_long``) reaches it: decision-level stacking, so the
    training-file search can keep the classic signal wherever it beats the classifier.

    ``discord_threshold`` > 0 also alerts, under the same novelty rule, where the discord
    score (``signals.discord_score``: the last hour unlike any stretch of the last 3 days)
    reaches it.

    ``long_discord_threshold`` > 0 also alerts, under the same novelty rule, where the long
    discord score (``signals.long_discord_score``: the last six hours unlike any six hours of
    the last 3 days) reaches it.

    ``burst_ref`` > 0 raises the three score rules' thresholds on bursty series: they
    are multiplied by ``signals.burst_factor(burst, burst_ref)`` (1 up to ``burst_ref``, at
    most ``signals.BURST_CAP``), where ``burst`` is ``signals.burstiness`` of the raw values.

    ``cooldown`` > 0 merges a burst: after an alert, the next ``cooldown`` points alert only
    if their score beats the last alert's (each rule with its own score). Unlike novelty it
    carries state from alert to alert, so a newest-point verdict can differ from a backtest
    when an alert chain reaches back beyond the scanned tail.
    """

    threshold: float = 0.5
    min_duration: int = 1
    min_magnitude: float = 0.0
    novelty: int = 0
    hw_threshold: float = 0.0
    cooldown: int = 0
    burst_ref: float = 0.0
    discord_threshold: float = 0.0
    long_discord_threshold: float = 0.0

    def apply(
        self,
        prob: np.ndarray,
        signed: np.ndarray,
        valid: np.ndarray,
        score: np.ndarray,
        hw: np.ndarray | None = None,
        burst: np.ndarray | None = None,
        period: int = 0,
        discord: np.ndarray | None = None,
        discord_record: np.ndarray | None = None,
        hw_seen: np.ndarray | None = None,
        long_discord: np.ndarray | None = None,
    ) -> np.ndarray:
        """Alert mask: the union of :meth:`rule_alerts`."""
        masks = self.rule_alerts(
            prob, signed, valid, score, hw, burst, period, discord, discord_record, hw_seen,
            long_discord,
        )  # fmt: skip
        return np.logical_or.reduce(list(masks.values()))

    def rule_alerts(
        self,
        prob: np.ndarray,
        signed: np.ndarray,
        valid: np.ndarray,
        score: np.ndarray,
        hw: np.ndarray | None = None,
        burst: np.ndarray | None = None,
        period: int = 0,
        discord: np.ndarray | None = None,
        discord_record: np.ndarray | None = None,
        hw_seen: np.ndarray | None = None,
        long_discord: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Each alert rule's own mask, keyed by :data:`RULES` (switched-off rules absent), so
        an alert can say which rule raised it: on-call reads "Holt-Winters error 12 against
        8" differently from "the last hour looks like nothing in three days".
        ``discord_record`` is the series' :func:`record_bar` (None: no record rule).
        ``hw_seen`` (default ``hw``) is what the Holt-Winters rule's novelty test compares
        with: ``hw`` before ``pipeline.young_damped``, so a spike the damping kept quiet on a
        young series' first scored day still counts as seen on the next. ``long_discord``
        is ``signals.long_discord_score`` (None: no long discord rule)."""
        hot = (prob >= self.threshold) & valid & (np.abs(signed) >= self.min_magnitude)
        is_fresh = fresh(score, self.novelty, period)
        masks = {"classifier": cool_down(self.apply_novel(hot, is_fresh), score, self.cooldown)}
        seen = {
            "holt_winters": hw if hw_seen is None else hw_seen,
            "discord": discord,
            "long_discord": long_discord,
        }
        for name, extra in (
            ("holt_winters", hw),
            ("discord", discord),
            ("long_discord", long_discord),
        ):
            if extra is not None and self.threshold_of(name) > 0:
                is_novel = fresh(seen[name], self.novelty, period)
                record = discord_record if name == "discord" else None
                hits = self.apply_rule(name, extra, valid, is_novel, burst, record)
                masks[name] = cool_down(hits, extra, self.cooldown)
        return masks

    def threshold_of(self, rule: str) -> float:
        """The threshold set for the score rule ``rule`` ("holt_winters", "discord" or
        "long_discord"); 0 is off."""
        return {
            "holt_winters": self.hw_threshold,
            "discord": self.discord_threshold,
            "long_discord": self.long_discord_threshold,
        }[rule]

    def rule_threshold(
        self, rule: str, burst: np.ndarray | None, record: np.ndarray | None = None
    ) -> np.ndarray | float:
        """The threshold ``rule`` applies at each point: raised on bursty series; for the
        discord rule, lowered to a series' ``record`` (:func:`record_bar`, None: no record
        rule), though not below :data:`RECORD_FLOOR`."""
        k = self.threshold_of(rule)
        if burst is not None and self.burst_ref > 0:
            k = k * burst_factor(burst, self.burst_ref)
        if rule == "discord" and record is not None:
            return np.minimum(k, np.maximum(RECORD_FLOOR, record))
        return k

    def apply_rule(
        self,
        rule: str,
        score: np.ndarray,
        valid: np.ndarray,
        is_novel: np.ndarray,
        burst: np.ndarray | None = None,
        record: np.ndarray | None = None,
    ) -> np.ndarray:
        """One score rule alone (split for tuning): ``score`` at or above its threshold (see
        :meth:`rule_threshold`) at valid, novel points; all False when the rule is off."""
        if self.threshold_of(rule) <= 0:
            return np.zeros(len(score), dtype=bool)
        return (score >= self.rule_threshold(rule, burst, record)) & valid & is_novel

    def apply_novel(self, hot: np.ndarray, is_novel: np.ndarray) -> np.ndarray:
        """The duration rule over ``hot`` points, then the novelty rule (split for tuning)."""
        return run_at_least(hot, self.min_duration) & is_novel

    def to_dict(self) -> dict[str, float]:
        return {
            "threshold": self.threshold,
            "min_duration": self.min_duration,
            "min_magnitude": self.min_magnitude,
            "novelty": self.novelty,
            "hw_threshold": self.hw_threshold,
            "cooldown": self.cooldown,
            "burst_ref": self.burst_ref,
            "discord_threshold": self.discord_threshold,
            "long_discord_threshold": self.long_discord_threshold,
        }


def run_at_least(mask: np.ndarray, k: int) -> np.ndarray:
    """True where ``mask`` has been True for the last ``k`` points (inclusive)."""
    m = np.asarray(mask, dtype=bool)
    if k <= 1:
        return m.copy()
    c = np.concatenate([[0], np.cumsum(m, dtype=np.int64)])
    window = c[1:] - c[np.maximum(np.arange(1, len(m) + 1) - k, 0)]
    return (window >= k) & m


def cool_down(alerts: np.ndarray, score: np.ndarray, points: int) -> np.ndarray:
    """``alerts`` with those dropped that come within ``points`` of the last kept alert
    without beating its score; a kept alert restarts the cooldown.

    >>> cool_down(np.array([1, 1, 0, 1, 1], bool), np.array([5, 4, 0, 6, 1.0]), 3).tolist()
    [True, False, False, True, False]
    """
    mask = np.asarray(alerts, dtype=bool)
    if points <= 0:
        return mask.copy()
    out = np.zeros(len(mask), dtype=bool)
    last, peak = -points - 1, -np.inf
    for t in np.flatnonzero(mask).tolist():
        if t - last > points or score[t] > peak:
            out[t] = True
            last, peak = t, float(score[t])
    return out


REFERENCE_PERIOD = 288
"""Points per day that ``PostProcess.novelty`` is counted in (5-minute points)."""
MIN_NOVELTY = 12


def novelty_points(novelty: int, period: int) -> int:
    """``novelty`` (counted in 5-minute points) in points of a series with ``period`` points
    per day, at least :data:`MIN_NOVELTY`; unchanged without a daily cycle (``period`` 0).

    Round 7: a day of quiet before an alert is the idea, not 288 points. Counted in points,
    an hourly series (period 24) had to out-do twelve days of its history. 3-fold CV on the
    training files (three fold splits x three out-of-fold groupings, NAB; the five training
    files not sampled every 5 minutes are the only ones that change): 0.401, 0.360, 0.502
    -> 0.412, 0.364, 0.518, no split lower; the fleet, all 5-minute, is unchanged.

    >>> novelty_points(288, 24), novelty_points(288, 288), novelty_points(288, 0)
    (24, 288, 288)
    """
    if novelty <= 0 or period <= 0:
        return novelty
    return max(MIN_NOVELTY, round(novelty * period / REFERENCE_PERIOD))


SEASONAL_DAYS = 3
"""Days back that :func:`beats_same_hour` compares with (0 switches it off).

Round 10, 3-fold CV on the training files, three fold splits x seeds 0, 1, 2 (split means),
NAB: 0.438, 0.550, 0.552 -> 0.506, 0.540, 0.546 (mean 0.513 -> 0.531; the worst split of
the nine 0.327 -> 0.453; four of nine splits 0.004-0.036 lower). The fleet, whose incidents
do not recur daily, is unchanged to the last event."""


def _half_hour(period: int) -> int:
    """Points in half an hour of a series with ``period`` points per day (at least 1)."""
    return max(1, round(period / 48))


def same_hour_reach(period: int, days: int | None = None) -> int:
    """How many points before the newest one :func:`beats_same_hour` reads."""
    days = SEASONAL_DAYS if days is None else days
    return days * period + _half_hour(period) if period > 0 and days > 0 else 0


def beats_same_hour(score: np.ndarray, period: int, days: int | None = None) -> np.ndarray:
    """True where ``score`` beats every score within half an hour of the same time of day on
    each of the previous ``days`` days (all True without a daily cycle).

    A nightly job that spikes a CPU series at 03:05, 03:20, 03:10... comes back a little
    more than a day after the last spike, outside the trailing novelty window; it is news
    only on a night it beats every one of the last ``days`` nights at that hour. Causal:
    the window around ``t - d * period`` ends half an hour after it, still before ``t``.
    """
    days = SEASONAL_DAYS if days is None else days
    n = len(score)
    if period <= 0 or days <= 0:
        return np.ones(n, dtype=bool)
    half = _half_hour(period)
    around = pd.Series(score).rolling(2 * half + 1, center=True, min_periods=1).max().to_numpy()
    peak = np.full(n, -np.inf)
    for d in range(1, days + 1):
        lag = d * period
        if lag >= n:
            break
        peak[lag:] = np.maximum(peak[lag:], around[:-lag])
    return score > peak


RECORD_WINDOW = 864
"""Trailing points whose discord scores a record must beat (:func:`record_bar`): three days
of 5-minute points (the discord signal's own reach), rescaled like the novelty window."""
RECORD_MARGIN = 1.1
"""How far a discord score must beat the highest of :data:`RECORD_WINDOW` to be a record."""
RECORD_FLOOR = 5.0
"""The lowest the record rule takes the discord threshold (in the score's two-week stds):
a record below it is a quiet series' ripple, not news."""
RECORD_HISTORY = 288
"""Points after the first scored one before records count (a day of 5-minute points,
rescaled): over a series' first scored hours every stretch sets one."""


def record_bar(score: np.ndarray, period: int) -> np.ndarray:
    """The discord rule's record bar: :data:`RECORD_MARGIN` times the highest ``score`` of
    the previous :data:`RECORD_WINDOW` points; inf until :data:`RECORD_HISTORY` points after
    the first positive score. :meth:`PostProcess.rule_threshold` lowers the discord
    threshold to this bar, but not below :data:`RECORD_FLOOR`. So a series alerts where its
    last hour is more unlike the days before it than anything in the last three days was,
    even where the burstiness rule has raised the fixed threshold out of reach. Causal:
    reads only this and earlier points. Off on count series (``pipeline.score_frame``).

    Round 18: most windows the training folds missed held the highest discord score of
    their file, 4-6 against thresholds of 8, or of 32 on bursty CPU series. A replay of the
    cached fold models of the 3-fold CV on the training files (three fold splits x seeds
    0, 1, 2; mean F1 over the nine lines, true and false events summed over them; before:
    NAB 0.684, 244 TP, 118 FP; fleet 0.898, 285 TP, 17 FP), by window, margin and floor:

    ======  ======  =====  ================  ================
    window  margin  floor  NAB F1  TP   FP   fleet F1 TP   FP
    ======  ======  =====  ================  ================
    2 d     1.1     5      0.716   271  135  0.913    294  17
    3 d     1.1     4      0.731   280  135  0.811    294  98
    3 d     1.1     4.5    0.716   271  135  0.888    294  35
    3 d     1.0     5      0.716   271  135  0.913    294  17
    3 d     1.1     5      0.716   271  135  0.913    294  17
    3 d     1.2     5      0.701   253  118  0.913    294  17
    3 d     1.1     5.5    0.724   271  127  0.898    285  17
    3 d     1.1     6      0.708   262  127  0.898    285  17
    1 w     1.1     5      0.709   262  126  0.898    285  17
    ======  ======  =====  ================  ================

    NAB rose on all nine lines at every setting tried (windows of 2 days to 2 weeks,
    margins 1.0-1.5, floors 3-6); the fleet's simulated model-health series lost up to 9
    false events per line at floors below 5. Three days, 1.1 and 5 raise both: on NAB three
    more true events per line (two bursty CPU series) and two false ones (one on the same
    CPU series, one on an artificial file), on the fleet one more true event per line (a
    PSI series) and no false one. ``benchmarks/detection_cv.py`` then gave NAB 0.729 0.714
    0.714 / 0.714 0.714 0.714 / 0.714 0.714 0.714 (mean 0.716, from 0.700 0.684 0.675 /
    0.684 ...; all nine higher, the grid search seeing the rule). Two days of history
    instead of one lost a true event on every NAB line. On count series the rule added two
    to four false events per line on the tweet volumes, whose records are ordinary bursts
    (as for ``signals.PERSIST``). ``detection_cv.py --simulated``: 0.930 0.904 0.901 / 0.914
    0.917 0.943 / 0.930 0.892 0.889 (mean 0.913, from 0.898; all nine higher). Held-out at
    this change (``benchmarks/detection.py``, run once, three seeds alike): NAB 0.551 (TP 19,
    FN 13, FP 18) against 0.545 (TP 18, FN 14, FP 16); the fleet 0.944/0.972/0.958 against
    0.914/0.943/0.928. The window adds three days to the history a verdict reads
    (``LearnedDetector.history_points``): a scheduler tick went from 53 to 65 ms per series.

    Round 21 rejected the same bar for the Holt-Winters rule (its threshold lowered to the
    margin times its highest score of the last three days, not below a floor; count series
    left out), replayed on the cached fold models of the round-20 CV (NAB 0.733, 271 true
    and 117 false events over the nine lines): margin 1.1 with floors 4, 5, 6, 8 gave 0.642
    (298 true, 279 false), 0.676, 0.716, 0.733; margin 1.3 0.696-0.733; 1.5 0.668-0.676; 2
    0.725; 3 0.733. Only floor 4 caught more windows (three per line), at 18 more false
    events per line: unlike the discord score, a Holt-Winters error this high recurs.
    """
    s = np.asarray(score, dtype=np.float64)
    prev = pd.Series(s).shift(1).rolling(novelty_points(RECORD_WINDOW, period), min_periods=1)
    bar = RECORD_MARGIN * np.nan_to_num(prev.max().to_numpy(), nan=np.inf)
    scored = np.flatnonzero(s > 0)
    start = scored[0] + novelty_points(RECORD_HISTORY, period) if len(scored) else len(s)
    bar[:start] = np.inf
    return bar


def fresh(score: np.ndarray, novelty: int, period: int) -> np.ndarray:
    """The novelty rule of both alert rules: ``score`` beats the trailing
    :func:`novelty_points` window and the same hour of the last days (:func:`beats_same_hour`).
    """
    return novel(score, novelty_points(novelty, period)) & beats_same_hour(score, period)


def novel(score: np.ndarray, window: int) -> np.ndarray:
    """True where ``score`` beats the maximum of the previous ``window`` points."""
    if window <= 0:
        return np.ones(len(score), dtype=bool)
    prev = pd.Series(score).shift(1).rolling(window, min_periods=1).max().to_numpy()
    return score > np.nan_to_num(prev, nan=-1.0)


@dataclass(frozen=True)
class Incident:
    """Alerts of several features of one model that overlap in time, reported once."""

    start: int
    end: int
    features: tuple[str, ...]


def group_incidents(
    masks: Mapping[str, np.ndarray], timestamps: np.ndarray, gap_s: int
) -> list[Incident]:
    """Merge alert runs of every feature of one model that lie within ``gap_s`` seconds.

    ``masks`` maps a feature name to its alert mask over the shared ``timestamps``; a
    drift that hits 30 features becomes one incident naming the 30 features.

    >>> group_incidents({"a": np.array([0, 1, 0], bool)}, np.array([0, 60, 120]), 300)
    [Incident(start=60, end=60, features=('a',))]
    """
    events: list[tuple[int, int, str]] = []
    for name, mask in masks.items():
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            continue
        breaks = np.flatnonzero(np.diff(timestamps[idx]) > gap_s)
        starts = np.r_[idx[0], idx[breaks + 1]]
        ends = np.r_[idx[breaks], idx[-1]]
        events += [
            (int(timestamps[a]), int(timestamps[b]), name)
            for a, b in zip(starts, ends, strict=True)
        ]
    events.sort()
    out: list[Incident] = []
    for start, end, name in events:
        if out and start - out[-1].end <= gap_s:
            last = out[-1]
            feats = last.features if name in last.features else (*last.features, name)
            out[-1] = Incident(last.start, max(last.end, end), tuple(sorted(feats)))
        else:
            out.append(Incident(start, end, (name,)))
    return out

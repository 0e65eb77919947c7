"""Seasonal detector: the newest value against the same time of day/week in past seasons.

With ``season: 1w, periods: 4`` the newest hour is compared with the same hour of the last four
weeks; the band is the median of those points +/- ``k`` robust deviations (MAD, floored at
``min_pct`` percent of the median, so four near-identical weeks do not make a razor-thin band).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import numpy as np

from modelhealth.rules.detectors._common import (
    check_direction,
    integer,
    newest,
    number,
    positive_duration,
    seasons_back,
    signed_excess,
    step_seconds,
)
from modelhealth.types import DetectorResult, Series


class Seasonal:
    """Same-hour-last-weeks comparison.

    >>> s = Series.from_values([10, 50, 10, 50, 10, 50, 90], step_s=3600)
    >>> Seasonal(season="2h", periods=3).evaluate(s).anomalous
    True
    """

    name: ClassVar[str] = "seasonal"
    complete_windows: ClassVar[bool] = True
    """Judge the newest complete window on the clock's grid, the phase its history buckets
    have (``evaluator.judged_end_ms``), not the window ending at the tick."""

    def __init__(
        self,
        season: str | int = "1w",
        periods: int = 4,
        k: float = 3.0,
        min_pct: float = 10.0,
        direction: str = "both",
    ) -> None:
        self.season = positive_duration(season, "season", "1d or 1w")
        self.periods = integer(periods, "periods", 1)
        self.k = number(k, "k", positive=True)
        self.min_pct = number(min_pct, "min_pct")
        self.direction = check_direction(direction)
        self.lookback: timedelta = seasons_back(self.season, self.periods, "periods")

    def past_points(self, current: Series) -> np.ndarray:
        """Values at newest - i * season (i = 1..periods), matched within half a bucket."""
        ok = np.isfinite(current.values)
        ts, vs = current.timestamps[ok], current.values[ok]
        half = step_seconds(current) // 2
        season_s = int(self.season.total_seconds())
        out = []
        for i in range(1, self.periods + 1):
            target = ts[-1] - i * season_s
            j = int(np.argmin(np.abs(ts - target))) if ts.size else -1
            if j >= 0 and abs(int(ts[j]) - target) <= half and j != ts.size - 1:
                out.append(vs[j])
        return np.asarray(out, dtype=np.float64)

    def evaluate(self, current: Series, baseline: Series | None = None) -> DetectorResult:
        value, _ = newest(current, "seasonal")
        past = self.past_points(current)
        if past.size == 0:
            return DetectorResult(
                anomalous=False, value=value, detail="warming up: no point one season back"
            )
        median = float(np.median(past))
        mad = 1.4826 * float(np.median(np.abs(past - median)))
        spread = max(mad, abs(median) * self.min_pct / 100.0, 1e-12)
        dev = (value - median) / spread
        excess = signed_excess(dev, self.direction)
        return DetectorResult(
            anomalous=excess > self.k,
            value=value,
            score=float(excess / self.k),
            expected=median,
            lower=None if self.direction == "up" else median - self.k * spread,
            upper=None if self.direction == "down" else median + self.k * spread,
            detail=f"{value:.4g} vs {median:.4g} in {past.size} past season(s), {dev:+.2f} dev",
        )

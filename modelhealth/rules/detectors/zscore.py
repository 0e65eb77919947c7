"""Mean-variance detector: the z-score of the newest point against a trailing window."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import numpy as np

from modelhealth.rules.detectors._common import (
    check_direction,
    duration,
    integer,
    newest,
    number,
    signed_excess,
)
from modelhealth.types import DetectorResult, Series


class ZScore:
    """Fires when |value - mean| > z * std of the previous points within ``lookback``.

    Until ``min_points`` earlier points exist the detector is warming up and never fires, so a
    new model or a fresh rule does not page on its first window.

    >>> ZScore(z=3, min_points=3).evaluate(Series.from_values([10, 11, 9, 10, 40])).anomalous
    True
    """

    name: ClassVar[str] = "zscore"

    def __init__(
        self,
        z: float = 3.0,
        lookback: str | int = "1d",
        min_points: int = 6,
        direction: str = "both",
        min_std: float = 0.0,
    ) -> None:
        self.z = number(z, "z", positive=True)
        self.lookback: timedelta = duration(lookback, "lookback")
        if self.lookback <= timedelta(0):
            raise ValueError("'lookback' must be positive for zscore, e.g. 1d")
        self.min_points = integer(min_points, "min_points", 2)
        self.direction = check_direction(direction)
        self.min_std = number(min_std, "min_std")

    def evaluate(self, current: Series, baseline: Series | None = None) -> DetectorResult:
        value, before = newest(current, "zscore")
        if before.size < self.min_points:
            return DetectorResult(
                anomalous=False,
                value=value,
                detail=f"warming up: {before.size}/{self.min_points} points of history",
            )
        mean = float(np.mean(before))
        # a floor keeps a perfectly flat history from turning any wobble into z = inf
        std = max(float(np.std(before)), self.min_std, 1e-9 * max(abs(mean), 1.0))
        z = (value - mean) / std
        excess = signed_excess(z, self.direction)
        return DetectorResult(
            anomalous=excess > self.z,
            value=value,
            score=float(excess / self.z),
            expected=mean,
            lower=None if self.direction == "up" else mean - self.z * std,
            upper=None if self.direction == "down" else mean + self.z * std,
            detail=f"z = {z:+.2f} (mean {mean:.4g}, std {std:.4g}, n = {before.size})",
        )

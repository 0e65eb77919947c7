"""Static threshold: the value must stay below ``above`` and above ``below`` (a band if both)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import ClassVar

from modelhealth.rules.detectors._common import newest, number
from modelhealth.types import DetectorResult, Series


class Threshold:
    """Fires when the newest value leaves the allowed band (above, below, or outside both).

    >>> Threshold(above=250).evaluate(Series.from_values([120, 300])).anomalous
    True
    """

    name: ClassVar[str] = "threshold"
    lookback: timedelta = timedelta(0)

    def __init__(self, above: float | None = None, below: float | None = None) -> None:
        if above is None and below is None:
            raise ValueError("threshold needs 'above' and/or 'below'")
        self.above = None if above is None else number(above, "above")
        self.below = None if below is None else number(below, "below")
        if self.above is not None and self.below is not None and self.below > self.above:
            raise ValueError(f"'below' ({below}) must not exceed 'above' ({above})")

    def evaluate(self, current: Series, baseline: Series | None = None) -> DetectorResult:
        value, _ = newest(current, "threshold")
        score = 0.0
        if self.above is not None and value > self.above:
            score = (value - self.above) / max(abs(self.above), 1e-12)
        if self.below is not None and value < self.below:
            score = (self.below - value) / max(abs(self.below), 1e-12)
        expected = self.above if self.above is not None else self.below
        return DetectorResult(
            anomalous=score > 0,
            value=value,
            score=score if math.isfinite(score) else 0.0,
            expected=expected,
            lower=self.below,
            upper=self.above,
            detail=_describe(value, self.above, self.below),
        )


def _describe(value: float, above: float | None, below: float | None) -> str:
    if above is not None and value > above:
        return f"{value:.4g} > {above:.4g}"
    if below is not None and value < below:
        return f"{value:.4g} < {below:.4g}"
    return f"{value:.4g} within bounds"

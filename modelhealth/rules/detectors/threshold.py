"""Static threshold: the value must stay below ``above`` and above ``below`` (a band if both)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from modelhealth.errors import EmptyWindow
from modelhealth.types import DetectorResult, Series


class Threshold:
    """Fires when the newest value leaves the allowed band.

    >>> Threshold(above=250).evaluate(Series.from_values([120, 300])).anomalous
    True
    """

    name: ClassVar[str] = "threshold"

    def __init__(self, above: float | None = None, below: float | None = None) -> None:
        if above is None and below is None:
            raise ValueError("threshold needs 'above' and/or 'below'")
        for key, v in (("above", above), ("below", below)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"'{key}' must be a number, got {v!r}")
        if above is not None and below is not None and below > above:
            raise ValueError(f"'below' ({below}) must not exceed 'above' ({above})")
        self.above = None if above is None else float(above)
        self.below = None if below is None else float(below)

    def evaluate(self, current: Series, baseline: Series | None = None) -> DetectorResult:
        finite = current.values[np.isfinite(current.values)]
        if finite.size == 0:
            raise EmptyWindow("threshold: no finite value in the current window")
        value = float(finite[-1])
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

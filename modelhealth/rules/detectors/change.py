"""Change vs baseline: fires when the value moved by more than ``pct`` percent or ``abs`` units.

The baseline is the rule's ``baseline:`` window (same window last week, a fixed range, another
version) when given, else the mean of the earlier points of the series (``lookback``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import numpy as np

from modelhealth.errors import EmptyWindow
from modelhealth.rules.detectors._common import (
    check_direction,
    duration,
    newest,
    number,
    signed_excess,
)
from modelhealth.types import DetectorResult, Series


class Change:
    """Percent or absolute change of the newest value against a baseline value.

    >>> Change(pct=20).evaluate(Series.from_values([130]), Series.from_values([100])).anomalous
    True
    """

    name: ClassVar[str] = "change"

    def __init__(
        self,
        pct: float | None = None,
        abs: float | None = None,  # the YAML key owners write
        direction: str = "both",
        lookback: str | int = 0,
    ) -> None:
        if (pct is None) == (abs is None):
            raise ValueError("change needs exactly one of 'pct' (percent) or 'abs' (units)")
        self.pct = None if pct is None else number(pct, "pct", positive=True)
        self.abs = None if abs is None else number(abs, "abs", positive=True)
        self.direction = check_direction(direction)
        self.lookback: timedelta = duration(lookback, "lookback")

    def evaluate(self, current: Series, baseline: Series | None = None) -> DetectorResult:
        value, before = newest(current, "change")
        ref_values = before
        if baseline is not None:
            ref_values = baseline.values[np.isfinite(baseline.values)]
        if ref_values.size == 0:
            if baseline is not None:  # the rule's baseline: window holds no data
                raise EmptyWindow("change: no data in the baseline window")
            raise EmptyWindow("change: no baseline value (set 'baseline:' or 'lookback')")
        expected = float(np.mean(ref_values))
        delta = value - expected
        if self.pct is not None:
            allowed = abs(expected) * self.pct / 100.0
            moved = signed_excess(delta, self.direction)
            anomalous = moved > allowed
            score = moved / max(allowed, 1e-12)
            if expected:
                pct = 100.0 * delta / abs(expected)
            else:  # 0 vs baseline 0 is no change (it read "+inf%"); 5 vs 0 is +inf%
                pct = float(np.sign(delta)) * float("inf") if delta else 0.0
            detail = f"{value:.4g} vs baseline {expected:.4g} ({pct:+.1f}%, limit {self.pct:g}%)"
        else:
            allowed = float(self.abs)  # type: ignore[arg-type]
            moved = signed_excess(delta, self.direction)
            anomalous = moved > allowed
            score = moved / allowed
            detail = f"{value:.4g} vs baseline {expected:.4g} ({delta:+.4g}, limit {allowed:g})"
        lower = None if self.direction == "up" else expected - allowed
        upper = None if self.direction == "down" else expected + allowed
        return DetectorResult(
            anomalous=bool(anomalous),
            value=value,
            score=float(min(score, 1e6)) if anomalous else 0.0,
            expected=expected,
            lower=lower,
            upper=upper,
            detail=detail,
        )

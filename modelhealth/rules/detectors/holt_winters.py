"""Holt-Winters detector: an additive exponential-smoothing forecast of the newest point.

The model (statsmodels ``ExponentialSmoothing``, additive trend and season) is fitted on the
history before the newest point; the band is the forecast +/- ``k`` standard deviations of
the in-sample residuals. Fitting is per series, so use it for model-level metrics (latency,
QPS), not for 500 features at once.

The initial level, trend and seasonal states come from statsmodels' heuristic (a seasonal
decomposition of the first cycles) and only the three smoothing weights are optimised.
Optimising every seasonal state as well (statsmodels' default, "estimated") searched 290
parameters per tick: 340 ms per 5-minute series with three days of history against 116 ms,
and on 120 ticks of 40 simulated fleet series the two agreed on 119 verdicts at k = 4.

A season counts the points it really holds (``modelhealth.cycles.points_per_cycle``): for a
model nobody calls from 01:00 to 06:00 that is 228 five-minute buckets a day, not 288, and
counting 288 compared each hour with the wrong one of the day before (on six anomaly-free
such series, 19 alerts in 456 verdicts against 3 in 576 without the gap; 4 in 456 now).
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import ClassVar

import numpy as np

from modelhealth.cycles import points_per_cycle
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


class HoltWinters:
    """Forecast-band detector for seasonal series.

    >>> HoltWinters(season="1d", cycles=2)  # doctest: +ELLIPSIS
    <...HoltWinters object at ...>
    """

    name: ClassVar[str] = "holt_winters"
    complete_windows: ClassVar[bool] = True
    """Judge the newest complete window on the clock's grid, the phase its history buckets
    have (``evaluator.judged_end_ms``), not the window ending at the tick."""

    def __init__(
        self,
        season: str | int = "1d",
        cycles: int = 3,
        k: float = 4.0,
        direction: str = "both",
    ) -> None:
        self.season = positive_duration(season, "season", "1d")
        self.cycles = integer(cycles, "cycles", 2)
        self.k = number(k, "k", positive=True)
        self.direction = check_direction(direction)
        self.lookback: timedelta = seasons_back(self.season, self.cycles, "cycles")

    def evaluate(self, current: Series, baseline: Series | None = None) -> DetectorResult:
        value, before = newest(current, "holt_winters")
        season_s = self.season.total_seconds()
        period = points_per_cycle(current.timestamps, season_s, step_seconds(current))
        if before.size < 2 * period or period < 2:
            return DetectorResult(
                anomalous=False,
                value=value,
                detail=f"warming up: {before.size} points, need {2 * period} (two seasons)",
            )
        forecast, resid_std = _fit_forecast(before, period)
        spread = max(resid_std, 1e-9 * max(abs(forecast), 1.0))
        dev = (value - forecast) / spread
        excess = signed_excess(dev, self.direction)
        return DetectorResult(
            anomalous=excess > self.k,
            value=value,
            score=float(excess / self.k),
            expected=forecast,
            lower=None if self.direction == "up" else forecast - self.k * spread,
            upper=None if self.direction == "down" else forecast + self.k * spread,
            detail=f"{value:.4g} vs forecast {forecast:.4g} ({dev:+.2f} residual std)",
        )


def start_up_method(points: int, period: int) -> str:
    """statsmodels' ``initialization_method`` for ``points`` of history: "heuristic" needs
    two seasons and ten points more (it loses half a season at each end), else "estimated".

    >>> start_up_method(72, 24), start_up_method(48, 24)
    ('heuristic', 'estimated')
    """
    return "heuristic" if points >= 2 * period + 10 else "estimated"


def _fit_forecast(history: np.ndarray, period: int) -> tuple[float, float]:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short series is expected
        fit = ExponentialSmoothing(
            history,
            trend="add",
            seasonal="add",
            seasonal_periods=period,
            initialization_method=start_up_method(history.size, period),
        ).fit(optimized=True)
        forecast = float(np.asarray(fit.forecast(1))[0])
    resid = history - np.asarray(fit.fittedvalues)
    return forecast, float(np.std(resid[period:])) if resid.size > period else float(np.std(resid))

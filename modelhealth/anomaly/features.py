"""Scale-free lag, rolling and seasonal features of one health series.

One forecaster is trained across every series (latency in ms, null rates in [0, 1], PSI...),
so each point is expressed in units of its own recent past: ``z = (x - centre) / scale``
where centre and scale are a trailing median and spread that exclude the point itself.
The forecaster then predicts ``z`` from earlier points only, and a brand-new series is
covered as soon as it has a few dozen points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from modelhealth.anomaly.rolling import moving_median
from modelhealth.cycles import points_per_cycle

DAY_S = 86_400
MIN_HISTORY = 12
"""Points a series needs before any of its points is judged."""
CLIP = 50.0

FORECAST_FEATURES: tuple[str, ...] = (
    "lag1",
    "lag2",
    "lag3",
    "lag4",
    "lag6",
    "lag12",
    "season1",
    "season1_pm1",
    "season2",
    "season_delta",
    "mean6",
    "mean24",
    "std6",
    "std24",
    "log_cv",
    "repeat_frac",
    "hour_sin",
    "hour_cos",
    "dow_sin",
    "dow_cos",
)


@dataclass(frozen=True)
class FeatureFrame:
    """Forecast inputs of every point of a series, plus the scaling that maps back to units."""

    X: np.ndarray
    """(n, len(FORECAST_FEATURES)) float32; NaN where history is missing."""
    z: np.ndarray
    """Each observation in trailing-scale units (NaN where the value is missing)."""
    center: np.ndarray
    scale: np.ndarray
    valid: np.ndarray
    """Points with a finite value and at least MIN_HISTORY earlier points."""
    raw: np.ndarray
    """The original values, kept for the classifier's flatline and step features."""
    period: int = 0
    """Points per day (:func:`infer_period`), 0 when there is no daily cycle."""


def infer_period(timestamps: np.ndarray) -> int:
    """Points per day, or 0 when a daily cycle makes no sense.

    From the median step, or fewer when the same hours are missing every day
    (:func:`modelhealth.cycles.points_per_cycle`): the seasonal lags must count the points a
    day really has, or "the same time yesterday" drifts by the missing hours.
    """
    if len(timestamps) < 2:
        return 0
    step = float(np.median(np.diff(timestamps)))
    if not period_of_step(step):
        return 0
    return points_per_cycle(timestamps, DAY_S, step)


def period_of_step(step_s: float) -> int:
    """Points per day of a series sampled every ``step_s`` seconds, 0 when a daily cycle
    makes no sense (fewer than 4 or more than 2016 points a day)."""
    if step_s <= 0:
        return 0
    period = round(DAY_S / step_s)
    return period if 4 <= period <= 2016 else 0


def context_window(period: int) -> int:
    """Length of the trailing window for centre/scale: about a day, clamped to 48..288."""
    return int(min(max(period, 48), 288)) if period else 96


def history_needed(period: int) -> int:
    """How many trailing points a single newest-point evaluation needs (features + rolling)."""
    return 2 * period + context_window(period) + 128


@np.errstate(divide="ignore", invalid="ignore")
def build_features(timestamps: np.ndarray, values: np.ndarray) -> FeatureFrame:
    """Features of every point of one series, each from strictly earlier points.

    >>> ff = build_features(np.arange(100) * 300, np.random.default_rng(0).normal(size=100))
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    period = infer_period(ts)
    w = context_window(period)
    s = pd.Series(x)
    past = s.shift(1)
    roll = past.rolling(w, min_periods=MIN_HISTORY)
    center = moving_median(past.to_numpy(), w, MIN_HISTORY)
    iqr = (roll.quantile(0.75) - roll.quantile(0.25)).to_numpy() / 1.349
    # Noise level from point-to-point steps: a daily swing must not widen the unit.
    step = moving_median(past.diff().abs().to_numpy(), w, MIN_HISTORY) * 1.048
    floor = 1e-3 * (np.abs(center) + 1e-3)
    scale = np.fmax(np.fmax(np.nan_to_num(step), 0.05 * iqr), floor)

    def norm(v: np.ndarray) -> np.ndarray:
        return np.clip((v - center) / scale, -CLIP, CLIP)

    def lag(k: int) -> np.ndarray:
        out = np.full(n, np.nan)
        if 0 < k < n:
            out[k:] = x[:-k]
        return out

    cols: dict[str, np.ndarray] = {f"lag{k}": norm(lag(k)) for k in (1, 2, 3, 4, 6, 12)}
    if period:
        sl = lag(period)
        cols["season1"] = norm(sl)
        near = np.vstack([lag(period - 1), sl, lag(period + 1)])
        count = np.isfinite(near).sum(0)
        mean = np.where(count > 0, np.nansum(near, 0) / np.maximum(count, 1), np.nan)
        cols["season1_pm1"] = norm(mean)
        cols["season2"] = norm(lag(2 * period))
        cols["season_delta"] = np.clip((lag(1) - lag(period + 1)) / scale, -CLIP, CLIP)
    else:
        for name in ("season1", "season1_pm1", "season2", "season_delta"):
            cols[name] = np.full(n, np.nan)
    for k in (6, 24):
        r = past.rolling(k, min_periods=2)
        cols[f"mean{k}"] = norm(r.mean().to_numpy())
        cols[f"std{k}"] = np.clip(r.std().to_numpy() / scale, 0, CLIP)
    cols["log_cv"] = np.log10(scale / (np.abs(center) + 1e-9) + 1e-9)
    repeat = (s.diff() == 0).astype(float).shift(1)
    cols["repeat_frac"] = repeat.rolling(24, min_periods=2).mean().to_numpy()
    hour = (ts % DAY_S) / DAY_S * 2 * np.pi
    dow = ((ts // DAY_S + 3) % 7) / 7 * 2 * np.pi  # 1970-01-01 was a Thursday
    cols["hour_sin"], cols["hour_cos"] = np.sin(hour), np.cos(hour)
    cols["dow_sin"], cols["dow_cos"] = np.sin(dow), np.cos(dow)
    X = np.column_stack([cols[name] for name in FORECAST_FEATURES]).astype(np.float32)
    z = (x - center) / scale
    valid = np.isfinite(x) & np.isfinite(z) & (np.arange(n) >= MIN_HISTORY)
    return FeatureFrame(X=X, z=z, center=center, scale=scale, valid=valid, raw=x, period=period)

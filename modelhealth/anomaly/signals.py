"""Cheap, causal irregularity signals stacked beside the forecaster's band score.

Each signal is a classic single-method detector reduced to a few numpy/pandas lines: an
EWMA residual (the core of Holt-Winters), a change-point style level-shift statistic, and
"novelty" and "likelihood" transforms that compare a score with its own recent history
(NAB's anomaly-likelihood idea). The classifier learns how to weigh them; no single one has
to be right everywhere, which is why the stack beats each baseline alone.

All are scale-free (units of the series' own noise) and use only the current and earlier
points, so a newest-point evaluation over ``LONG`` trailing points equals the backtest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LONG = 2016
"""Longest trailing window any signal uses (a week of 5-minute points)."""
EWMA_ALPHA = 0.1
CLIP = 50.0

SIGNAL_FEATURES: tuple[str, ...] = (
    "ewma_z",
    "ewma_abs_mean6",
    "shift_6_48",
    "shift_24_96",
    "irr_vs_max288",
    "irr_vs_max_long",
    "ewma_vs_max_long",
    "likelihood",
)


def ewma_residual(x: np.ndarray, alpha: float = EWMA_ALPHA) -> np.ndarray:
    """Signed one-step error of an exponentially smoothed level, in units of its own
    trailing median absolute error (so a noisy series is not always "irregular")."""
    s = pd.Series(x).ffill()
    level = s.ewm(alpha=alpha, adjust=False).mean().shift(1)
    resid = (s - level).to_numpy()
    scale = pd.Series(np.abs(resid)).shift(1).rolling(288, min_periods=12).median().to_numpy()
    floor = 1e-3 * (np.abs(level.to_numpy()) + 1e-3)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = resid / np.fmax(1.4826 * np.nan_to_num(scale), floor)
    return np.clip(np.nan_to_num(z), -CLIP, CLIP)


def level_shift(x: np.ndarray, scale: np.ndarray, short: int, long: int) -> np.ndarray:
    """Mean of the last ``short`` points minus the mean of the ``long`` points before them,
    in noise units: large and lasting after a step, small after a lone spike."""
    s = pd.Series(x)
    recent = s.rolling(short, min_periods=1).mean()
    before = s.shift(short).rolling(long, min_periods=max(long // 4, 2)).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (recent - before).to_numpy() / scale
    return np.clip(np.nan_to_num(d), -CLIP, CLIP)


def vs_trailing_max(score: np.ndarray, window: int) -> np.ndarray:
    """log(1 + score) minus log(1 + the max of the previous ``window`` scores): > 0 only when
    the point is more irregular than anything seen recently."""
    prev = pd.Series(score).shift(1).rolling(window, min_periods=1).max().to_numpy()
    return np.log1p(np.maximum(score, 0)) - np.log1p(np.maximum(np.nan_to_num(prev), 0))


def likelihood(score: np.ndarray, short: int = 6, long: int = LONG) -> np.ndarray:
    """Short-term mean of the score against the mean/std of its own trailing distribution,
    as a z-value: a per-series normaliser, so a chronically noisy series does not dominate."""
    s = pd.Series(score)
    recent = s.rolling(short, min_periods=1).mean()
    hist = s.shift(short).rolling(long, min_periods=48)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (recent - hist.mean()).to_numpy() / (hist.std().to_numpy() + 1e-3)
    return np.clip(np.nan_to_num(z), -CLIP, CLIP)


def signal_columns(raw: np.ndarray, scale: np.ndarray, irr: np.ndarray) -> dict[str, np.ndarray]:
    """Every column of :data:`SIGNAL_FEATURES` for one series."""
    ez = ewma_residual(raw)
    ea = np.abs(ez)
    return {
        "ewma_z": ez,
        "ewma_abs_mean6": pd.Series(ea).rolling(6, min_periods=1).mean().to_numpy(),
        "shift_6_48": level_shift(raw, scale, 6, 48),
        "shift_24_96": level_shift(raw, scale, 24, 96),
        "irr_vs_max288": vs_trailing_max(irr, 288),
        "irr_vs_max_long": vs_trailing_max(irr, LONG),
        "ewma_vs_max_long": vs_trailing_max(ea, LONG),
        "likelihood": likelihood(irr),
    }

"""Irregularity: how far each observation falls outside its predicted band, normalised.

The score is 0 inside the band and grows by one per band-width outside it, so it is
comparable across series and features. The classifier sees the score together with short
trailing summaries of it (a level shift keeps the score up for many points; a spike does
not) and with a few raw-shape signals (flatline, step size) that a band alone misses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelhealth.anomaly.features import CLIP, FeatureFrame
from modelhealth.anomaly.forecaster import Forecast
from modelhealth.anomaly.signals import SIGNAL_FEATURES, signal_columns

MIN_WIDTH = 0.25
"""Smallest band width in scale units, so a perfectly predictable series is not hair-trigger."""

CLASSIFIER_FEATURES: tuple[str, ...] = (
    "irr",
    "signed",
    "resid",
    "abs_z",
    "irr_max3",
    "irr_mean6",
    "irr_mean24",
    "irr_mean96",
    "exceed12",
    "exceed48",
    "signed_mean12",
    "step",
    "log_std12",
    "std_ratio",
    "flat12",
    "width",
    *SIGNAL_FEATURES,
)


def irregularity(z: np.ndarray, fc: Forecast) -> tuple[np.ndarray, np.ndarray]:
    """(score >= 0, signed deviation from the median) in band-widths, per point."""
    width = np.maximum(fc.upper - fc.lower, MIN_WIDTH)
    above = (z - fc.upper) / width
    below = (fc.lower - z) / width
    score = np.clip(np.nan_to_num(np.maximum(np.maximum(above, below), 0.0)), 0, 4 * CLIP)
    signed = np.clip(np.nan_to_num((z - fc.median) / width), -4 * CLIP, 4 * CLIP)
    return score, signed


def classifier_features(ff: FeatureFrame, fc: Forecast) -> np.ndarray:
    """(n, len(CLASSIFIER_FEATURES)) inputs of the second stage, trailing windows only."""
    score, signed = irregularity(ff.z, fc)
    width = np.maximum(fc.upper - fc.lower, MIN_WIDTH)
    s = pd.Series(score)
    exceed = pd.Series((score > 0).astype(float))
    sg = pd.Series(signed)
    raw = pd.Series(ff.raw)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _columns(ff, fc, score, signed, width, s, exceed, sg, raw)


def _columns(
    ff: FeatureFrame,
    fc: Forecast,
    score: np.ndarray,
    signed: np.ndarray,
    width: np.ndarray,
    s: pd.Series,
    exceed: pd.Series,
    sg: pd.Series,
    raw: pd.Series,
) -> np.ndarray:
    cols = {
        "irr": score,
        "signed": signed,
        "resid": np.clip(np.nan_to_num((ff.z - fc.mean) / width), -4 * CLIP, 4 * CLIP),
        "abs_z": np.clip(np.nan_to_num(np.abs(ff.z)), 0, 4 * CLIP),
        "irr_max3": s.rolling(3, min_periods=1).max().to_numpy(),
        "irr_mean6": s.rolling(6, min_periods=1).mean().to_numpy(),
        "irr_mean24": s.rolling(24, min_periods=1).mean().to_numpy(),
        "irr_mean96": s.rolling(96, min_periods=1).mean().to_numpy(),
        "exceed12": exceed.rolling(12, min_periods=1).mean().to_numpy(),
        "exceed48": exceed.rolling(48, min_periods=1).mean().to_numpy(),
        "signed_mean12": sg.rolling(12, min_periods=1).mean().to_numpy(),
        "step": np.clip(np.nan_to_num(raw.diff().to_numpy() / ff.scale), -CLIP, CLIP),
        "log_std12": np.log10(raw.rolling(12, min_periods=2).std().to_numpy() / ff.scale + 1e-4),
        "std_ratio": np.log10(
            (raw.rolling(12, min_periods=2).std() + 1e-12).to_numpy()
            / (raw.rolling(96, min_periods=12).std() + 1e-12).to_numpy()
        ),
        "flat12": (raw.rolling(12, min_periods=12).std() == 0).astype(float).to_numpy(),
        "width": width,
        **signal_columns(ff.raw, ff.scale, score, ff.period),
    }
    return np.column_stack([cols[c] for c in CLASSIFIER_FEATURES]).astype(np.float32)

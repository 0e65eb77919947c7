"""The bottleneck moving median must give pandas' rolling median bit for bit: the detector's
features, scales and thresholds were all tuned on the pandas numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelhealth.anomaly.rolling import moving_median, shifted


def _pandas(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    return pd.Series(x).rolling(window, min_periods=min_periods).median().to_numpy()


@pytest.mark.parametrize("seed", range(6))
def test_moving_median_equals_pandas_on_awkward_series(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(150):
        n = int(rng.integers(0, 300))
        x = rng.normal(size=n) * float(rng.choice([1e-6, 1.0, 1e6]))
        if rng.random() < 0.5:
            x = np.round(x, 1)  # ties, and windows with an even count of one value
        if n and rng.random() < 0.5:
            x[rng.random(n) < rng.random()] = np.nan
        if n and rng.random() < 0.2:
            x[rng.random(n) < 0.1] = rng.choice([np.inf, -np.inf])
        window = int(rng.integers(1, 320))  # often longer than the series
        min_periods = int(rng.integers(0, window + 1))
        got, want = moving_median(x, window, min_periods), _pandas(x, window, min_periods)
        assert np.array_equal(got, want, equal_nan=True), (n, window, min_periods)


def test_moving_median_by_hand() -> None:
    x = np.array([1.0, 5.0, np.nan, 3.0, np.inf, 9.0])
    got = moving_median(x, 3, 2)
    assert np.array_equal(got, [np.nan, 3.0, 3.0, 4.0, np.nan, 6.0], equal_nan=True)


def test_shifted_holds_only_earlier_values() -> None:
    assert np.array_equal(shifted(np.array([1.0, 2.0, 3.0])), [np.nan, 1.0, 2.0], equal_nan=True)
    assert np.array_equal(shifted(np.array([4.0]), 1), [np.nan], equal_nan=True)
    assert len(shifted(np.zeros(0))) == 0

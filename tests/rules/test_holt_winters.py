"""The rules' Holt-Winters detector: heuristic start-up states, and the fallback where two
seasons are too few for them."""

from __future__ import annotations

import numpy as np
import pytest

from modelhealth.rules.detectors.holt_winters import HoltWinters, _fit_forecast, start_up_method
from modelhealth.types import Series

HOUR = 3600


def _daily(n: int, seed: int = 7) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 100 + 20 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, n)


def test_the_heuristic_needs_two_seasons_and_ten_points():
    assert start_up_method(72, 24) == "heuristic"
    assert start_up_method(58, 24) == "heuristic"
    assert start_up_method(57, 24) == "estimated"
    assert start_up_method(48, 24) == "estimated"


@pytest.mark.parametrize("n", [48, 57, 58, 72])
def test_a_spike_fires_right_after_warm_up_and_a_normal_point_does_not(n):
    det = HoltWinters(season="1d", cycles=3, k=4.0)
    values = _daily(n + 1)
    normal = det.evaluate(Series.from_values(values, step_s=HOUR))
    values[-1] += 40.0
    spiked = det.evaluate(Series.from_values(values, step_s=HOUR))
    assert normal.anomalous is False
    assert spiked.anomalous is True and spiked.score > 1.0


def test_the_heuristic_forecast_tracks_the_season():
    history = _daily(24 * 4)
    forecast, resid_std = _fit_forecast(history, 24)
    truth = 100 + 20 * np.sin(2 * np.pi * (24 * 4) / 24)
    assert abs(forecast - truth) < 3 * resid_std
    assert 0.5 < resid_std < 2.0


def test_a_season_counts_the_points_it_really_holds():
    """A model nobody calls from 01:00 to 06:00: its 5-minute series has 228 points a day.
    Counted as 288, each morning is compared with the wrong hour of yesterday."""
    step, day = 300, 86_400
    ts = 1_700_006_400 + step * np.arange(4 * day // step)
    hour = (ts % day) / HOUR
    rng = np.random.default_rng(3)
    values = 100 + 40 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 1, len(ts))
    open_hours = (hour < 1) | (hour >= 6)
    ts, values = ts[open_hours], values[open_hours]
    det = HoltWinters(season="1d", cycles=3, k=4.0)
    mornings = np.flatnonzero(np.isclose(hour[open_hours], 6.0))
    verdicts = [
        det.evaluate(Series(timestamps=ts[: i + 1], values=values[: i + 1])) for i in mornings
    ]
    judged = [v for v in verdicts if not v.detail.startswith("warming up")]
    assert len(judged) >= 1
    assert not any(v.anomalous for v in judged)
    assert all(abs(v.value - v.expected) < 5 for v in judged)

"""Series shaped like NAB's kept-back files: irregular sampling, missing values, very short.

The harness must accept any NAB-layout folder, and a rule must survive whatever a metric
store returns, so each shape gets a scan with finite scores and the obvious spike caught.
"""

from __future__ import annotations

import numpy as np

from modelhealth.anomaly.model import LearnedModel
from modelhealth.anomaly.postprocess import PostProcess

SPIKE = 40.0


def _model(tiny: LearnedModel) -> LearnedModel:
    """The fixture's model with the NAB-tuned rules: Holt-Winters and discord at 8, day-long
    novelty, burstiness scaling."""
    post = PostProcess(
        threshold=0.9,
        min_magnitude=2.0,
        novelty=360,
        hw_threshold=8.0,
        burst_ref=1.2,
        discord_threshold=8.0,
    )
    return LearnedModel(tiny.forecaster, tiny.classifier, post)


def _seasonal(n: int, seed: int) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 100 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1.0, n)


def test_irregular_sampling(tiny_model: LearnedModel) -> None:
    rng = np.random.default_rng(1)
    steps = rng.choice([300, 300, 300, 300, 600, 3600], size=1500)
    ts = 1_700_000_000 + np.cumsum(steps)
    values = _seasonal(len(ts), 2)
    values[1400] += SPIKE
    scan = _model(tiny_model).scan(ts, values)
    assert len(scan.alerts) == len(ts) and np.isfinite(scan.score).all()
    assert scan.alerts[1400]
    assert scan.alerts[:1400].sum() <= 2


def test_missing_values(tiny_model: LearnedModel) -> None:
    n = 1500
    ts = 1_700_000_000 + 300 * np.arange(n)
    values = _seasonal(n, 3)
    values[np.random.default_rng(4).choice(n - 10, 120, replace=False)] = np.nan
    values[1450] = 100 + SPIKE
    scan = _model(tiny_model).scan(ts, values)
    assert np.isfinite(scan.score).all() and np.isfinite(scan.prob).all()
    assert scan.alerts[1450]
    assert not scan.alerts[np.isnan(values)].any()


def test_very_short_series(tiny_model: LearnedModel) -> None:
    ts = 1_700_000_000 + 300 * np.arange(60)
    scan = _model(tiny_model).scan(ts, _seasonal(60, 5))
    assert len(scan.alerts) == 60 and np.isfinite(scan.score).all()
    assert not scan.alerts.any()

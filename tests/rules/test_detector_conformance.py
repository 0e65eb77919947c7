"""Every registered detector passes one shared suite; a detector without a fixture fails it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from modelhealth.errors import EmptyWindow
from modelhealth.rules.config import load_rules_text
from modelhealth.rules.detectors import DETECTORS, lookback_of
from modelhealth.types import DetectorResult, Series

HOUR = 3600


def _noisy(n: int, seed: int = 3, level: float = 100.0, step_s: int = HOUR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level + rng.normal(0, 2.0, n)


def _seasonal(n: int, period: int = 24, seed: int = 5) -> np.ndarray:
    t = np.arange(n)
    return 100 + 20 * np.sin(2 * np.pi * t / period) + np.random.default_rng(seed).normal(0, 1, n)


def _with_last(values: np.ndarray, last: float) -> Series:
    v = values.copy()
    v[-1] = last
    return Series.from_values(v, step_s=HOUR)


@dataclass(frozen=True)
class Fixture:
    params: dict[str, Any]
    normal: Series
    shifted: Series
    baseline: Series | None = None


def _learned_fixture() -> Fixture:
    from tests.rules.learned_model import trained_model_path

    values = _seasonal(24 * 10)
    return Fixture(
        {"model": str(trained_model_path())},
        _with_last(values, values[-1]),
        _with_last(values, values[-1] + 400.0),
    )


FIXTURES: dict[str, Any] = {
    "threshold": lambda: Fixture(
        {"above": 250, "below": 10},
        Series.from_values([100, 120]),
        Series.from_values([100, 400]),
    ),
    "change": lambda: Fixture(
        {"pct": 20},
        Series.from_values([104.0]),
        Series.from_values([150.0]),
        baseline=Series.from_values([100.0]),
    ),
    "zscore": lambda: Fixture(
        {"z": 4, "lookback": "2d"},
        _with_last(_noisy(48), 101.0),
        _with_last(_noisy(48), 140.0),
    ),
    "seasonal": lambda: Fixture(
        {"season": "1d", "periods": 3},
        Series.from_values(_seasonal(24 * 3 + 1), step_s=HOUR),
        _with_last(_seasonal(24 * 3 + 1), 200.0),
    ),
    "holt_winters": lambda: Fixture(
        {"season": "1d", "cycles": 3},
        Series.from_values(_seasonal(24 * 4 + 1), step_s=HOUR),
        _with_last(_seasonal(24 * 4 + 1), 200.0),
    ),
    "learned": _learned_fixture,
}


def test_every_detector_has_a_fixture():
    assert sorted(DETECTORS) == sorted(FIXTURES), "add a conformance fixture for each detector"


@pytest.fixture(params=sorted(DETECTORS))
def case(request):
    fx = FIXTURES[request.param]()
    return request.param, DETECTORS[request.param](**fx.params), fx


def test_normal_window_does_not_fire(case):
    _, det, fx = case
    assert det.evaluate(fx.normal, fx.baseline).anomalous is False


def test_shifted_window_fires_with_positive_score(case):
    _, det, fx = case
    res = det.evaluate(fx.shifted, fx.baseline)
    assert res.anomalous is True and res.score > 0
    assert res.value == pytest.approx(float(fx.shifted.values[-1]))


def test_results_are_deterministic(case):
    _, det, fx = case
    assert det.evaluate(fx.shifted, fx.baseline) == det.evaluate(fx.shifted, fx.baseline)


def test_empty_window_raises_typed_error(case):
    _, det, fx = case
    empty = Series.from_values([np.nan, np.nan])
    with pytest.raises(EmptyWindow):
        det.evaluate(empty, fx.baseline)


def test_result_round_trips_through_json(case):
    _, det, fx = case
    res = det.evaluate(fx.shifted, fx.baseline)
    back = DetectorResult(**json.loads(res.to_json()))
    assert back == res


def test_name_matches_registry_and_lookback_is_a_duration(case):
    name, det, _ = case
    assert det.name == name
    assert isinstance(lookback_of(det), timedelta)


def test_config_hash_is_stable(case):
    name, _, fx = case
    params = json.dumps(fx.params)
    text = (
        "model: m\nrules:\n  - name: r\n    metric: latency.p99\n    window: 1h\n"
        f"    detector: {{type: {name}, {params[1:-1]}}}\n"
        + ("    baseline: {shift: 7d}\n" if name == "change" else "")
    )
    a, b = load_rules_text(text, "a.yaml"), load_rules_text(text, "b.yaml")
    assert a.ok, a.issues
    assert a.rules[0].rule_id == b.rules[0].rule_id
